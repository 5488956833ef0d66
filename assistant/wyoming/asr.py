"""Speech to text: `transcribe`, then `audio-start` / `audio-chunk`s / `audio-stop`, answered
with `transcript-start` / `transcript-chunk`s / `transcript-stop` (for clients that stream
transcripts) and then the whole `transcript`, with the language heard."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.event import Event

from ..audio.codec import StreamResampler
from ..config import language_code
from ..conversation.reply import Workers
from ..providers import SpeechToText, turn_transcriber
from ..types import AudioChunk
from .protocol import ProtocolError
from .protocol import field as checked

STT_RATE = 16000  # Hz: Whisper's rate; audio is resampled to it as it arrives
RATES = range(8000, 192001)  # Hz accepted in audio-start
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM, what Home Assistant and its satellites send
CHANNELS = (1, 2)  # stereo is mixed down to mono
MAX_AUDIO_SECONDS = 120  # one utterance; Home Assistant stops a command at 15-30 s


@dataclass(frozen=True)
class AudioFormat:
    rate: int  # Hz
    width: int  # bytes per sample
    channels: int

    @classmethod
    def of(cls, event: Event) -> AudioFormat:
        data = event.data
        rate, width, channels = (
            checked(data, n, int, event.type) for n in ("rate", "width", "channels")
        )
        if rate not in RATES:
            raise ProtocolError(f"{event.type}: rate {rate} Hz is not between 8000 and 192000")
        if width != SAMPLE_WIDTH:
            raise ProtocolError(f"{event.type}: width must be 2 (16-bit samples), not {width}")
        if channels not in CHANNELS:
            raise ProtocolError(f"{event.type}: channels must be 1 or 2, not {channels}")
        return cls(rate, width, channels)


@dataclass
class _Utterance:
    format: AudioFormat
    resampler: StreamResampler
    parts: list[bytes] = field(default_factory=list)  # mono PCM at STT_RATE
    seconds: float = 0.0


class Transcriber:
    """One client's transcription: the language asked for and the audio of the utterance."""

    def __init__(
        self,
        stt: SpeechToText | None,
        workers: Workers,
        language: str | None,
        languages: frozenset[str] = frozenset(),
    ) -> None:
        self._stt, self._workers = stt, workers
        self._languages = languages  # what the model speaks; empty: not known (remote)
        self._default_language = language  # None: the model's own setting (detect, or English)
        self._language = language
        self._utterance: _Utterance | None = None

    def transcribe(self, event: Event) -> None:
        """`transcribe`: the language (and model name) of the audio that follows."""
        language = checked(event.data, "language", str, "transcribe", required=False)
        if language and self._languages and language_code(language) not in self._languages:
            known = sorted(self._languages)
            listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            raise ProtocolError(
                f"this server's speech-to-text does not know '{language}' (it knows {listed}); "
                "start it with --language auto for a multilingual model",
                code="unsupported-language",
            )
        self._language = language_code(language) if language else self._default_language

    def start(self, event: Event) -> None:
        if self._stt is None:
            raise ProtocolError("this server has no speech-to-text model", code="no-asr")
        audio = AudioFormat.of(event)
        self._utterance = _Utterance(audio, StreamResampler(audio.rate, STT_RATE))

    def chunk(self, event: Event) -> None:
        utterance = self._utterance
        if utterance is None:
            raise ProtocolError("audio-chunk before audio-start", code="audio-not-started")
        if AudioFormat.of(event) != utterance.format:
            raise ProtocolError("audio-chunk's rate, width or channels differ from audio-start's")
        audio = mono(event.payload or b"", utterance.format)
        utterance.seconds += audio.seconds
        if utterance.seconds > MAX_AUDIO_SECONDS:
            self._utterance = None
            raise ProtocolError(
                f"the utterance is over {MAX_AUDIO_SECONDS} s; it was dropped", code="too-long"
            )
        utterance.parts.append(utterance.resampler.push(audio.pcm))

    async def stop(self) -> list[Event]:
        """`audio-stop`: the transcript of the utterance, as events to send."""
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            raise ProtocolError("audio-stop before audio-start", code="audio-not-started")
        assert self._stt is not None
        pcm = b"".join([*utterance.parts, utterance.resampler.flush()])
        audio = AudioChunk(pcm, STT_RATE)
        heard = await self._workers.run(  # a satellite's turn: heard as a live one
            "stt", partial(turn_transcriber(self._stt, self._language), audio)
        )
        self._language = self._default_language
        parts = [s.text for s in heard.segments] or ([heard.text] if heard.text else [])
        chunks = [TranscriptChunk(f"{' ' if i else ''}{part}").event()
                  for i, part in enumerate(parts)]  # fmt: skip
        return [
            TranscriptStart(language=heard.language).event(),
            *chunks,
            TranscriptStop().event(),
            Transcript(heard.text, language=heard.language).event(),
        ]


def mono(payload: bytes, audio: AudioFormat) -> AudioChunk:
    """An audio-chunk's payload as mono 16-bit PCM at its own rate."""
    frame = audio.width * audio.channels
    if len(payload) % frame:
        raise ProtocolError(f"audio-chunk's payload is not a whole number of {frame}-byte frames")
    if audio.channels == 1:
        return AudioChunk(payload, audio.rate)
    samples = np.frombuffer(payload, dtype="<i2").reshape(-1, audio.channels)
    return AudioChunk(samples.mean(axis=1).astype("<i2").tobytes(), audio.rate)
