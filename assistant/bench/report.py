"""The benchmark's results as a JSON file and a markdown table, checked against the targets."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..audio.codec import write_atomically


@dataclass(frozen=True)
class Target:
    """A figure's upper limit on the 2-core x86 reference machine, for the tiers it is set for."""

    key: str
    what: str
    limit: float
    tiers: tuple[str, ...] = ()  # the model tiers it applies to; (): every tier
    source: str = ""  # the issue that sets it


TARGETS = (
    # the first benchmark's, set when the default models were today's tiny tier
    Target("v2v_streaming_p50", "voice to voice, streaming, p50 (ms)", 700, ("tiny",)),
    Target("v2v_streaming_p95", "voice to voice, streaming, p95 (ms)", 1000, ("tiny",)),
    Target("v2v_streaming_p50", "voice to voice, streaming, p50 (ms)", 900, ("default",), "#11"),
    Target("v2v_streaming_p50", "voice to voice, streaming, p50 (ms)", 500, ("default",), "#12"),
    Target("v2v_streaming_p95", "voice to voice, streaming, p95 (ms)", 800, ("default",), "#12"),
    Target("streaming_over_sequential", "streaming / sequential, p50", 0.5),
    Target("stt_project_over_raw", "STT project / raw engine, p50", 1.10),
    Target("llm_project_over_raw", "LLM project / raw engine (first token, p50)", 1.10),
    Target("tts_project_over_raw", "TTS project / raw engine (first audio, p50)", 1.10),
    Target("cold_start_s", "cold start (s)", 3.0),
    Target("peak_memory_mb", "peak memory (MB)", 600, ("tiny",), "#11"),
    Target("barge_in_p50", "barge-in reaction, p50 (ms)", 150),
)


def targets_for(tier: str) -> list[Target]:
    """The targets set for `tier`'s models."""
    return [target for target in TARGETS if not target.tiers or tier in target.tiers]


FIRST_TURN = ("stt_ms", "first_token_ms", "first_audio_ms")


def target_values(results: dict) -> dict[str, Any]:
    e2e, stages, cold = results["voice_to_voice"], results["stages"], results["cold_start"]
    ratios = stages["project_over_raw"]
    return {
        "v2v_streaming_p50": e2e["streaming_ms"]["p50"],
        "v2v_streaming_p95": e2e["streaming_ms"]["p95"],
        "streaming_over_sequential": e2e["streaming_over_sequential"],
        "stt_project_over_raw": ratios["stt_latency"],
        "llm_project_over_raw": ratios["llm_ttft"],
        "tts_project_over_raw": ratios["tts_first_audio"],
        "cold_start_s": cold["ready_s"],
        "peak_memory_mb": cold["peak_rss_mb"],
        "barge_in_p50": results["barge_in"]["reaction_ms"]["p50"],
    }


def check_targets(results: dict) -> list[dict]:
    values = target_values(results)
    return [
        {
            "key": target.key,
            "what": target.what,
            "target": target.limit,
            "source": target.source,
            "value": values[target.key],
            "met": values[target.key] is not None and values[target.key] <= target.limit,
        }
        for target in targets_for(results["meta"]["tier"])
    ]


def write_report(results: dict, directory: Path) -> tuple[Path, Path]:
    return write_results(results, directory, "benchmark", markdown)


def write_results(
    results: dict, directory: Path, stem: str, render: Callable[[dict], str]
) -> tuple[Path, Path]:
    """STEM.json (every figure) and STEM.md (`render`ed tables) in `directory`, atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    write_atomically(json_path, json.dumps(results, indent=2, ensure_ascii=False).encode())
    write_atomically(md_path, render(results).encode())
    return json_path, md_path


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _row(name: str, figure: dict, unit_digits: int = 0, note: str = "") -> str:
    return (
        f"| {name} | {fmt(figure.get('p50'), unit_digits)} | "
        f"{fmt(figure.get('p95'), unit_digits)} | {note} |"
    )


def markdown(results: dict) -> str:
    meta, stages, raw = results["meta"], results["stages"], results["stages"]["raw"]
    e2e, cold, barge = results["voice_to_voice"], results["cold_start"], results["barge_in"]
    ratios = stages["project_over_raw"]
    settings = ", ".join(f"{k}={v}" for k, v in meta["settings"].items())
    lines = [
        f"Benchmark of {meta['date']} on {meta['machine']} ({meta['cpu_count']} CPUs; load "
        f"average {meta['load_before']} before, {meta['load_after']} after; other processes used "
        f"{fmt(100 * (meta.get('others_cpu_share') or 0))} % of the CPUs meanwhile); "
        f"{meta['iterations']} iteration(s) of {len(meta['utterances'])} utterances"
        + (" (--quick)" if meta["quick"] else "")
        + ".",
        "",
        f"Models: STT {meta['models']['stt']}, LLM {meta['models']['llm']}, "
        f"TTS {meta['models']['tts']}. Settings: {settings}.",
        "",
        f"llama.cpp computes with {meta['llama_cpp']['cpu']}; weights repacked: "
        f"{'yes' if meta['llama_cpp']['weights_repacked'] else 'no'}.",
        "",
        "| figure | p50 | p95 | notes |",
        "|---|---:|---:|---|",
        _row(
            "STT latency per utterance (ms)",
            stages["stt"]["latency_ms"],
            0,
            f"raw engine {fmt(raw['stt']['latency_ms']['p50'])} ms; "
            f"project/raw {fmt(ratios['stt_latency'], 2)}",
        ),
        _row("STT real-time factor", stages["stt"]["rtf"], 3),
        _row(
            "STT word error rate",
            stages["stt"]["wer"],
            3,
            f"mean {fmt(stages['stt']['wer_mean'], 3)}",
        ),
        _row(
            "LLM time to first token (ms)",
            stages["llm"]["ttft_ms"],
            0,
            f"raw engine {fmt(raw['llm']['ttft_ms']['p50'])} ms; "
            f"project/raw {fmt(ratios['llm_ttft'], 2)}",
        ),
        _row(
            "LLM tokens per second",
            stages["llm"]["tokens_per_s"],
            0,
            f"raw engine {fmt(raw['llm']['tokens_per_s']['p50'])}; project/raw time per "
            f"token {fmt(ratios['llm_time_per_token'], 2)}",
        ),
        _row(
            "LLM time to first sentence (ms)",
            stages["llm"]["first_sentence_ms"],
            0,
            f"raw engine {fmt(raw['llm']['first_sentence_ms']['p50'])} ms; "
            f"project/raw {fmt(ratios['llm_first_sentence'], 2)}",
        ),
        _row(
            "TTS time to first audio (ms)",
            stages["tts"]["first_audio_ms"],
            0,
            f"raw engine {fmt(raw['tts']['first_audio_ms']['p50'])} ms; "
            f"project/raw {fmt(ratios['tts_first_audio'], 2)}",
        ),
        _row("TTS real-time factor", stages["tts"]["rtf"], 3),
        _row(
            "voice to voice, streaming (ms)",
            e2e["streaming_ms"],
            0,
            "true end of speech to first reply audio, endpointing included; word error "
            f"rate of what it heard {fmt(e2e.get('heard_wer_mean'), 3)}",
        ),
        _row(
            "voice to voice, sequential chain (ms)",
            e2e["sequential_ms"],
            0,
            f"streaming/sequential (p50) {fmt(e2e['streaming_over_sequential'], 2)}",
        ),
    ]
    for stage, figure in e2e["streaming_stages_ms"].items():
        lines.append(_row(f"  streaming: {stage.replace('_', ' ')} (ms after end)", figure))
    lines.append(
        _row(
            "  sequential: endpointing (ms)",
            e2e["sequential_endpoint_ms"],
            0,
            "same VAD and endpointer on the same audio, stream time",
        )
    )
    lines += [
        f"| cold start, exec to ready (s) | {fmt(cold['ready_s'], 2)} | | Python and "
        f"the CLI {fmt(cold.get('python_and_cli_s'), 2)} s, engines loaded and warmed "
        f"{fmt(cold.get('load_and_warm_s'), 2)} s |",
        f"| peak resident memory (MB) | {fmt(cold['peak_rss_mb'])} | | cold-start process, "
        f"ready and then {cold.get('turns', '?')} turns; the benchmark's own process "
        f"{fmt(results['memory']['bench_peak_rss_mb'])} MB |",
        "| first turn after a cold start (ms) | "
        + " / ".join(fmt(cold.get("first_turn", {}).get(k)) for k in FIRST_TURN)
        + " | | STT / LLM first token / TTS first audio, in the cold-start process |",
        _row(
            "barge-in reaction (ms)",
            barge["reaction_ms"],
            0,
            f"onset to playback silent; to flushed: {fmt(barge['flushed_ms']['p50'])} ms",
        ),
        "",
        "| target | value | met |",
        "|---|---:|---|",
    ]
    for target in results["targets"]:
        value = target["value"]
        shown = fmt(value, 2 if isinstance(value, float) and value < 10 else 0)
        source = f" ({target['source']})" if target.get("source") else ""
        lines.append(
            f"| {target['what']} <= {target['target']}{source} | {shown} | "
            f"{'yes' if target['met'] else 'NO'} |"
        )
    return "\n".join(lines) + "\n"
