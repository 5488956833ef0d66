"""Small immutable values passed between the pipeline's stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class AudioChunk:
    """Mono 16-bit little-endian PCM."""

    pcm: bytes  # int16 LE samples, mono
    sample_rate: int  # Hz

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate

    def to_int16(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    def to_float32(self) -> np.ndarray:
        return self.to_int16().astype(np.float32) / 32768.0

    @classmethod
    def from_float32(cls, samples: np.ndarray, sample_rate: int) -> AudioChunk:
        clipped = np.clip(samples, -1.0, 1.0)
        return cls((clipped * 32767.0).astype("<i2").tobytes(), sample_rate)


@dataclass(frozen=True)
class Segment:
    """One timed piece of a transcription."""

    start: float  # seconds
    end: float  # seconds
    text: str


@dataclass(frozen=True)
class Transcription:
    """What speech-to-text heard, shaped like OpenAI's verbose_json."""

    text: str
    language: str | None
    duration: float  # seconds of input audio
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class Voice:
    """A voice a text-to-speech provider can speak with."""

    id: str  # what `voice=` takes, e.g. "en_US-joe-medium" or "en_US-libritts-high:p225"
    language: str  # the voice's own language, e.g. "en_US"
    sample_rate: int  # Hz
    speakers: tuple[str, ...] = field(default=())
    languages: tuple[str, ...] = field(default=())  # ISO 639-1 codes it speaks well, e.g. en, zh
    description: str = ""  # one line with its character: "Joe: steady and plain-spoken"

    def speaks(self, language: str) -> bool:
        """True when the voice speaks `language` (an ISO 639-1 code such as "zh")."""
        code = language.lower().replace("-", "_").split("_")[0]
        own = self.language.lower().replace("-", "_").split("_")[0]
        return code in self.languages or code == own
