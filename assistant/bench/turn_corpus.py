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
from ..text import has_cjk
from ..types import AudioChunk
from .corpus import MANDARIN_VOICE, RATE, VOICE, make_corpus, speech_bounds, word_errors, words

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
# a whole sentence, then more after the pause: the words before it are finished, so only the
# voice can tell that more is coming (reported apart from the turns above)
AFTERTHOUGHT_EN = (
    ("Turn on the lights", "in the kitchen."),
    ("Set a timer for ten minutes", "for the pasta."),
    ("I want to go to the store", "and buy some milk."),
    ("Play some music", "by the Beatles."),
    ("Tell me a joke", "about cats."),
    ("Remind me to call Anna", "at six tonight."),
)
PAUSES_S = (0.6, 0.7, 0.8, 0.9)

Speaker = Callable[[str], AudioChunk]  # text -> speech (any rate)
ALIGN_REACH_S = 0.2  # how far from Whisper's word boundary a pause may go
ALIGN_TRIES = 6  # the quiet moments there tried, the quietest first
LETTERS_REACH_S = 0.25  # without an aligner, how far from the letters' share of the sentence


@dataclass(frozen=True)
class SpokenTurn:
    id: str
    voice: str
    text: str
    audio: AudioChunk  # 16 kHz: LEAD_S of silence, the turn, TAIL_S of silence
    speech_end: float  # seconds into `audio`: just after the last speech sample
    pause: tuple[float, float] | None = None  # seconds into `audio`: the pause in the middle
    afterthought: bool = False  # the words before the pause are a whole sentence

    @property
    def language(self) -> str:
        """ "zh" for a turn said in Chinese, else "en"."""
        return "zh" if has_cjk(self.text) else "en"


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
    voice: str,
    speak: Speaker,
    pairs: Iterable[tuple[str, str]] = PAUSED_EN,
    aligner: WhisperAligner | None = None,
    afterthought: bool = False,
) -> list[SpokenTurn]:
    """Each pair said as one sentence (so the words before the pause keep the voice's
    going-on melody), with a pause put at the words' boundary as `aligner` finds it, or, without
    one (or when it does not hear the sentence), into the quietest moment near the boundary's
    share of the letters. `afterthought`: the pairs are AFTERTHOUGHT_EN's kind."""
    turns = []
    for index, (before, after) in enumerate(pairs):
        speech = _trimmed(speak(f"{before} {after}"))
        cut = aligner.cut(speech, before, after) if aligner is not None else None
        if cut is None:
            cut = _by_letters(speech, before, after)
        first = AudioChunk(speech.pcm[: 2 * cut], RATE)
        second = AudioChunk(speech.pcm[2 * cut :], RATE)
        pause = PAUSES_S[index % len(PAUSES_S)]
        parts = [silence(LEAD_S, RATE), first, silence(pause, RATE), second, silence(TAIL_S, RATE)]
        pause_start = LEAD_S + first.seconds
        end = pause_start + pause + second.seconds
        turns.append(
            SpokenTurn(
                f"{voice}-{'a' if afterthought else 'p'}{index + 1}", voice,
                f"{before} ... {after}", concat(parts), end, (pause_start, pause_start + pause),
                afterthought,
            )
        )  # fmt: skip
    return turns


class WhisperAligner:
    """Where to put a pause between two groups of words of one sentence, found with a
    faster-whisper model: of the quiet moments near its word timestamps, the one whose two sides
    it hears most nearly as the two groups (its timestamps alone are often a syllable off)."""

    def __init__(self, whisper) -> None:
        self._whisper = whisper  # a faster_whisper.WhisperModel

    def cut(self, speech: AudioChunk, before: str, after: str) -> int | None:
        """The sample to cut `speech` (16 kHz) at; None when it hears other words than said."""
        spans = self._word_spans(speech)
        count = len(words(before))
        if len(spans) != count + len(words(after)):
            return None
        boundary = (spans[count - 1][1] + spans[count][0]) / 2
        moments = _quiet_moments(speech, boundary - ALIGN_REACH_S, boundary + ALIGN_REACH_S)
        best, fewest = moments[0], None
        for at in moments[:ALIGN_TRIES]:  # the quietest first; one heard right ends the search
            wrong = self._mismatch(speech, at, before, after)
            if fewest is None or wrong < fewest:
                best, fewest = at, wrong
            if wrong == 0:
                break
        return best

    def _mismatch(self, speech: AudioChunk, at: int, before: str, after: str) -> int:
        """Words wrong on either side of a cut at sample `at`."""
        first = AudioChunk(speech.pcm[: 2 * at], RATE)
        second = AudioChunk(speech.pcm[2 * at :], RATE)
        return word_errors(self._text(first), before) + word_errors(self._text(second), after)

    def _decode(self, audio: AudioChunk, **options) -> list:
        segments, _ = self._whisper.transcribe(
            audio.to_float32(), language="en", beam_size=1, condition_on_previous_text=False,
            vad_filter=False, **options,
        )  # fmt: skip
        return list(segments)

    def _word_spans(self, audio: AudioChunk) -> list[tuple[float, float]]:
        segments = self._decode(audio, word_timestamps=True)
        return [(word.start, word.end) for segment in segments for word in segment.words or ()]

    def _text(self, audio: AudioChunk) -> str:
        return " ".join(segment.text for segment in self._decode(audio))


def _by_letters(speech: AudioChunk, before: str, after: str) -> int:
    """The quietest moment near the boundary's share of the sentence's letters."""
    middle = (len(before) + 0.5) / len(f"{before} {after}") * speech.seconds
    return _quiet_moments(speech, middle - LETTERS_REACH_S, middle + LETTERS_REACH_S)[0]


def _quiet_moments(speech: AudioChunk, start_s: float, end_s: float) -> list[int]:
    """Samples at the local minima of the 20 ms loudness (every 10 ms) between the two times
    (seconds), the quietest first; at least one."""
    samples = np.abs(speech.to_float32())
    window, hop = RATE // 50, RATE // 100
    energy = np.convolve(samples, np.ones(window) / window, mode="same")[::hop]
    low = max(1, round(start_s * RATE / hop))
    high = min(len(energy) - 1, round(end_s * RATE / hop))
    minima = [i for i in range(low, high) if energy[i] <= min(energy[i - 1], energy[i + 1])]
    minima.sort(key=lambda i: energy[i])
    return [i * hop for i in minima] or [round((start_s + end_s) / 2 * RATE)]


def mandarin_speaker(cache: Path) -> Speaker:
    return espeak_speaker(cache, MANDARIN_VOICE)
