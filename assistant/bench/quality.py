"""`assistant bench --quality`: each model tier side by side, one measurement at a time.

Per tier: answer accuracy on the fixed questions (typed, through `Reply`'s text path, greedy),
the model's first token and tokens/s; the spoken questions through the whole `Reply` (STT, LLM,
TTS into a collecting sink) for time to first audio; and a child process that loads the tier
and answers a few questions, for its peak resident memory. Then the speech-to-text error rate
per STT model and language (quality_stt.py). A tier whose models are not downloaded is reported
as skipped, with the command that fetches them.
"""

from __future__ import annotations

import datetime
import gc
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..config import Config
from ..conversation.events import TurnEnded, TurnTimings
from ..conversation.options import ConversationOptions
from ..conversation.reply import Reply, ReplySettings, Stages, Workers
from ..conversation.sinks import CollectingSink
from ..errors import AssistantError
from ..types import AudioChunk, ChatMessage
from . import coldstart
from .corpus import make_corpus
from .machine import OtherLoad, cpu_model, load_average
from .quality_stt import measure_stt, prepare_speech
from .questions import Question, accuracy, score, selected
from .report import TARGETS
from .run import QUICK_MAX_TOKENS
from .stats import summary

TIERS = ("tiny", "default", "large")
SPOKEN_CATEGORIES = ("fact", "arithmetic")  # English, single-turn: spoken for first audio
QUICK_SPOKEN = 2
MEMORY_TARGET_MB = {  # tier -> peak memory limit, as `assistant bench` checks it
    tier: target.limit
    for target in TARGETS
    if target.key == "peak_memory_mb"
    for tier in target.tiers
}
BEAT_BY = 0.10  # the default tier must be this much more accurate than the tiny tier
# the engines measured run here; any local voice (Piper or Kokoro) will do, unlike the latency
# benchmark, whose raw-engine floor calls Piper itself
LOCAL_ENGINES = {"stt": ("faster-whisper",), "llm": ("llama-cpp",), "tts": ("local", "piper")}

Say = Callable[[str], None]


def parse_tiers(text: str) -> tuple[str, ...]:
    """Parse "tiny,default" into ("tiny", "default"); an unknown name is a UsageError."""
    from ..errors import UsageError

    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in TIERS]
    if unknown or not names:
        raise UsageError(
            f"unknown tier {', '.join(unknown) or '(none given)'}; choose from {', '.join(TIERS)}"
        )
    return names


def quality_config(config: Config, quick: bool) -> Config:
    """The user's configuration with greedy decoding (repeatable answers); the engines must be
    local ones."""
    from ..errors import UsageError

    for section, providers in LOCAL_ENGINES.items():
        provider = getattr(config, section).provider
        if provider not in providers:
            raise UsageError(
                f"the quality benchmark measures the local engines; {section}.provider is "
                f"'{provider}', not {' or '.join(repr(p) for p in providers)}"
            )
    llm = replace(config.llm, temperature=0.0)
    if quick:
        llm = replace(llm, max_tokens=min(llm.max_tokens, QUICK_MAX_TOKENS))
    return replace(config, llm=llm)


def tier_config(config: Config, tier: str) -> Config:
    """The configuration with every model the tier's (the user's own model names set aside)."""
    from ..providers.tiers import resolve_models

    blank = replace(
        config,
        models=replace(config.models, tier=tier),
        stt=replace(config.stt, model="", language=""),
        llm=replace(config.llm, model=""),
        tts=replace(config.tts, voice=""),
    )
    return resolve_models(blank)


def missing_models(config: Config) -> list[str]:
    """The tier's models that are not downloaded (by name)."""
    from ..providers.store import ModelStore

    store = ModelStore.open(config.models.dir)
    missing = []
    for name, role in (
        (config.stt.model, "stt"),
        (config.llm.model, "llm"),
        (config.tts.voice, "tts"),
    ):
        try:
            entry = store.catalog.get(name.split(":")[0], role)
        except AssistantError:
            continue  # not a catalog name (e.g. a voice of a voice pack): loading will tell
        if not store.is_present(entry):
            missing.append(name)
    return missing


def run_quality(
    config: Config,
    *,
    tiers: tuple[str, ...],
    quick: bool,
    output: Path,
    cli_args: list[str],
    say: Say,
) -> dict:
    load_before, others = load_average(), OtherLoad()
    config = quality_config(config, quick)
    questions = selected(quick)
    spoken = [
        q
        for q in questions
        if q.language == "en" and q.category in SPOKEN_CATEGORIES and not q.setup
    ]
    spoken = spoken[:QUICK_SPOKEN] if quick else spoken
    corpus_dir = output / "corpus"
    say("speech: the questions spoken by espeak-ng (cached under the output directory)...")
    prepare_speech(quick, corpus_dir / "stt")
    results: dict = {"tiers": {}}
    for tier in tiers:
        results["tiers"][tier] = measure_tier(
            config, tier, questions, spoken, corpus_dir, cli_args, quick, say
        )
    say("speech to text: espeak-ng voices, two rates...")
    results["stt"] = measure_stt(config, quick=quick, corpus_dir=corpus_dir / "stt", say=say)
    results["meta"] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {platform.machine()}, Linux {platform.release()}",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "load_before": load_before,
        "load_after": load_average(),
        "others_cpu_share": others.share(),
        "quick": quick,
        "questions": len(questions),
        "spoken_questions": len(spoken),
        "max_tokens": config.llm.max_tokens,
        "temperature": config.llm.temperature,
    }
    results["targets"] = check_quality_targets(results)
    return results


def measure_tier(
    config: Config,
    tier: str,
    questions: tuple[Question, ...],
    spoken: list[Question],
    corpus_dir: Path,
    cli_args: list[str],
    quick: bool,
    say: Say,
) -> dict:
    from ..conversation.options import conversation_options
    from ..providers.loading import load_engines, warm_up

    try:
        config = tier_config(config, tier)
    except AssistantError as error:
        return {
            "status": "skipped",
            "reason": str(error),
            "pull": f"assistant models pull --tier {tier}",
        }
    models = {"stt": config.stt.model, "llm": config.llm.model, "tts": config.tts.voice}
    missing = missing_models(config)
    if missing:
        say(f"tier {tier}: skipped, {', '.join(missing)} not downloaded")
        return {
            "status": "skipped",
            "models": models,
            "reason": f"not downloaded: {', '.join(missing)}",
            "pull": f"assistant models pull --tier {tier}",
        }
    options = conversation_options(config)
    say(f"tier {tier}: {models['llm']}, {models['stt']}, {models['tts']}: loading...")
    engines = load_engines(config, stt=True, chat=True, tts=True)
    warm_up(engines, options.system_prompt)
    workers = Workers()
    try:
        say(f"  {len(questions)} typed questions...")
        typed = [
            ask_typed(Stages(None, engines.chat, None), workers, options, q) for q in questions
        ]
        say(f"  {len(spoken)} spoken questions (STT, LLM, TTS)...")
        utterances = make_corpus(corpus_dir, tuple(q.text for q in spoken))
        heard = [
            ask_spoken(
                Stages(engines.stt, engines.chat, engines.tts),
                workers,
                options.system_prompt,
                options.reply_settings(),
                q,
                u.audio,
            )
            for q, u in zip(spoken, utterances, strict=True)
        ]
    finally:
        workers.shutdown(wait=True)
        del engines
        gc.collect()
    say("  peak memory: a child process loads the tier and answers three questions...")
    memory = _memory(cli_args, tier, models, corpus_dir)
    scored = [(q, score(q, t["answer"])) for q, t in zip(questions, typed, strict=True)]
    spoken_scored = [(q, score(q, h["answer"])) for q, h in zip(spoken, heard, strict=True)]
    answers = [
        {
            **t,
            "id": q.id,
            "language": q.language,
            "category": q.category,
            "question": q.text,
            "correct": s.correct,
            "in_language": s.in_language,
        }
        for (q, s), t in zip(scored, typed, strict=True)
    ]
    for h, (_, s) in zip(heard, spoken_scored, strict=True):
        h["correct"] = s.correct
    result = {
        "status": "measured",
        "models": models,
        "accuracy": accuracy(scored),
        "llm": {
            "first_token_ms": summary(t["first_token_ms"] for t in typed),
            "tokens_per_s": summary(t["tokens_per_s"] for t in typed),
        },
        "spoken": {
            "first_audio_ms": summary(h["first_audio_ms"] for h in heard),
            "accuracy": accuracy(spoken_scored)["all"],
            "turns": heard,
        },
        "memory": {
            "peak_rss_mb": memory["peak_rss_mb"],
            "ready_s": memory["ready_s"],
            "target_mb": MEMORY_TARGET_MB.get(tier),
            **({"error": memory["error"]} if "error" in memory else {}),
        },
        "answers": answers,
    }
    acc = result["accuracy"]
    say(
        f"  accuracy {acc['all']['correct']}/{acc['all']['n']}, first audio p50 "
        f"{result['spoken']['first_audio_ms']['p50']} ms, peak {memory['peak_rss_mb']} MB"
    )
    return result


def _memory(cli_args: list[str], tier: str, models: dict[str, str], corpus_dir: Path) -> dict:
    """The cold-start probe (coldstart.py) run on the tier's models: its peak resident memory
    and seconds to ready; a failure is reported in the figures, not raised."""
    sets = [f"models.tier={tier}", f"stt.model={models['stt']}", f"llm.model={models['llm']}",
            f"tts.voice={models['tts']}"]  # fmt: skip
    child_args = [*cli_args, *(a for s in sets for a in ("--set", s))]
    try:
        return coldstart.measure(child_args, corpus_dir, quick=True, bench_args=("--quality",))
    except RuntimeError as error:
        return {"peak_rss_mb": None, "ready_s": None, "error": str(error)}


def ask_typed(
    stages: Stages, workers: Workers, options: ConversationOptions, question: Question
) -> dict:
    """One conversation: the question's setup turns, then the question, typed (with the
    configured system prompt and "I don't know" examples)."""
    history = [ChatMessage("system", options.system_prompt)]
    settings = options.text_reply_settings()
    for earlier in question.setup:
        record, _ = _reply(stages, workers, history, earlier, None, settings)
        history.extend(record.messages())
    record, stamps = _reply(stages, workers, history, question.text, None, settings)
    timings = record.timings
    return {
        "answer": record.generated,
        "first_token_ms": _ms(timings.speech_end, timings.first_token),
        "tokens_per_s": (
            round((len(stamps) - 1) / (stamps[-1] - stamps[0]), 1)
            if len(stamps) > 2 and stamps[-1] > stamps[0]
            else None
        ),
    }


def ask_spoken(
    stages: Stages,
    workers: Workers,
    system_prompt: str,
    settings: ReplySettings,
    question: Question,
    audio: AudioChunk,
) -> dict:
    """The question spoken, answered aloud into a collecting sink (a conversation of its own)."""
    history = [ChatMessage("system", system_prompt)]
    record, _ = _reply(stages, workers, history, audio, CollectingSink(), settings)
    timings = record.timings
    return {
        "id": question.id,
        "heard": record.user,
        "answer": record.generated,
        "first_audio_ms": _ms(timings.speech_end, timings.first_audio),
        "stt_ms": _ms(timings.speech_end, timings.transcript),
        "first_token_ms": _ms(timings.transcript, timings.first_token),
    }


def _reply(
    stages: Stages,
    workers: Workers,
    history: list[ChatMessage],
    said: AudioChunk | str,
    sink: CollectingSink | None,
    settings: ReplySettings,
) -> tuple[TurnEnded, list[float]]:
    """One turn through `Reply`, as `assistant chat` and `assistant reply` make them; the
    moments each piece of the model's text arrived."""
    stamps: list[float] = []
    now = time.monotonic()
    reply = Reply(
        stages,
        workers,
        said,
        history=history,
        sink=sink,
        settings=settings,
        timings=TurnTimings(speech_end=now, endpoint=now),
        on_delta=lambda delta: stamps.append(time.monotonic()),
    )
    record = reply.run_blocking()
    if reply.failure is not None:
        raise reply.failure
    if record is None:  # nothing heard: an empty answer, scored wrong
        record = TurnEnded(
            user="",
            generated="",
            spoken="",
            interrupted=False,
            timings=reply.timings,
            started_at=reply.started_at,
            ended_at=time.time(),
        )
    return record, stamps


def _ms(start: float | None, end: float | None) -> float | None:
    return round(1000 * (end - start), 1) if start is not None and end is not None else None


def check_quality_targets(results: dict) -> list[dict]:
    """Tiny tier's peak memory; the default tier clearly more accurate than the tiny one."""
    tiers = results["tiers"]
    checked = []
    for tier, target in MEMORY_TARGET_MB.items():
        if tiers.get(tier, {}).get("status") == "measured":
            value = tiers[tier]["memory"]["peak_rss_mb"]
            checked.append(
                {
                    "what": f"{tier} tier peak memory (MB) <= {target}",
                    "value": value,
                    "met": value is not None and value <= target,
                }
            )
    if all(tiers.get(t, {}).get("status") == "measured" for t in ("tiny", "default")):
        tiny = tiers["tiny"]["accuracy"]["all"]["rate"] or 0.0
        default = tiers["default"]["accuracy"]["all"]["rate"] or 0.0
        checked.append(
            {
                "what": f"default tier accuracy - tiny tier accuracy >= {BEAT_BY:.2f}",
                "value": round(default - tiny, 3),
                "met": default - tiny >= BEAT_BY,
            }
        )
    return checked
