"""The spoken utterances the benchmark plays: made reproducibly by espeak-ng, with their text,
and the word and character error rates of what was heard.

Each is synthesized once into the output's cache (never committed) and read back at 16 kHz,
the rate the VAD and Whisper use, so nothing is resampled while a measurement runs. The true
first and last speech samples come from the file itself: the first and last sample louder
than `SPEECH_LEVEL` (espeak-ng writes digital silence around its speech).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio.codec import decode_file
from ..errors import AssistantError
from ..types import AudioChunk

RATE = 16000  # Hz: the VAD's and Whisper's rate
VOICE, WORDS_PER_MINUTE = "en-us", 140
MANDARIN_VOICE = "cmn"  # spoken by the espeak-ng 1.52 library (espeak_library.py)
SPEECH_LEVEL = 0.01  # |sample| above this (-40 dBFS) is speech

# Plain questions of the kind a voice assistant gets, 1 to 6 s at 140 words a minute.
TEXTS = (
    "What colour is the sky?",
    "Tell me a fun fact about cats.",
    "Who wrote Romeo and Juliet?",
    "How many legs does a spider have?",
    "What is the capital of France?",
    "Hello there, how are you today?",
    "Can you recommend a good book to read on a rainy weekend at home?",
    "Why is the sea salty?",
)
QUICK_TEXTS = TEXTS[:3]


@dataclass(frozen=True)
class Utterance:
    id: str
    text: str  # the reference transcript
    audio: AudioChunk  # 16 kHz mono, as espeak-ng wrote it (silence around the speech)
    speech_start: float  # seconds into `audio`: the first speech sample
    speech_end: float  # seconds into `audio`: just after the last speech sample

    @property
    def speech_seconds(self) -> float:
        return self.speech_end - self.speech_start


def make_corpus(
    cache: Path,
    texts: tuple[str, ...] = TEXTS,
    *,
    voice: str = VOICE,
    rate: int = WORDS_PER_MINUTE,
) -> list[Utterance]:
    """The utterances of `texts` spoken by espeak-ng's `voice` at `rate` words a minute
    (e.g. "cmn" for Mandarin), synthesized into `cache` the first time."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise AssistantError(
            "the benchmark speaks its questions with espeak-ng, which is not installed: "
            "apt-get install espeak-ng (scripts/test.sh installs it)"
        )
    cache.mkdir(parents=True, exist_ok=True)
    utterances = []
    for index, text in enumerate(texts):
        engine = "|1.52" if voice == MANDARIN_VOICE else ""
        key = hashlib.sha1(f"{voice}|{rate}|{text}{engine}".encode()).hexdigest()[:12]
        path = cache / f"{key}.wav"
        if not path.exists():
            partial = path.with_suffix(".tmp.wav")
            if engine:
                from .espeak_library import synthesize

                synthesize(text, voice, rate, partial)
            else:
                subprocess.run(
                    [binary, "-v", voice, "-s", str(rate), "-w", str(partial), text],
                    check=True,
                    capture_output=True,
                )
            partial.replace(path)
        audio = decode_file(path, RATE)
        start, end = speech_bounds(audio)
        slug = "-".join(re.findall(r"[a-z]+", text.lower())[:4]) or key[:6]
        utterances.append(Utterance(f"u{index + 1}-{slug}", text, audio, start, end))
    return utterances


def speech_bounds(audio: AudioChunk) -> tuple[float, float]:
    """Seconds of the first speech sample and just after the last one."""
    loud = np.flatnonzero(np.abs(audio.to_float32()) > SPEECH_LEVEL)
    if not len(loud):
        raise AssistantError("a benchmark utterance came out silent; is espeak-ng working?")
    return loud[0] / audio.sample_rate, (loud[-1] + 1) / audio.sample_rate


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; British and American spellings made one."""
    text = text.lower().replace("-", " ").replace("colour", "color")
    return re.findall(r"[a-z0-9']+", text)


def word_errors(heard: str, said: str) -> int:
    """Words substituted, inserted or deleted: the word-level edit distance."""
    return _edit_distance(words(heard), words(said))


def word_error_rate(heard: str, said: str) -> float:
    """Word-level edit distance over the reference length."""
    return word_errors(heard, said) / max(len(words(said)), 1)


def _edit_distance(hypothesis: list[str], reference: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_token in enumerate(reference, 1):
        current = [i]
        for j, hyp_token in enumerate(hypothesis, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_token != hyp_token))
            )
        previous = current
    return previous[-1]


def characters(text: str) -> list[str]:
    """The letters, digits and Han characters of `text` (width-normalized, lower-case), without
    spaces or punctuation: the units of a Chinese transcript."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [c for c in text if unicodedata.category(c)[0] in "LN"]


def char_error_rate(heard: str, said: str) -> float:
    """Character-level edit distance over the reference length (for Chinese, which has no
    spaces between words)."""
    return _edit_distance(characters(heard), characters(said)) / max(len(characters(said)), 1)
