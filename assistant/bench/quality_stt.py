"""Speech-to-text error rate per STT model and language, on voices other than the assistant's:
espeak-ng's en-us and cmn (Mandarin) voices at two speaking rates; word error rate for English,
character error rate for Chinese. The sentences are the quality questions' own (and their
setup turns), less the arithmetic ones, whose numbers Whisper writes as digits. Both languages
are also heard as recorded human speech (bench/recordings.py), when it is pulled. Each utterance
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
RECORDED_STT = STT_SETS  # each also heard on recorded human speech of its language
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
    """One row per (model, language) on espeak-ng's voice: mean error rate over both rates, and
    per rate; and one per (model, language) on recorded human speech, when `recordings-en` or
    `recordings-zh` is pulled (`assistant models pull recordings-en recordings-zh`)."""
    from ..providers.store import ModelStore
    from .recordings import ENGLISH, MANDARIN, load_recording, recordings_dir

    store = ModelStore.open(config.models.dir)
    recorded_sets = {recordings.language: recordings for recordings in (ENGLISH, MANDARIN)}
    rows = []
    sets = [(model, language, False) for model, language in STT_SETS]
    sets += [(model, language, True) for model, language in RECORDED_STT]
    for model, language, human in sets:
        metric = "wer" if language == "en" else "cer"
        recordings = recorded_sets[language]
        recorded = recordings_dir(store, recordings) if human else None
        voice = (
            f"recorded human ({recordings.name})"
            if human
            else f"espeak-ng {ESPEAK_VOICES[language]}"
        )
        row: dict = {"model": model, "language": language, "metric": metric, "voice": voice}
        missing = model if not store.is_present(store.catalog.get(model, "stt")) else None
        if human and recorded is None:
            missing = recordings.name
        if missing:
            say(f"  {model} ({language}, {voice}): skipped, {missing} not downloaded")
            rows.append({**row, "status": "skipped", "pull": f"assistant models pull {missing}"})
            continue
        if human:
            spoken = [
                ("human", r.text.replace("...", ""), load_recording(recorded, r.file))
                for r in recordings.recordings[: QUICK_SENTENCES if quick else None]
            ]
        else:
            spoken = [
                (str(wpm), u.text, u.audio)
                for wpm in RATES
                for u in make_corpus(
                    corpus_dir, sentences(language, quick), voice=ESPEAK_VOICES[language],
                    rate=wpm,
                )
            ]  # fmt: skip
        rows.append({**row, **_heard(config, store, model, language, metric, spoken, say)})
    return rows


def _heard(config: Config, store, model: str, language: str, metric: str, spoken, say) -> dict:
    """`model`'s error rate on `spoken` ((group, text, audio) each), as files and as live turns,
    with its times, per group (the speaking rate), and each sample."""
    from ..providers import turn_transcriber
    from ..providers.registry import create_stt

    stt = create_stt(
        replace(config, stt=replace(config.stt, model=model, language=language)), store
    )
    rate_of = word_error_rate if metric == "wer" else char_error_rate
    as_file = partial(stt.transcribe, language=language)
    as_turn = turn_transcriber(stt, language)
    samples = []
    for group, text, audio in spoken:
        heard, file_ms = _timed(as_file, audio)
        heard_live, live_ms = _timed(as_turn, audio)
        samples.append(
            {
                "rate_wpm": group,
                "said": text,
                "heard": heard,
                metric: round(rate_of(heard, text), 3),
                "heard_live": heard_live,
                f"live_{metric}": round(rate_of(heard_live, text), 3),
                "file_ms": file_ms,
                "live_ms": live_ms,
            }
        )
    groups = dict.fromkeys(s["rate_wpm"] for s in samples)
    per_rate = {
        group: round(statistics.fmean(s[metric] for s in samples if s["rate_wpm"] == group), 3)
        for group in groups
        if group != "human"
    }
    mean = round(statistics.fmean(s[metric] for s in samples), 3)
    live_mean = round(statistics.fmean(s[f"live_{metric}"] for s in samples), 3)
    say(
        f"  {model} ({language}): {metric.upper()} {mean:.3f} as files, {live_mean:.3f} "
        f"as live turns, over {len(samples)} utterances"
    )
    return {
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


def _timed(transcribe, audio) -> tuple[str, float]:
    """The text `transcribe` heard in `audio`, and its milliseconds."""
    started = time.perf_counter()
    heard = transcribe(audio).text
    return heard, round(1000 * (time.perf_counter() - started), 1)
