"""Speech-to-text error rate per STT model and language, on voices other than the assistant's:
espeak-ng's en-us and cmn (Mandarin) voices at two speaking rates; word error rate for English,
character error rate for Chinese. The sentences are the quality questions' own (and their
setup turns), less the arithmetic ones, whose numbers Whisper writes as digits. Each utterance
is heard as a file (Whisper's 30 s window) and as a live turn (`transcribe_turn`: no timestamps,
in stt.turn_window_s), each timed."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from ..config import Config
from .corpus import MANDARIN_VOICE, VOICE, char_error_rate, make_corpus, word_error_rate
from .questions import QUESTIONS

# (STT model, language): the tiers' English STT, and the multilingual one for both languages
STT_SETS = (("whisper-tiny.en", "en"), ("whisper-base", "en"), ("whisper-base", "zh"))
ESPEAK_VOICES = {"en": VOICE, "zh": MANDARIN_VOICE}
RATES = (140, 175)  # espeak-ng words a minute: its default speed, and brisker
NUMBER_WORDS = re.compile(
    r"\b(one|two|three|four|five|six|seven|eight|nine|ten|twelve|twenty|thirty|forty|fifty|"
    r"hundred)\b",
    re.IGNORECASE,
)
QUICK_SENTENCES = 2


def sentences(language: str, quick: bool) -> tuple[str, ...]:
    """The questions and setup turns of `language`, without arithmetic or number words."""
    found: list[str] = []
    for question in QUESTIONS:
        if question.language != language or question.category == "arithmetic":
            continue
        for text in (*question.setup, question.text):
            if not NUMBER_WORDS.search(text) and text not in found:
                found.append(text)
    return tuple(found[:QUICK_SENTENCES] if quick else found)


def prepare_speech(quick: bool, corpus_dir: Path) -> None:
    """Synthesize every utterance now, before any engine is loaded: the Mandarin library is
    initialized in this process, apart from any engine that uses espeak-ng itself."""
    for language, voice in ESPEAK_VOICES.items():
        for wpm in RATES:
            make_corpus(corpus_dir, sentences(language, quick), voice=voice, rate=wpm)


def measure_stt(config: Config, *, quick: bool, corpus_dir: Path, say) -> list[dict]:
    """One row per (model, language): mean error rate over both rates, and per rate."""
    from ..providers import turn_transcriber
    from ..providers.registry import create_stt
    from ..providers.store import ModelStore

    store = ModelStore.open(config.models.dir)
    rows = []
    for model, language in STT_SETS:
        metric = "wer" if language == "en" else "cer"
        row: dict = {
            "model": model,
            "language": language,
            "metric": metric,
            "voice": f"espeak-ng {ESPEAK_VOICES[language]}",
        }
        if not store.is_present(store.catalog.get(model, "stt")):
            say(f"  {model} ({language}): skipped, not downloaded")
            rows.append({**row, "status": "skipped", "pull": f"assistant models pull {model}"})
            continue
        stt = create_stt(
            replace(config, stt=replace(config.stt, model=model, language=language)), store
        )
        rate_of = word_error_rate if metric == "wer" else char_error_rate
        as_file = partial(stt.transcribe, language=language)
        as_turn = turn_transcriber(stt, language)
        texts = sentences(language, quick)
        per_rate, samples = {}, []
        for wpm in RATES:
            utterances = make_corpus(corpus_dir, texts, voice=ESPEAK_VOICES[language], rate=wpm)
            errors = []
            for utterance in utterances:
                heard, file_ms = _timed(as_file, utterance.audio)
                heard_live, live_ms = _timed(as_turn, utterance.audio)
                errors.append(rate_of(heard, utterance.text))
                samples.append(
                    {
                        "rate_wpm": wpm,
                        "said": utterance.text,
                        "heard": heard,
                        metric: round(errors[-1], 3),
                        "heard_live": heard_live,
                        f"live_{metric}": round(rate_of(heard_live, utterance.text), 3),
                        "file_ms": file_ms,
                        "live_ms": live_ms,
                    }
                )
            per_rate[str(wpm)] = round(statistics.fmean(errors), 3)
        mean = round(statistics.fmean(s[metric] for s in samples), 3)
        live_mean = round(statistics.fmean(s[f"live_{metric}"] for s in samples), 3)
        say(
            f"  {model} ({language}): {metric.upper()} {mean:.3f} as files, {live_mean:.3f} "
            f"as live turns, over {len(samples)} utterances"
        )
        rows.append(
            {
                **row,
                "status": "measured",
                "mean": mean,
                "live_mean": live_mean,
                "file_ms_p50": round(statistics.median(s["file_ms"] for s in samples), 1),
                "live_ms_p50": round(statistics.median(s["live_ms"] for s in samples), 1),
                "live_window_s": config.stt.turn_window_s,
                "by_rate_wpm": per_rate,
                "n": len(samples),
                "samples": samples,
            }
        )
        del stt
    return rows


def _timed(transcribe, audio) -> tuple[str, float]:
    """The text `transcribe` heard in `audio`, and its milliseconds."""
    started = time.perf_counter()
    heard = transcribe(audio).text
    return heard, round(1000 * (time.perf_counter() - started), 1)
