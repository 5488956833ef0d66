"""Run the whole benchmark: corpus, cold start, stages, raw floor, voice to voice, barge-in."""

from __future__ import annotations

import asyncio
import datetime
import os
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from ..config import Config
from ..errors import UsageError
from ..types import ChatMessage
from . import coldstart, e2e
from .corpus import QUICK_TEXTS, TEXTS, make_corpus, word_error_rate
from .machine import OtherLoad, cpu_model, load_average
from .report import check_targets, write_report
from .stages import measure_stages
from .stats import summary
from .turn_report import turn_detection

LOCAL = {"stt": ("faster-whisper",), "llm": ("llama-cpp",), "tts": ("local", "piper")}
QUICK_MAX_TOKENS = 48  # --quick: shorter replies, so a CI smoke run stays short
INTERRUPTION = "Wait, stop, I have another question."
LONG_QUESTION = "Tell me a story about a brave little dragon."


def bench_config(config: Config, quick: bool) -> Config:
    """The configuration measured: the user's, with greedy decoding so runs are repeatable."""
    for section, providers in LOCAL.items():
        if getattr(config, section).provider not in providers:
            raise UsageError(
                f"the benchmark measures the local engines; {section}.provider is "
                f"'{getattr(config, section).provider}', not '{providers[0]}'"
            )
    llm = replace(config.llm, temperature=0.0)
    config = replace(config, tts=replace(config.tts, provider="piper"))  # the floor drives Piper
    if quick:
        llm = replace(llm, max_tokens=min(llm.max_tokens, QUICK_MAX_TOKENS))
    return replace(config, llm=llm)


def run_benchmark(
    config: Config,
    *,
    quick: bool,
    iterations: int,
    output: Path,
    cli_args: list[str],
    say: Callable[[str], None],
) -> dict:
    from ..conversation.options import conversation_options
    from ..providers.loading import load_conversation_engines

    load_before, others = load_average(), OtherLoad()
    config = bench_config(config, quick)
    options = conversation_options(config)
    history = [ChatMessage("system", options.system_prompt)]
    corpus_dir = output / "corpus"
    utterances = make_corpus(corpus_dir, QUICK_TEXTS if quick else TEXTS)
    extra = make_corpus(corpus_dir, (INTERRUPTION, LONG_QUESTION))
    say(
        f"corpus: {len(utterances)} utterances of "
        f"{min(u.speech_seconds for u in utterances):.1f}-"
        f"{max(u.speech_seconds for u in utterances):.1f} s of speech"
    )

    say("cold start: a fresh process to ready to listen...")
    cold = coldstart.measure(cli_args, corpus_dir, quick)
    say(f"  ready in {cold['ready_s']:.2f} s, peak {cold['peak_rss_mb']:.0f} MB")

    started = time.monotonic()
    engines, vad = load_conversation_engines(config, options.first_system_prompt)
    loaded_in = time.monotonic() - started
    say(f"engines loaded and warmed in this process in {loaded_in:.2f} s")

    say("stages: project and raw engines...")
    stages = measure_stages(
        engines,
        options.system_prompt,
        utterances,
        iterations=iterations,
        max_tokens=config.llm.max_tokens,
        temperature=0.0,
        voice=options.voice,
        speed=options.speed,
    )

    streaming, sequential, barge = [], [], []
    for iteration in range(iterations):
        say(f"voice to voice, iteration {iteration + 1}/{iterations}: streaming...")
        streaming += asyncio.run(e2e.streaming_pass(engines, vad, options, history, utterances))
        say("  sequential chain...")
        sequential += e2e.sequential_pass(engines, vad, options, history, utterances)
        say("  barge-in...")
        barge.append(
            asyncio.run(e2e.barge_in_trial(engines, vad, options, history, extra[1], extra[0]))
        )
    streaming_ms = summary(r["voice_to_voice_ms"] for r in streaming)
    sequential_ms = summary(r["voice_to_voice_ms"] for r in sequential)
    results = {
        "meta": _meta(config, options, quick, iterations, utterances, load_before),
        "stages": stages,
        "voice_to_voice": {
            "streaming_ms": streaming_ms,
            "sequential_ms": sequential_ms,
            "streaming_over_sequential": (
                round(streaming_ms["p50"] / sequential_ms["p50"], 3)
                if streaming_ms["p50"] and sequential_ms["p50"]
                else None
            ),
            "streaming_stages_ms": {
                stage: summary(r["stages_ms"].get(stage) for r in streaming) for stage in e2e.STAGES
            },
            "sequential_endpoint_ms": summary(r["endpoint_ms"] for r in sequential),
            "sequential_stages_ms": {
                stage: summary(r[f"{stage}_ms"] for r in sequential)
                for stage in ("stt", "llm", "tts")
            },
            "missed_turns": sum(r["voice_to_voice_ms"] is None for r in streaming),
            "heard_wer_mean": _heard_wer(streaming, utterances),
            "turns": {"streaming": streaming, "sequential": sequential},
        },
        "barge_in": {
            "reaction_ms": summary(t.get("reaction_ms") for t in barge),
            "flushed_ms": summary(t.get("flushed_ms") for t in barge),
            "trials": barge,
        },
        "cold_start": cold,
        "memory": {
            "peak_rss_mb": cold["peak_rss_mb"],
            "bench_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "in_process_load_s": round(loaded_in, 3),
        },
    }
    results["meta"]["load_after"] = load_average()
    results["meta"]["others_cpu_share"] = others.share()
    results["targets"] = check_targets(results)
    return results


def write(results: dict, output: Path) -> tuple[Path, Path]:
    return write_report(results, output)


def _meta(
    config: Config, options, quick: bool, iterations: int, utterances, load_before: str
) -> dict:
    from ..config import threads_for
    from ..providers.llama_build import system_info, weight_repacking

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {platform.machine()}, Linux {platform.release()}",
        "cpu_count": os.cpu_count(),
        "load_before": load_before,
        "python": platform.python_version(),
        "versions": {
            name: _version(name)
            for name in (
                "faster-whisper",
                "ctranslate2",
                "llama_cpp_python",
                "piper-tts",
                "onnxruntime",
            )
        },
        "llama_cpp": {  # what this llama.cpp build computes with (llama_build.py)
            "cpu": system_info().removeprefix("CPU : ").strip(" |"),
            "weights_repacked": weight_repacking(),
        },
        "tier": config.models.tier,
        "models": {"stt": config.stt.model, "llm": config.llm.model, "tts": config.tts.voice},
        "settings": {
            "stt.beam_size": config.stt.beam_size,
            "stt.threads": threads_for(config.stt.threads, cap=4),
            "llm.threads": threads_for(config.llm.threads),
            "tts.threads": threads_for(config.tts.threads),
            "llm.max_tokens": config.llm.max_tokens,
            "llm.temperature": config.llm.temperature,
            "turn_detection": turn_detection(options.endpointing),
            "silence_ms": options.endpointing.silence_ms,
            "speculate_ms": options.endpointing.pause_ms,
            "barge_in_ms": options.barge_in_ms,
            "barge_in_hold_ms": options.barge_in_hold_ms,
        },
        "quick": quick,
        "iterations": iterations,
        "utterances": [
            {"id": u.id, "text": u.text, "speech_s": round(u.speech_seconds, 2)} for u in utterances
        ],
    }


def _heard_wer(turns: list[dict], utterances) -> float | None:
    """Mean word error rate of what the conversation heard (the speculative path included)."""
    texts = {u.id: u.text for u in utterances}
    rates = [word_error_rate(t["heard"], texts[t["utterance"]]) for t in turns]
    return round(sum(rates) / len(rates), 3) if rates else None


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"
