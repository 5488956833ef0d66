"""`assistant bench --soak N` with a small N: every kind of turn (question, bad frames, barge-in,
silence) through the real engine and models; the figures are reported, not asserted (the full
1,000-turn run and its targets are in the README's performance section)."""

from __future__ import annotations

import json
import subprocess

from serving import ASSISTANT, clean_env


def test_a_short_soak_reports_memory_descriptors_threads_and_drift(tmp_path):
    output = tmp_path / "soak"
    result = subprocess.run(
        [ASSISTANT, "--set", "llm.max_tokens=12", "bench", "--soak", "4", "--output", str(output)],
        capture_output=True, text=True, env=clean_env(tmp_path), timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads((output / "soak.json").read_text())
    assert figures["kinds"] == {"question": 1, "bad-frames": 1, "barge-in": 1, "silence": 1}
    assert figures["turns_ended"] >= 1  # the question (and the barge-in's turns) were answered
    for moment in ("warm_up", "end"):
        assert set(figures["snapshots"][moment]) == {"turn", "rss_bytes", "fds", "threads"}
    assert set(figures["targets_met"]) == {"memory", "fds", "threads", "latency_drift"}
    assert "| resident memory |" in result.stdout and "| threads |" in result.stdout
