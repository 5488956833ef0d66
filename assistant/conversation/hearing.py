"""Hearing: microphone audio at any rate -> 16 kHz frames -> speech probability (VAD) -> the
endpointer's speech events, with stream time mapped onto the monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..audio.codec import StreamResampler
from ..types import AudioChunk
from .endpointing import Endpointer, EndpointSettings, SpeechEvent, TurnCheck
from .turn_text import HeardWords


class VoiceActivity(Protocol):
    frame_samples: int
    sample_rate: int  # Hz

    def __call__(self, frame: np.ndarray) -> float:
        """Speech probability of one frame of float32 samples."""
        ...

    def reset(self) -> None: ...


@dataclass(frozen=True)
class Frame:
    """One VAD frame heard: its speech probability and the speech events it caused."""

    probability: float
    events: tuple[SpeechEvent, ...]
    seconds: float  # the frame's length
    start: float  # monotonic time its first sample arrived
    over_echo: bool = False  # the echo canceller heard the user over the speaker's echo in it


class Hearing:
    """Frames the microphone stream for the VAD and the endpointer."""

    def __init__(self, vad: VoiceActivity, settings: EndpointSettings) -> None:
        self._vad = vad
        self._endpointer = Endpointer(settings)
        self._resampler: StreamResampler | None = None
        self._pending = b""
        self._over_echo = False  # said of audio not yet in a whole frame
        self._clock_offset = time.monotonic()  # monotonic time minus stream time

    def feed(self, audio: AudioChunk, over_echo: bool = False) -> Iterator[Frame]:
        """The frames completed by `audio`, in order; `over_echo`: the echo canceller heard the
        user over the speaker's echo in it (said of every frame it completes)."""
        rate = self._vad.sample_rate
        if self._resampler is None or self._resampler.in_rate != audio.sample_rate:
            self._resampler = StreamResampler(audio.sample_rate, rate)
        self._pending += self._resampler.push(audio.pcm)
        frame_bytes = 2 * self._vad.frame_samples
        frame_seconds = self._vad.frame_samples / rate
        frames = len(self._pending) // frame_bytes
        # the newest sample arrived now: map the stream clock onto the monotonic clock
        self._clock_offset = time.monotonic() - (self._endpointer.now + frames * frame_seconds)
        pending, self._pending = self._pending, self._pending[frames * frame_bytes :]
        over_echo, self._over_echo = self._over_echo or over_echo, False
        if not frames:
            self._over_echo = over_echo
        for index in range(frames):
            frame = pending[index * frame_bytes : (index + 1) * frame_bytes]
            samples = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0
            probability = self._vad(samples)
            start = self.monotonic(self._endpointer.now)
            events = tuple(self._endpointer.push(frame, probability))
            yield Frame(probability, events, frame_seconds, start, over_echo)

    @property
    def in_speech(self) -> bool:
        """The user is speaking (a turn under way, not yet ended)."""
        return self._endpointer.in_speech

    def monotonic(self, stream_seconds: float) -> float:
        """A moment of stream time on the monotonic clock."""
        return stream_seconds + self._clock_offset

    def decide(
        self, check: TurnCheck, complete: bool, words: HeardWords | None = None
    ) -> tuple[SpeechEvent, ...]:
        """The end-of-turn model's answer to `check`, arriving now, with the speculative
        transcript's words as they stand now (None: none yet)."""
        now = time.monotonic() - self._clock_offset  # stream time
        text, end = (words.text, words.end_probability) if words else (None, None)
        return tuple(self._endpointer.verdict(check.number, complete, now, text, end))

    def reset(self) -> None:
        """Forget the speech under way (paused, muted, or heard over our own voice)."""
        self._endpointer.reset()
