"""The wake-word benchmark (`assistant bench --wake-words`): for each downloaded wake word, the
detection rate on "<wake word>, <question>" spoken by every local voice (Piper, Kokoro) and by
espeak-ng voices at several speeds, and the false wakes per hour on an hour of other speech and
noise made from the corpus (its questions plus near misses such as "Hey Travis", by espeak-ng and
Piper, at random levels over random noise, with stretches of noise alone); and the false wakes
on recorded human speech (bench/recordings.py), and a person saying one of the wake words in a
list of other keywords (`recordings-wake`), when they are pulled."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from ..audio.codec import concat, resample, silence
from ..config import Config
from ..errors import AssistantError
from ..providers.registry import create_tts
from ..providers.store import ModelStore
from ..providers.wake_words import load_wake_word, wake_words
from ..types import AudioChunk
from .corpus import QUICK_TEXTS, RATE, TEXTS, make_corpus
from .machine import cpu_model, load_average
from .recordings import (
    KEYWORD_LIST,
    RECORDINGS,
    load_recording,
    recorded_speech,
    recordings_dir,
)
from .report import fmt, write_results

LOCAL_SPEEDS = (0.85, 1.0, 1.15)  # the local voices' speaking rates
ESPEAK_VOICES = ("en-us", "en-us+f3", "en-us+m3", "en-gb")
ESPEAK_RATES = (140, 175)  # words a minute
NEAR_MISSES = (
    "Hey Travis, what time is it?",
    "Hey Charles, turn on the lights.",
    "Okay, nothing more for now.",
    "Alexander is late again.",
    "Hey, my craft is knitting.",
    "Hey Marvin, play some music.",
    "Jarring noises woke me up.",
    "Okay now, about that nap.",
)
NEGATIVE_S, QUICK_NEGATIVE_S = 3600.0, 120.0  # seconds of non-wake audio
RECORDED = "recorded"  # the engine column of a person's voice
HEARD_WITHIN_S = 1.0  # a wake this soon after the recorded wake word ends is its detection
PIECE_S = 0.02  # audio fed to a detector at a time where the moment of a wake matters
SEED = 12  # the negative hour is the same on every run


def run_wake_benchmark(
    config: Config, *, quick: bool, output: Path, say: Callable[[str], None]
) -> dict:
    """Every figure of the wake-word benchmark, as `write_wake_report` writes it."""
    store = ModelStore.open(config.models.dir)
    words = [word for word in wake_words(store) if word.downloaded]
    if not words:
        raise AssistantError("no wake word is downloaded: run assistant models pull microwakeword")
    tts = create_tts(config, store)
    texts = QUICK_TEXTS if quick else TEXTS
    cache = output / "wake-corpus"
    say("synthesizing the non-wake speech")
    clips = _other_speech(tts, cache, texts + NEAR_MISSES, quick)
    seconds = QUICK_NEGATIVE_S if quick else NEGATIVE_S
    directory = recordings_dir(store)
    recorded = recorded_speech(directory) if directory else []
    listed = recordings_dir(store, KEYWORD_LIST)
    keywords = load_recording(listed, KEYWORD_LIST.file) if listed else None
    results = []
    for word in words:
        say(f"{word.name}: positives")
        positives = _positives(tts, cache, word.phrase, texts, quick)
        detector = load_wake_word(store, word.name)
        detected = {engine: [0, len(items)] for engine, items in positives.items()}
        for engine, items in positives.items():
            for audio in items:
                detector.reset()
                detected[engine][0] += detector.detect(audio.pcm) is not None
        say(f"{word.name}: {seconds / 60:.0f} minutes of other speech and noise")
        pieces = (segment.pcm for segment in _negative_stream(clips, seconds))
        false_wakes, cpu = _wakes(detector, pieces)
        hours = seconds / 3600
        woken_by = sum(_wakes(detector, _seconds(_padded(audio)))[0] for audio in recorded)
        keyword_wakes = None
        if keywords is not None:
            heard, keyword_wakes = keyword_list_wakes(detector, keywords, word.name)
            if heard is not None:
                detected[RECORDED] = [int(heard), 1]
        results.append({
            "name": word.name, "phrase": word.phrase,
            "detected": {e: {"heard": n, "of": total} for e, (n, total) in detected.items()},
            "false_wakes": false_wakes, "negative_hours": round(hours, 3),
            "false_wakes_per_hour": round(false_wakes / hours, 2),
            "cpu_s_per_audio_hour": round(cpu / hours, 2),
            "recorded_false_wakes": woken_by if recorded else None,
            "recorded_minutes": round(sum(a.seconds for a in recorded) / 60, 2),
            "keyword_list_false_wakes": keyword_wakes,
        })  # fmt: skip
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    meta = {"cpu": cpu_model(), "load_average": load_average(), "quick": quick, "time": when}
    return {"meta": meta, "wake_words": results}


def write_wake_report(results: dict, directory: Path) -> tuple[Path, Path]:
    return write_results(results, directory, "benchmark-wake", wake_markdown)


def wake_markdown(results: dict) -> str:
    engines = list(dict.fromkeys(e for w in results["wake_words"] for e in w["detected"]))
    hours = results["wake_words"][0]["negative_hours"] if results["wake_words"] else 0
    meta = results["meta"]
    lines = [
        "## Wake words",
        "",
        f"Detection rate on '<wake word>, <question>' per voice engine, and false wakes on "
        f"{fmt(hours, 2)} h of other speech and noise "
        f"({meta['cpu']}; load {meta['load_average']}).",
        "",
        "| wake word | " + " | ".join(f"detected ({e})" for e in engines)
        + " | false wakes / hour | CPU s per hour of audio |",
        "|---|" + "---:|" * (len(engines) + 2),
    ]  # fmt: skip
    for word in results["wake_words"]:
        cells = []
        for engine in engines:
            found = word["detected"].get(engine)
            rate = found and 100 * found["heard"] / max(found["of"], 1)
            cells.append(f"{found['heard']}/{found['of']} ({rate:.0f}%)" if found else "n/a")
        lines.append(
            f"| {word['phrase']} | " + " | ".join(cells)
            + f" | {word['false_wakes_per_hour']:g} | {word['cpu_s_per_audio_hour']:g} |"
        )  # fmt: skip
    recorded = [w for w in results["wake_words"] if w.get("recorded_false_wakes") is not None]
    if recorded:
        lines += _false_wakes_line(
            recorded, "recorded_false_wakes",
            f"recorded human speech ({RECORDINGS}, {fmt(recorded[0]['recorded_minutes'], 1)} "
            "min: commands, read sentences, JFK, a lecture)",
        )  # fmt: skip
    listed = [w for w in results["wake_words"] if w.get("keyword_list_false_wakes") is not None]
    if listed:
        said = KEYWORD_LIST.wake_word.replace("_", " ").title()
        lines += _false_wakes_line(
            listed, "keyword_list_false_wakes",
            f"a person reading a list of 21 keywords ({KEYWORD_LIST.name}, 45 s; the '{said}' "
            f"in it is the '{RECORDED}' column above)",
        )  # fmt: skip
    return "\n".join(lines) + "\n"


def _false_wakes_line(words: list[dict], key: str, what: str) -> list[str]:
    wakes = ", ".join(f"{word['phrase']} {word[key]}" for word in words)
    return ["", f"False wakes on {what}: {wakes}."]


def keyword_list_wakes(detector, audio: AudioChunk, word: str) -> tuple[bool | None, int]:
    """Over the recorded keyword list: whether `word` was detected where it is said (None: it
    is not said there), and the wakes anywhere else (false wakes)."""
    step = round(PIECE_S * RATE) * 2
    pieces = (audio.pcm[start : start + step] for start in range(0, len(audio.pcm), step))
    detector.reset()
    times = []
    for index, piece in enumerate(pieces):
        if detector.detect(piece) is not None:
            times.append((index + 1) * PIECE_S)
            detector.reset()
    begins, ends = KEYWORD_LIST.said_s
    said = [t for t in times if begins <= t <= ends + HEARD_WITHIN_S]
    if word != KEYWORD_LIST.wake_word:
        return None, len(times)
    return bool(said), len(times) - len(said)


def _wakes(detector, pieces: Iterable[bytes]) -> tuple[int, float]:
    """How often `detector` wakes over `pieces` of audio fed in turn (reset after each wake),
    and the CPU seconds it took."""
    detector.reset()
    wakes, cpu = 0, 0.0
    for piece in pieces:
        started = time.process_time()
        if detector.detect(piece) is not None:
            wakes += 1
            detector.reset()
        cpu += time.process_time() - started
    return wakes, cpu


def _seconds(audio: AudioChunk) -> Iterator[bytes]:
    """`audio` (16-bit PCM at RATE) in one-second pieces."""
    step = 2 * RATE
    return (audio.pcm[start : start + step] for start in range(0, len(audio.pcm), step))


def _positives(
    tts, cache: Path, phrase: str, texts: tuple[str, ...], quick: bool
) -> dict[str, list[AudioChunk]]:
    """'<phrase>, <question>' by each engine, with half a second of silence around it."""
    spoken = [f"{phrase}, {text[0].lower()}{text[1:]}" for text in texts]
    found: dict[str, list[AudioChunk]] = {}
    for voice in tts.voices():
        engine = "Kokoro" if voice.id.startswith("kokoro") else "Piper"
        speeds = LOCAL_SPEEDS if engine == "Piper" else (1.0,)
        lines = spoken if engine == "Piper" else spoken[: 1 if quick else 2]
        for speed in speeds[:1] if quick else speeds:
            for line in lines:
                found.setdefault(engine, []).append(_local(tts, line, voice.id, speed))
    for voice in ESPEAK_VOICES[:2] if quick else ESPEAK_VOICES:
        for rate in ESPEAK_RATES:
            for utterance in make_corpus(cache, tuple(spoken), voice=voice, rate=rate):
                found.setdefault("espeak-ng", []).append(_padded(utterance.audio))
    return found


def _other_speech(tts, cache: Path, texts: tuple[str, ...], quick: bool) -> list[AudioChunk]:
    """The clips the negative hour is made of (no wake word in any)."""
    clips = [u.audio for v in ESPEAK_VOICES for r in ESPEAK_RATES
             for u in make_corpus(cache, texts, voice=v, rate=r)]  # fmt: skip
    piper = [v.id for v in tts.voices() if not v.id.startswith("kokoro")]
    for voice in piper[:1]:
        for speed in LOCAL_SPEEDS[:1] if quick else LOCAL_SPEEDS:
            clips += [_local(tts, text, voice, speed) for text in texts]
    return clips


def _local(tts, text: str, voice: str, speed: float) -> AudioChunk:
    return _padded(resample(concat(list(tts.synthesize(text, voice=voice, speed=speed))), RATE))


def _padded(audio: AudioChunk) -> AudioChunk:
    return concat([silence(0.5, RATE), audio, silence(1.0, RATE)])


def _negative_stream(clips: list[AudioChunk], seconds: float) -> Iterator[AudioChunk]:
    """`seconds` of clips at random levels over random noise, between stretches of noise alone."""
    rng = np.random.default_rng(SEED)
    made = 0.0
    while made < seconds:
        noise_level = 10 ** rng.uniform(-3.5, -1.5)  # of full scale: a quiet room to a loud one
        if rng.random() < 0.15:
            samples = _noise(rng, int(rng.uniform(3, 15) * RATE), noise_level)
        else:
            clip = clips[rng.integers(len(clips))].to_float32() * rng.uniform(0.2, 1.0)
            gap = _noise(rng, int(rng.uniform(0.2, 2.0) * RATE), noise_level)
            samples = np.concatenate([clip + _noise(rng, len(clip), noise_level), gap])
        made += len(samples) / RATE
        yield AudioChunk((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes(), RATE)


def _noise(rng: np.random.Generator, samples: int, level: float) -> np.ndarray:
    """`samples` of white or brown (rumbling) noise with an RMS of `level`."""
    noise = rng.standard_normal(samples)
    if rng.random() < 0.5:
        noise = np.cumsum(noise)
        noise -= np.convolve(noise, np.ones(400) / 400, mode="same")  # no slow drift
    return noise / (np.std(noise) or 1.0) * level
