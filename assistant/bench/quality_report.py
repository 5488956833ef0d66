"""The quality benchmark's results as benchmark-quality.json and a markdown table."""

from __future__ import annotations

from pathlib import Path

from .questions import CATEGORIES
from .report import fmt, write_results


def write_quality_report(results: dict, directory: Path) -> tuple[Path, Path]:
    return write_results(results, directory, "benchmark-quality", quality_markdown)


def _share(tally: dict | None) -> str:
    """A tally as "41/53 (77 %)"."""
    if not tally or not tally.get("n"):
        return "n/a"
    return f"{tally['correct']}/{tally['n']} ({100 * tally['rate']:.0f} %)"


def _p50_p95(figure: dict, digits: int = 0) -> str:
    return f"{fmt(figure.get('p50'), digits)} / {fmt(figure.get('p95'), digits)}"


def quality_markdown(results: dict) -> str:
    meta, tiers = results["meta"], results["tiers"]
    measured = {name: t for name, t in tiers.items() if t["status"] == "measured"}
    lines = [
        f"Quality benchmark of {meta['date']} on {meta['machine']} ({meta['cpu_count']} CPUs; "
        f"load average {meta['load_before']} before, {meta['load_after']} after; other "
        f"processes used {fmt(100 * (meta.get('others_cpu_share') or 0))} % of the CPUs "
        f"meanwhile); {meta['questions']} questions typed, {meta['spoken_questions']} spoken, "
        f"greedy decoding, at most {meta['max_tokens']} tokens a reply"
        + (" (--quick)" if meta["quick"] else "")
        + ".",
        "",
    ]
    for name, tier in tiers.items():
        if tier["status"] != "measured":
            lines.append(f"Tier {name}: skipped ({tier['reason']}); `{tier['pull']}` fetches it.")
    if measured:
        names = list(measured)
        lines += [
            "",
            "| answers right | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
            "| models (LLM; STT; voice) | "
            + " | ".join(
                f"{t['models']['llm']}; {t['models']['stt']}; {t['models']['tts']}"
                for t in measured.values()
            )
            + " |",
            _tally_row("all", measured, lambda a: a["all"]),
            _tally_row("English", measured, lambda a: a["en"]),
            _tally_row("Chinese", measured, lambda a: a["zh"]),
        ]
        for category in CATEGORIES:
            lines.append(_tally_row(category, measured, lambda a, c=category: a["by_category"][c]))
        lines += [
            _tally_row(
                "Chinese questions answered in Chinese",
                measured,
                lambda a: a["zh_answered_in_chinese"],
            ),
            "",
            "| speed and memory | " + " | ".join(names) + " |",
            "|---|" + "---:|" * len(names),
            _figure_row(
                "LLM first token, typed, p50 / p95 (ms)",
                measured,
                lambda t: _p50_p95(t["llm"]["first_token_ms"]),
            ),
            _figure_row(
                "LLM tokens per second, p50 / p95",
                measured,
                lambda t: _p50_p95(t["llm"]["tokens_per_s"], 1),
            ),
            _figure_row(
                "first audio after the question, p50 / p95 (ms)",
                measured,
                lambda t: _p50_p95(t["spoken"]["first_audio_ms"]),
            ),
            _figure_row(
                "spoken questions answered right",
                measured,
                lambda t: _share(t["spoken"]["accuracy"]),
            ),
            _figure_row(
                "peak resident memory (MB)", measured, lambda t: fmt(t["memory"]["peak_rss_mb"])
            ),
            _figure_row(
                "cold start to ready (s)", measured, lambda t: fmt(t["memory"]["ready_s"], 2)
            ),
            "",
            "First audio: from the whole question being available to the first audio of the "
            "answer (STT, the model's first sentence, its synthesis), endpointing not included. "
            "Peak memory: a fresh process that loads the tier and answers three questions.",
        ]
    lines += [
        "",
        "| speech to text | language | voice | error rate | per rate (words a minute) | "
        "live turn: error rate | time p50, file / live turn (ms) | n |",
        "|---|---|---|---:|---|---:|---:|---:|",
    ]
    for row in results["stt"]:
        if row["status"] != "measured":
            lines.append(
                f"| {row['model']} | {row['language']} | {row['voice']} | skipped | "
                f"`{row['pull']}` | | | |"
            )
            continue
        per_rate = ", ".join(f"{wpm}: {value:.3f}" for wpm, value in row["by_rate_wpm"].items())
        lines.append(
            f"| {row['model']} | {row['language']} | {row['voice']} | "
            f"{row['metric'].upper()} {row['mean']:.3f} | {per_rate} | {row['live_mean']:.3f} | "
            f"{fmt(row['file_ms_p50'])} / {fmt(row['live_ms_p50'])} | {row['n']} |"
        )
    lines += [
        "",
        "A file is heard in Whisper's own 30 s window; a live turn (a conversation's, a Wyoming "
        "satellite's) without timestamps, in `stt.turn_window_s` seconds (or the turn and 2 s "
        "after it, if longer; 30: the same window).",
    ]
    if results.get("targets"):
        lines += ["", "| target | value | met |", "|---|---:|---|"]
        for target in results["targets"]:
            lines.append(
                f"| {target['what']} | {fmt(target['value'], 2)} | "
                f"{'yes' if target['met'] else 'NO'} |"
            )
    return "\n".join(lines) + "\n"


def _tally_row(what: str, tiers: dict, pick) -> str:
    return f"| {what} | " + " | ".join(_share(pick(t["accuracy"])) for t in tiers.values()) + " |"


def _figure_row(what: str, tiers: dict, show) -> str:
    return f"| {what} | " + " | ".join(show(t) for t in tiers.values()) + " |"
