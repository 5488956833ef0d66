"""What a reply handed its sink, and what the user heard of it: the record keeps the words heard
before an interruption, not all that was written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..text import join_units, speech_units
from ..types import AudioChunk


@dataclass
class Played:
    """What the sink was given: chunks with their place in the reply's audio, in seconds."""

    chunks: list[tuple[str, float, float]] = field(default_factory=list)  # text, start, end
    queued: float = 0.0  # seconds handed to the sink
    audio: list[AudioChunk] = field(default_factory=list)
    heard_at_stop: float | None = None  # seconds played when playback was stopped


def heard_words(chunks: Sequence[tuple[str, float, float]], heard: float) -> str:
    """The words of `chunks` (text, start s, end s) heard in the first `heard` seconds; a chunk
    cut off keeps its words in proportion to the time it played."""
    words: list[str] = []  # each CJK character counts as a word
    for text, start, end in chunks:
        if heard >= end - 1e-6:
            words.extend(speech_units(text))
        elif heard > start:
            chunk_words = speech_units(text)
            words.extend(chunk_words[: int(len(chunk_words) * (heard - start) / (end - start))])
    return join_units(words)
