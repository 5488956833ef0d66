"""Spoken turns for measuring the end of turn: complete questions, and turns with a thinking pause
in the middle ("I'd like to ... book a table for two", 600-900 ms), from several voices: espeak-ng
(English, and Mandarin through its 1.52 library) and the project's own voices (Piper, Kokoro).

Each turn is 16 kHz audio with silence before it and a long silence after it, and knows where
its speech really ends (and, for a paused turn, where the pause is)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.codec import concat, resample, silence
from ..types import AudioChunk
from .corpus import MANDARIN_VOICE, RATE, VOICE, make_corpus, speech_bounds

LEAD_S, TAIL_S = 0.4, 2.0  # silence before and after each turn

COMPLETE_EN = (
    "What time is it in Tokyo?",
    "Turn off the kitchen lights.",
    "How far away is the moon?",
    "Set a timer for ten minutes.",
    "Who painted the Mona Lisa?",
    "What's the weather like tomorrow?",
    "Play some quiet music, please.",
    "How do I make a cup of green tea?",
)
COMPLETE_ZH = ("今天天气怎么样？", "现在几点了？", "请把客厅的灯关掉。")
PAUSED_EN = (  # (before the pause, after it)
    ("I'd like to", "book a table for two."),
    ("Can you remind me to", "call my sister tonight?"),
    ("What is the", "tallest mountain in Europe?"),
    ("Please set an alarm for", "seven in the morning."),
    ("I was wondering if", "you could tell me a joke."),
    ("How many", "days are there in a leap year?"),
    ("Tell me about", "the history of Rome."),
    ("Could you", "turn the music down a little?"),
    ("My favourite colour is", "green, what is yours?"),
    ("I need to know", "how to boil an egg."),
)
PAUSES_S = (0.6, 0.7, 0.8, 0.9)

Speaker = Callable[[str], AudioChunk]  # text -> speech (any rate)


@dataclass(frozen=True)
class SpokenTurn:
    id: str
    voice: str
    text: str
    audio: AudioChunk  # 16 kHz: LEAD_S of silence, the turn, TAIL_S of silence
    speech_end: float  # seconds into `audio`: just after the last speech sample
    pause: tuple[float, float] | None = None  # seconds into `audio`: the pause in the middle


def espeak_speaker(cache: Path, voice: str = VOICE) -> Speaker:
    """espeak-ng's `voice` ("en-us", or "cmn": Mandarin through the 1.52 library)."""
    return lambda text: make_corpus(cache, (text,), voice=voice)[0].audio


def tts_speaker(tts, voice: str) -> Speaker:
    """One of the project's own voices (a TextToSpeech and its voice name)."""
    return lambda text: concat(tts.synthesize(text, voice=voice))


def _trimmed(audio: AudioChunk) -> AudioChunk:
    """The speech alone, at 16 kHz."""
    audio = resample(audio, RATE)
    start, end = speech_bounds(audio)
    return AudioChunk(audio.pcm[2 * round(start * RATE) : 2 * round(end * RATE)], RATE)


def complete_turns(voice: str, speak: Speaker, texts: Iterable[str]) -> list[SpokenTurn]:
    turns = []
    for index, text in enumerate(texts):
        speech = _trimmed(speak(text))
        audio = concat([silence(LEAD_S, RATE), speech, silence(TAIL_S, RATE)])
        end = LEAD_S + speech.seconds
        turns.append(SpokenTurn(f"{voice}-c{index + 1}", voice, text, audio, end))
    return turns


def paused_turns(
    voice: str, speak: Speaker, pairs: Iterable[tuple[str, str]] = PAUSED_EN
) -> list[SpokenTurn]:
    """Each pair said as one sentence (so the words before the pause keep the voice's
    going-on melody), with a pause put into its quietest moment near the words' boundary."""
    turns = []
    for index, (before, after) in enumerate(pairs):
        speech = _trimmed(speak(f"{before} {after}"))
        cut = _quietest(speech, (len(before) + 0.5) / len(f"{before} {after}"))
        first = AudioChunk(speech.pcm[: 2 * cut], RATE)
        second = AudioChunk(speech.pcm[2 * cut :], RATE)
        pause = PAUSES_S[index % len(PAUSES_S)]
        parts = [silence(LEAD_S, RATE), first, silence(pause, RATE), second, silence(TAIL_S, RATE)]
        pause_start = LEAD_S + first.seconds
        end = pause_start + pause + second.seconds
        turns.append(
            SpokenTurn(
                f"{voice}-p{index + 1}", voice, f"{before} ... {after}", concat(parts), end,
                (pause_start, pause_start + pause),
            )
        )  # fmt: skip
    return turns


def _quietest(speech: AudioChunk, fraction: float, reach_s: float = 0.25) -> int:
    """The sample at the middle of the quietest 20 ms within `reach_s` of `fraction` of it."""
    samples = np.abs(speech.to_float32())
    window = RATE // 50
    energy = np.convolve(samples, np.ones(window) / window, mode="same")
    middle, reach = round(fraction * len(samples)), round(reach_s * RATE)
    low, high = max(window, middle - reach), min(len(samples) - window, middle + reach)
    return low + int(np.argmin(energy[low:high])) if high > low else middle


def mandarin_speaker(cache: Path) -> Speaker:
    return espeak_speaker(cache, MANDARIN_VOICE)
