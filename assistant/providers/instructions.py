"""OpenAI's speech `instructions` ("speak slowly and calmly") read for local engines, which have
no style prompt: each request maps to what they can change, and the rest is reported, never
silently dropped.

| asked for (any of these words)                        | what changes                        |
|-------------------------------------------------------|-------------------------------------|
| slow, slowly, calm, calmly, relaxed, gentle, soothing | speed x0.85, 0.3 s pause after each |
| fast, quickly, quick, brisk, hurried, urgent          | speed x1.2                          |
| cheerful, happy, upbeat, lively, excited, energetic,  | speed x1.08, more variation (Piper  |
| enthusiastic, expressive, friendly, warm              | noise scales 0.8 / 1.0)             |
| flat, monotone, neutral, serious, steady, robotic     | less variation (Piper noise 0.3)    |
| whisper, whispering, quiet, quietly, soft, softly     | volume x0.35 (quiet, not breathy)   |
| pause, pauses, pausing                                | 0.5 s pause after each sentence     |

Instructions are cut into phrases at punctuation, "and" and "but"; a phrase with none of these
words (an accent, sadness, a character to play, pitch) is accepted and listed in `ignored`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..types import AudioChunk

CALM_PAUSE_S = 0.3
PAUSE_S = 0.5


@dataclass(frozen=True)
class SpeechStyle:
    """What the engines change for a set of instructions."""

    speed: float = 1.0  # multiplies the requested speed
    pause_s: float = 0.0  # silence after each spoken chunk
    noise_scale: float | None = None  # Piper's variation; None: the voice's own
    noise_w: float | None = None  # Piper's phoneme-length variation; None: the voice's own
    volume: float = 1.0
    applied: tuple[str, ...] = ()  # the phrases acted on
    ignored: tuple[str, ...] = ()  # the phrases no engine here can follow


def _slow(style: SpeechStyle) -> SpeechStyle:
    return replace(style, speed=style.speed * 0.85, pause_s=max(style.pause_s, CALM_PAUSE_S))


def _fast(style: SpeechStyle) -> SpeechStyle:
    return replace(style, speed=style.speed * 1.2)


def _lively(style: SpeechStyle) -> SpeechStyle:
    return replace(style, speed=style.speed * 1.08, noise_scale=0.8, noise_w=1.0)


def _flat(style: SpeechStyle) -> SpeechStyle:
    return replace(style, noise_scale=0.3, noise_w=0.3)


def _quiet(style: SpeechStyle) -> SpeechStyle:
    return replace(style, volume=0.35)


def _pauses(style: SpeechStyle) -> SpeechStyle:
    return replace(style, pause_s=max(style.pause_s, PAUSE_S))


_RULES = (
    ("slow slowly calm calmly relaxed gentle gently soothing", _slow),
    ("fast quickly quick brisk briskly hurried urgent", _fast),
    (
        "cheerful cheerfully happy happily upbeat lively excited energetic enthusiastic "
        "expressive friendly warm warmly",
        _lively,
    ),
    ("flat monotone neutral serious steady robotic", _flat),
    ("whisper whispering whispered quiet quietly soft softly", _quiet),
    ("pause pauses pausing", _pauses),
)
_WORDS = [(frozenset(words.split()), change) for words, change in _RULES]
_PHRASES = re.compile(r"[,.;:!?\n]+|\s+(?:and|but|then)\s+", re.IGNORECASE)


def read_instructions(instructions: str | None) -> SpeechStyle:
    """The style for `instructions` (see the table in this module's docstring)."""
    style = SpeechStyle()
    applied: list[str] = []
    ignored: list[str] = []
    for phrase in (p.strip() for p in _PHRASES.split(instructions or "")):
        if not phrase:
            continue
        words = set(re.findall(r"[a-z]+", phrase.lower()))
        changes = [change for keys, change in _WORDS if keys & words]
        for change in changes:
            style = change(style)
        (applied if changes else ignored).append(phrase)
    return replace(style, applied=tuple(applied), ignored=tuple(ignored))


def styled(chunks: Iterator[AudioChunk], style: SpeechStyle) -> Iterator[AudioChunk]:
    """`chunks` at the style's volume, with its pause after the last one."""
    rate = 0
    for chunk in chunks:
        rate = chunk.sample_rate
        if style.volume != 1.0:
            chunk = AudioChunk.from_float32(chunk.to_float32() * style.volume, rate)
        yield chunk
    if style.pause_s > 0 and rate:
        yield AudioChunk(np.zeros(int(rate * style.pause_s), "<i2").tobytes(), rate)
