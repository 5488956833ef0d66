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
    assert set(figures["targets_met"]) == {
        "memory", "fds", "threads", "latency_drift", "cpu_drift", "prompt_tokens_drift"
    }  # fmt: skip
    assert figures["complete"] and figures["turns_done"] == 4
    assert set(figures["drift"]) == {
        "voice_to_voice_s", "cpu_s", "prompt_tokens_evaluated", "tokens_generated"
    }  # fmt: skip
    assert "| resident memory p50 |" in result.stdout and "| threads |" in result.stdout
    assert "| process CPU per question p50 (s) |" in result.stdout
    turns = [json.loads(line) for line in (output / "soak-turns.jsonl").read_text().splitlines()]
    assert [t["kind"] for t in turns] == ["question", "bad-frames", "barge-in", "silence"]
    question, bad_frames = turns[0], turns[1]
    assert question["voice_to_voice_s"] > 0 and question["wall_s"] >= question["voice_to_voice_s"]
    # the turn's CPU time: the process's, and its threads' (the language model's among them:
    # llama.cpp computes on a thread of its own, whichever thread asks)
    assert question["cpu_s"] > 0 and question["thread_cpu_s"]["llama.cpp"] > 0
    assert sum(question["thread_cpu_s"].values()) <= question["cpu_s"] + 0.5
    # llama.cpp evaluated the new part of the prompt (the question, not the whole history) and
    # generated at most llm.max_tokens; a turn with no reply asked nothing of it
    assert 0 < question["prompt_tokens_evaluated"] < 200
    assert 0 < question["tokens_generated"] <= 12
    assert bad_frames["prompt_tokens_evaluated"] == 0 and bad_frames["tokens_generated"] == 0
    # each turn's resident memory and the tokens llama.cpp holds (what every new token attends
    # over): the prompt and the reply of the question, more after it
    assert all(t["rss_mb"] > 100 for t in turns)
    assert question["context_tokens"] >= question["prompt_tokens_evaluated"]
    assert turns[-1]["context_tokens"] >= question["context_tokens"]
    # where the memory is: the C heap in use and held (glibc), Python's allocated blocks
    assert all(0 < t["heap_in_use_mb"] <= t["heap_held_mb"] for t in turns)
    assert all(t["py_blocks"] > 10_000 for t in turns)
