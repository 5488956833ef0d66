"""The soak's figures from its turn records: resource growth since the warm-up (resident memory:
the median of every turn's reading in each window, as one reading swings by tens of MB with what
a turn holds at its end) and the drift of each question's medians — voice to voice (wall clock),
the process's CPU seconds, llama.cpp's prompt tokens evaluated, tokens generated — between the
first 50 turns after the warm-up and the last 50 (or two halves of what a shorter run has after
its warm-up). CPU time and tokens do not grow because other programs share the machine, so they
tell a busy machine from a real slowdown; the wall-clock figure is the one the target names.
"""

from __future__ import annotations

import statistics

MEMORY_TARGET, DRIFT_TARGET = 0.05, 0.10  # fractions
WINDOW_TURNS = 50  # turns in each of the two windows compared
DRIFTS = {  # figure in a turn record: its label in the table
    "voice_to_voice_s": "voice to voice p50 (s)",
    "cpu_s": "process CPU per question p50 (s)",
    "prompt_tokens_evaluated": "prompt tokens evaluated p50",
    "tokens_generated": "tokens generated p50",
}
DRIFT_TARGETS = {"voice_to_voice_s": "latency_drift", "cpu_s": "cpu_drift",
                 "prompt_tokens_evaluated": "prompt_tokens_drift"}  # fmt: skip


def windows(done: int, warm_up: int) -> tuple[range, range]:
    """The turns compared: the first WINDOW_TURNS after the warm-up and the last WINDOW_TURNS
    (each half of what is left after the warm-up when the run is shorter)."""
    size = min(WINDOW_TURNS, max((done - warm_up) // 2, 1))
    return range(warm_up, warm_up + size), range(max(done - size, 0), done)


def _drift(records: list[dict], figure: str, first: range, last: range) -> dict:
    def median(turns: range) -> tuple[float | None, int]:
        values = [r[figure] for r in records if r["turn"] in turns and r.get(figure) is not None]
        return (statistics.median(values) if values else None), len(values)

    (early, n_early), (late, n_late) = median(first), median(last)
    drift = (late - early) / early if early and late is not None else None
    return {"first": early, "last": late, "n_first": n_early, "n_last": n_late,
            "drift": drift if drift is None else round(drift, 4)}  # fmt: skip


def _met(drift: dict) -> bool:
    return drift["drift"] is not None and drift["drift"] <= DRIFT_TARGET


def summary(turns, done, records, snapshots, warm_up, ended) -> dict:
    """Everything `soak.json` holds, after `done` of `turns` turns."""
    start, end = snapshots.get("warm_up", snapshots["end"]), snapshots["end"]
    first, last = windows(done, warm_up)
    questions = [r for r in records if r["kind"] == "question"]
    drifts = {figure: _drift(questions, figure, first, last) for figure in DRIFTS}
    latency = drifts["voice_to_voice_s"]
    memory = _drift(records, "rss_mb", first, last)  # every turn's reading, not one snapshot's
    if memory["drift"] is None:  # a run stopped before both windows had readings
        first_mb, last_mb = start["rss_bytes"] / 2**20, end["rss_bytes"] / 2**20
        memory = {"first": first_mb, "last": last_mb, "drift": round(last_mb / first_mb - 1, 4)}
    growth = memory["drift"]
    kinds: dict[str, int] = {}
    for record in records:
        kinds[record["kind"]] = kinds.get(record["kind"], 0) + 1
    return {
        "turns": turns,
        "turns_done": done,
        "complete": done == turns,
        "kinds": kinds,
        "turns_ended": ended,
        "snapshots": snapshots,
        "memory_mb": {"first": memory["first"], "last": memory["last"]},
        "memory_growth": round(growth, 4),
        "fd_growth": end["fds"] - start["fds"],
        "thread_growth": end["threads"] - start["threads"],
        "windows": {"first": [first.start, first.stop], "last": [last.start, last.stop]},
        "p50_first_s": latency["first"],
        "p50_last_s": latency["last"],
        "p50_drift": latency["drift"],
        "drift": drifts,
        "targets_met": {
            "memory": growth <= MEMORY_TARGET,
            "fds": end["fds"] <= start["fds"],
            "threads": end["threads"] <= start["threads"],
            **{name: _met(drifts[figure]) for figure, name in DRIFT_TARGETS.items()},
        },
    }


def report(results: dict) -> str:
    """The soak's figures as a Markdown table."""
    start, end = results["snapshots"].get("warm_up", {}), results["snapshots"]["end"]
    met = results["targets_met"]
    rows = [
        ("resident memory p50", f"{results['memory_mb']['first']:.0f} MB",
         f"{results['memory_mb']['last']:.0f} MB", f"{100 * results['memory_growth']:+.1f} %",
         "<= +5 %", met["memory"]),
        ("open file descriptors", start.get("fds"), end["fds"], f"{results['fd_growth']:+d}",
         "no growth", met["fds"]),
        ("threads", start.get("threads"), end["threads"], f"{results['thread_growth']:+d}",
         "no growth", met["threads"]),
    ]  # fmt: skip
    for figure, label in DRIFTS.items():
        drift = results["drift"][figure]
        change = "n/a" if drift["drift"] is None else f"{100 * drift['drift']:+.1f} %"
        target = DRIFT_TARGETS.get(figure)
        rows.append((label, _round(drift["first"]), _round(drift["last"]), change,
                     "<= +10 %" if target else "(for reading)", met.get(target)))  # fmt: skip
    first, last = results["windows"]["first"], results["windows"]["last"]
    done = "" if results["complete"] else f" (stopped after {results['turns_done']})"
    lines = [
        f"Soak: {results['turns']} turns{done} ({results['kinds']}), "
        f"{results['turns_ended']} ended; medians over the questions",
        "",
        f"| figure | turn {start.get('turn')} (medians: turns {first[0]}-{first[1] - 1}) "
        f"| end (medians: turns {last[0]}-{last[1] - 1}) | change | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for *cells, ok in rows:
        verdict = "" if ok is None else ("yes" if ok else "NO")
        lines.append("| " + " | ".join(str(c) for c in cells) + f" | {verdict} |")
    return "\n".join(lines) + "\n"


def _round(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}".rstrip("0").rstrip(".")
