"""The raw-engine floor: faster-whisper, llama.cpp and Piper called directly, no project code.

The same loaded engine objects as the project's providers (so the same weights, threads and
caches), with the same options, timed the same way; only the project's code in between is gone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..text import SpeakableStream


@dataclass(frozen=True)
class LlmRun:
    first_token: float  # seconds from the call to the first text
    first_sentence: float | None  # seconds to the first chunk ready for TTS
    tokens: int
    total: float  # seconds
    text: str

    @property
    def tokens_per_s(self) -> float | None:
        decoding = self.total - self.first_token
        return (self.tokens - 1) / decoding if self.tokens > 1 and decoding > 0 else None


def time_stream(start: float, deltas: Iterator[str]) -> LlmRun:
    """Time a stream of text deltas (one per token); `start` is when the call was made."""
    splitter = SpeakableStream()
    first = sentence = None
    parts: list[str] = []
    for delta in deltas:
        now = time.perf_counter() - start
        if first is None:
            first = now
        parts.append(delta)
        if sentence is None and splitter.feed(delta):
            sentence = now
    total = time.perf_counter() - start
    if first is None:
        first = total
    if sentence is None and splitter.flush():
        sentence = total
    return LlmRun(first, sentence, len(parts), total, "".join(parts))


def transcribe(model: Any, samples: np.ndarray, options: dict) -> tuple[float, str]:
    """faster-whisper alone: seconds to a finished transcript of float32 16 kHz samples."""
    start = time.perf_counter()
    segments, _ = model.transcribe(samples, **options)
    text = " ".join(s.text.strip() for s in segments)  # decoding happens while iterating
    return time.perf_counter() - start, text.strip()


def generate(llm: Any, tokens: list[int], max_tokens: int, temperature: float) -> LlmRun:
    """llama.cpp alone: the completion of prompt `tokens`, streamed."""
    start = time.perf_counter()
    stream = llm.create_completion(
        tokens, max_tokens=max_tokens, temperature=temperature, stream=True
    )
    deltas = (text for part in stream if (text := part["choices"][0]["text"]))
    return time_stream(start, deltas)


def prime(llm: Any, tokens: list[int]) -> None:
    """Leave `tokens` in llama.cpp's KV cache, as a previous turn would, before a measurement."""
    for _ in llm.create_completion(tokens, max_tokens=1, temperature=0.0, stream=True):
        pass


def synthesize(voice: Any, text: str, config: Any) -> tuple[float, float, float]:
    """Piper alone: seconds to the first audio, seconds in all, and seconds of audio made."""
    start = time.perf_counter()
    first = None
    audio_seconds = 0.0
    for chunk in voice.synthesize(text, config):
        if first is None:
            first = time.perf_counter() - start
        audio_seconds += len(chunk.audio_int16_bytes) / 2 / chunk.sample_rate
    total = time.perf_counter() - start
    return first if first is not None else total, total, audio_seconds
