"""Wake-word detection: `detect` (the wake words wanted, by name), then `audio-start` /
`audio-chunk`s / `audio-stop`. Each detection is answered at once with `detection` (its name
and the time in the audio, in ms, where it ended) and listening goes on; an `audio-stop` with
no detection is answered with `not-detected`, as wyoming-microwakeword does."""

from __future__ import annotations

from dataclasses import dataclass, field

from wyoming.event import Event
from wyoming.wake import Detection, NotDetected

from ..audio.codec import StreamResampler
from ..audio.wake_word import WAKE_RATE, MicroWakeWordDetector
from ..providers.store import ModelStore
from ..providers.wake_words import WakeWord, load_wake_word, wake_word_name
from .asr import SAMPLE_WIDTH, AudioFormat, mono
from .protocol import ProtocolError
from .protocol import field as checked

REFRACTORY_S = 2.0  # audio after a detection in which the same wake word is not heard again
MAX_NAMES = 16  # wake words in one detect


@dataclass(frozen=True)
class WakeWords:
    """The downloaded wake words this server listens for, and where their models are."""

    store: ModelStore
    words: tuple[WakeWord, ...]

    def load(self, name: str) -> MicroWakeWordDetector:
        return load_wake_word(self.store, name)


@dataclass
class _Listening:
    format: AudioFormat
    resampler: StreamResampler
    heard_bytes: int = 0  # of 16 kHz mono audio, before this chunk
    deaf_until: dict[str, int] = field(default_factory=dict)  # refractory ends, in bytes
    detected: bool = False


class WakeListener:
    """One client's wake-word detection: the words asked for, a detector each (loaded when
    first wanted, kept for the connection) and the audio stream being listened to."""

    def __init__(self, wake: WakeWords | None) -> None:
        self._wake = wake
        self._wanted: tuple[str, ...] = ()
        self._detectors: dict[str, MicroWakeWordDetector] = {}
        self._listening: _Listening | None = None

    def detect(self, event: Event) -> None:
        """`detect`: the wake words to listen for (all of them when no names are given)."""
        if self._wake is None or not self._wake.words:
            raise ProtocolError("this server has no wake words", code="no-wake")
        known = [word.name for word in self._wake.words]
        names = checked(event.data, "names", list, "detect", required=False) or known
        if len(names) > MAX_NAMES or not all(isinstance(name, str) for name in names):
            raise ProtocolError(f'detect needs "names" as a list of up to {MAX_NAMES} strings')
        unknown = [name for name in names if wake_word_name(name) not in known]
        if unknown:
            raise ProtocolError(f"unknown wake word {unknown[0]!r}. Wake words: "
                                f"{', '.join(known)}", code="unknown-wake-word")  # fmt: skip
        self._wanted = tuple(dict.fromkeys(wake_word_name(name) for name in names))

    def start(self, event: Event) -> None:
        """`audio-start`: a fresh stream, every wanted detector ready to listen."""
        assert self._wake is not None  # detect came first
        audio = AudioFormat.of(event)
        for name in self._wanted:
            if name not in self._detectors:
                self._detectors[name] = self._wake.load(name)
            self._detectors[name].reset()
        self._listening = _Listening(audio, StreamResampler(audio.rate, WAKE_RATE))

    def chunk(self, event: Event) -> list[Event]:
        """`audio-chunk`: a `detection` for each wake word that ended in it."""
        listening = self._listening
        if listening is None:
            raise ProtocolError("audio-chunk before audio-start", code="audio-not-started")
        if AudioFormat.of(event) != listening.format:
            raise ProtocolError("audio-chunk's rate, width or channels differ from audio-start's")
        pcm = listening.resampler.push(mono(event.payload or b"", listening.format).pcm)
        detections = [self._heard(name, pcm, listening) for name in self._wanted]
        listening.heard_bytes += len(pcm)
        return [detection for detection in detections if detection is not None]

    def stop(self) -> list[Event]:
        """`audio-stop`: `not-detected` when the stream held no wake word."""
        listening, self._listening = self._listening, None
        if listening is None:
            raise ProtocolError("audio-stop before audio-start", code="audio-not-started")
        return [] if listening.detected else [NotDetected().event()]

    def _heard(self, name: str, pcm: bytes, listening: _Listening) -> Event | None:
        detector, start = self._detectors[name], listening.heard_bytes
        deaf_until = listening.deaf_until.get(name, 0)
        if start + len(pcm) <= deaf_until:
            return None
        skipped = max(0, deaf_until - start)  # the refractory period's end in this chunk
        offset = detector.detect(pcm[skipped:])
        if offset is None:
            return None
        ended = start + skipped + offset
        detector.reset()
        listening.deaf_until[name] = ended + _bytes_of(REFRACTORY_S)
        listening.detected = True
        return Detection(name=name, timestamp=ended * 1000 // _bytes_of(1.0)).event()


def _bytes_of(seconds: float) -> int:
    return int(seconds * WAKE_RATE) * SAMPLE_WIDTH
