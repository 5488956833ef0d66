"""Wake-word detection: `detect` (the wake words wanted, by name), then `audio-start` /
`audio-chunk`s / `audio-stop`. Each detection is answered at once with `detection` (its name
and the time, in ms, where it ended: on the client's clock when its chunks carry timestamps, as
Home Assistant's do, else from the start of the audio) and listening goes on; an `audio-stop` with
no detection is answered with `not-detected`, as wyoming-microwakeword does. A satellite that
streams its microphone (wyoming-satellite) sends `detect` and then only `audio-chunk`s: the
first chunk starts the stream then."""

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
        self._listening = None  # the audio that follows is a new stream

    def start(self, event: Event) -> None:
        """`audio-start` (or a first chunk): a fresh stream, each wanted detector listening."""
        assert self._wake is not None  # detect came first
        audio = AudioFormat.of(event)
        for name in self._wanted:
            if name not in self._detectors:
                self._detectors[name] = self._wake.load(name)
            self._detectors[name].reset()
        self._listening = _Listening(audio, StreamResampler(audio.rate, WAKE_RATE))

    def chunk(self, event: Event) -> list[Event]:
        """`audio-chunk`: a `detection` for each wake word that ended in it."""
        if self._listening is None:
            self.start(event)
        listening = self._listening
        assert listening is not None
        if AudioFormat.of(event) != listening.format:
            raise ProtocolError("audio-chunk's rate, width or channels differ from audio-start's")
        pcm = listening.resampler.push(mono(event.payload or b"", listening.format).pcm)
        clock = checked(event.data, "timestamp", int, "audio-chunk", required=False)
        chunk_ms = _ms(listening.heard_bytes) if clock is None else clock  # where it starts
        detections = []
        for name in self._wanted:
            ended = self._heard(name, pcm, listening)
            if ended is not None:
                at = chunk_ms + _ms(ended - listening.heard_bytes)
                detections.append(Detection(name, timestamp=at).event())
        listening.heard_bytes += len(pcm)
        return detections

    def stop(self) -> list[Event]:
        """`audio-stop`: `not-detected` when the stream held no wake word."""
        listening, self._listening = self._listening, None
        if listening is None:
            raise ProtocolError("audio-stop before audio-start", code="audio-not-started")
        return [] if listening.detected else [NotDetected().event()]

    def _heard(self, name: str, pcm: bytes, listening: _Listening) -> int | None:
        """Where (in bytes of the stream) wake word `name` ended in `pcm`, if it did."""
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
        return ended


def _bytes_of(seconds: float) -> int:
    return int(seconds * WAKE_RATE) * SAMPLE_WIDTH


def _ms(length: int) -> int:
    """Milliseconds of `length` bytes of 16 kHz 16-bit mono audio."""
    return length * 1000 // (WAKE_RATE * SAMPLE_WIDTH)
