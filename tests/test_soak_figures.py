"""The soak's figures from its turn records (assistant/bench/soak_figures.py): what the targets
are judged on, with records made up for the purpose (the real soak is in test_soak.py)."""

from __future__ import annotations

from assistant.bench.soak_figures import report, summary

KINDS = ("question", "bad-frames", "barge-in", "silence")


def records(turns: int, rss_mb, latency_s=lambda turn: 1.0) -> list[dict]:
    return [{"turn": t, "kind": KINDS[t % 4], "rss_mb": rss_mb(t), "cpu_s": 2.0,
             **({"voice_to_voice_s": latency_s(t)} if t % 4 == 0 else {})}
            for t in range(turns)]  # fmt: skip


def reading(turn: int, mb: float) -> dict:
    return {"turn": turn, "rss_bytes": int(mb * 2**20), "fds": 15, "threads": 12}


def snapshots(start_mb: float, end_mb: float, turns: int) -> dict:
    return {"warm_up": reading(50, start_mb), "end": reading(turns, end_mb)}


def test_memory_is_judged_on_the_windows_medians_not_on_two_readings():
    """A turn's reading swings with what it holds at its end: a low reading at turn 50 and a high
    one at the end are not growth when the medians around them are flat."""
    swinging = records(300, lambda t: 540 + (25 if t % 3 == 0 else 0))
    results = summary(300, 300, swinging, snapshots(540, 565, 300), 50, 75)
    assert results["memory_growth"] == 0 and results["targets_met"]["memory"]
    assert "| resident memory p50 | 540 MB | 540 MB | +0.0 % | <= +5 % | yes |" in report(results)


def test_memory_that_grows_misses_the_target():
    growing = records(300, lambda t: 500 + t / 5)  # 510 MB at turn 50, 550 MB near the end
    results = summary(300, 300, growing, snapshots(510, 560, 300), 50, 75)
    assert 0.07 < results["memory_growth"] < 0.09 and not results["targets_met"]["memory"]
    assert results["memory_mb"]["first"] < results["memory_mb"]["last"]


def test_latency_drift_compares_the_first_and_last_windows_after_the_warm_up():
    slowing = records(300, lambda t: 500, latency_s=lambda t: 1.0 if t < 200 else 1.2)
    results = summary(300, 300, slowing, snapshots(500, 500, 300), 50, 75)
    assert results["windows"] == {"first": [50, 100], "last": [250, 300]}
    assert results["p50_drift"] == 0.2 and not results["targets_met"]["latency_drift"]


def test_records_without_memory_readings_fall_back_to_the_snapshots():
    old = [{k: v for k, v in r.items() if k != "rss_mb"} for r in records(200, lambda t: 0)]
    results = summary(200, 200, old, snapshots(500, 530, 200), 50, 50)
    assert results["memory_growth"] == 0.06 and not results["targets_met"]["memory"]
