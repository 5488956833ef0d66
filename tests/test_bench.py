"""`assistant bench --quick`: the benchmark runs end to end and reports every figure.

No timing is asserted here: the targets live in the benchmark's own report, not in tests.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.bench.corpus import make_corpus, speech_bounds, word_error_rate
from assistant.bench.report import targets_for
from assistant.bench.stats import percentile, summary
from assistant.types import ChatMessage

REPO = Path(__file__).resolve().parent.parent
ASSISTANT = str(Path(sys.executable).with_name("assistant"))


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[dict, str, Path]:
    output = tmp_path_factory.mktemp("bench")
    bench = subprocess.Popen(
        [ASSISTANT, "bench", "--quick", "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},
    )  # fmt: skip
    try:
        stdout, stderr = bench.communicate(timeout=300)
    except subprocess.TimeoutExpired:  # where every thread was: faulthandler prints on SIGABRT
        bench.send_signal(signal.SIGABRT)
        stdout, stderr = bench.communicate(timeout=60)
        pytest.fail(f"the quick benchmark did not end within 300 s:\n{stderr[-12000:]}")
    assert bench.returncode == 0, stderr[-3000:]
    return json.loads((output / "benchmark.json").read_text()), stdout, output


def _is_number(value, low: float = 0.0, high: float = math.inf) -> bool:
    return isinstance(value, int | float) and low <= value <= high


def _figure(figure: dict, low: float = 0.0, high: float = math.inf) -> None:
    assert figure["n"] >= 1, figure
    assert _is_number(figure["p50"], low, high) and _is_number(figure["p95"], low, high), figure
    assert figure["p50"] <= figure["p95"]


def test_every_stage_is_measured_through_the_project_and_the_raw_engines(quick_run):
    results, _, _ = quick_run
    stages = results["stages"]
    for measured in (stages, stages["raw"]):
        _figure(measured["stt"]["latency_ms"], 1, 60_000)
        _figure(measured["stt"]["rtf"], 0.001, 50)
        _figure(measured["stt"]["wer"], 0, 1)
        _figure(measured["llm"]["ttft_ms"], 0.1, 60_000)
        _figure(measured["llm"]["tokens_per_s"], 0.1, 100_000)
        _figure(measured["llm"]["first_sentence_ms"], 0.1, 60_000)
        _figure(measured["tts"]["first_audio_ms"], 1, 60_000)
        _figure(measured["tts"]["rtf"], 0.001, 50)
    assert stages["stt"]["wer_mean"] <= 0.5  # espeak's plain questions are heard
    ratios = stages["project_over_raw"]
    for name in ("stt_latency", "llm_ttft", "llm_first_sentence", "llm_time_per_token",
                 "tts_first_audio"):  # fmt: skip
        assert _is_number(ratios[name], 0.01, 100), (name, ratios[name])


def test_voice_to_voice_streaming_and_sequential_are_measured(quick_run):
    results, _, _ = quick_run
    e2e = results["voice_to_voice"]
    _figure(e2e["streaming_ms"], 1, 60_000)
    _figure(e2e["sequential_ms"], 1, 120_000)
    _figure(e2e["sequential_endpoint_ms"], 1, 5_000)
    assert _is_number(e2e["streaming_over_sequential"], 0.01, 100)
    for stage in ("endpoint", "transcript", "first_token", "first_sentence", "first_audio"):
        assert stage in e2e["streaming_stages_ms"]
    turns = e2e["turns"]["streaming"]
    assert len(turns) == len(results["meta"]["utterances"]) and e2e["missed_turns"] == 0
    assert all(turn["heard"] and turn["reply"] for turn in turns)


def test_cold_start_memory_and_barge_in_are_measured(quick_run):
    results, _, _ = quick_run
    cold = results["cold_start"]
    assert _is_number(cold["ready_s"], 0.1, 120)
    assert _is_number(cold["load_and_warm_s"], 0.01, cold["ready_s"])
    assert _is_number(cold["peak_rss_mb"], 50, 16_000)
    assert _is_number(results["memory"]["bench_peak_rss_mb"], 50, 16_000)
    _figure(results["barge_in"]["reaction_ms"], 0, 10_000)


def test_the_report_names_the_machine_models_and_settings_and_checks_every_target(quick_run):
    results, stdout, output = quick_run
    meta = results["meta"]
    assert meta["quick"] is True and meta["iterations"] == 1
    assert meta["cpu_count"] >= 1 and meta["machine"]
    assert meta["models"] == {"stt": "whisper-tiny.en", "llm": "smollm2-135m-instruct",
                              "tts": "en_US-joe-medium"}  # fmt: skip
    assert {"stt.threads", "llm.threads", "silence_ms", "speculate_ms"} <= set(meta["settings"])
    assert meta["settings"]["turn_detection"].startswith("smart (ask after 200 ms")
    assert meta["tier"] == "tiny"
    assert "AVX" in meta["llama_cpp"]["cpu"] or "NEON" in meta["llama_cpp"]["cpu"], meta
    assert meta["llama_cpp"]["weights_repacked"] is True  # setup's build has no AMX
    assert [t["key"] for t in results["targets"]] == [t.key for t in targets_for("tiny")]
    assert all(isinstance(t["met"], bool) for t in results["targets"])
    table = (output / "benchmark.md").read_text()
    assert table == stdout
    for row in (
        "STT latency",
        "LLM time to first token",
        "TTS time to first audio",
        "voice to voice, streaming",
        "voice to voice, sequential chain",
        "cold start",
        "peak resident memory",
        "barge-in reaction",
        "llama.cpp computes with ",
        "| target | value | met |",
    ):
        assert row in table, row
    assert (output / "corpus").is_dir()  # the utterances are cached for the next run


def test_the_script_is_the_same_command():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--help"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--quick" in result.stdout and "--iterations" in result.stdout


def test_the_corpus_knows_where_speech_ends(tmp_path):
    [utterance] = make_corpus(tmp_path, ("How many legs does a spider have?",))
    assert 1.0 < utterance.speech_seconds < 6.0
    assert 0 <= utterance.speech_start < utterance.speech_end <= utterance.audio.seconds
    start, end = speech_bounds(utterance.audio)
    assert (start, end) == (utterance.speech_start, utterance.speech_end)
    again = make_corpus(tmp_path, ("How many legs does a spider have?",))[0]  # from the cache
    assert again.audio == utterance.audio


def test_word_error_rate_and_percentiles():
    assert word_error_rate("What color is the sky?", "What colour is the sky?") == 0
    assert word_error_rate("what is sky", "What is the sky?") == 0.25
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert summary([10, None, 30]) == {"p50": 20.0, "p95": 29.0, "n": 2}
    assert summary([None]) == {"p50": None, "p95": None, "n": 0}


def test_side_by_side_variants_are_conversation_options_and_tabled():
    from assistant.bench.e2e import STAGES
    from assistant.bench.side_by_side import parse_variant, table, with_variant
    from assistant.conversation.options import ConversationOptions
    from assistant.errors import UsageError

    assert parse_variant("first_chunk_ms=150, first_chunk_words=4") == {
        "first_chunk_ms": 150,
        "first_chunk_words": 4,
    }
    with pytest.raises(UsageError, match="no_such_option"):
        parse_variant("no_such_option=1")
    base = ConversationOptions(system_prompt="Be brief.")
    old = with_variant(base, "live_transcription=false, endpointing.pause_ms=32")
    assert not old.live_transcription and old.endpointing.pause_ms == 32
    assert old.endpointing.turn_check_ms == base.endpointing.turn_check_ms
    with pytest.raises(UsageError, match=r"endpointing\.no_such_setting"):
        parse_variant("endpointing.no_such_setting=1")
    cell = {"p50": 1.0, "p95": 2.0, "n": 1}
    result = {
        "voice_to_voice_ms": cell,
        "stages_ms": dict.fromkeys(STAGES, cell),
        "first_token_to_audio_ms": cell,
        "first_chunk_words": cell,
        "first_chunk_heard_wer": 0.0,
    }
    lines = table({"a": result, "b": result}).splitlines()
    assert lines[0] == "| p50 / p95 | a | b |" and "| voice to voice (ms) | 1.0 / 2.0 |" in lines[2]
    assert lines[-1] == "| first chunk heard back, WER | 0.0 | 0.0 |"


def test_side_by_side_starts_each_variant_with_the_question_not_yet_read(chat):
    """Each variant's turn finds the model as after another turn (the system prompt read, the
    question not), not the question cached by the variant before it."""
    from assistant.bench.side_by_side import _AskedLast
    from assistant.bench.stages import PRIME_QUESTION

    asked = _AskedLast(chat)
    asked.forget_question()  # nothing asked yet: nothing to do
    system = ChatMessage("system", "Be brief.")
    question = [system, ChatMessage("user", "What is the capital of France?")]
    "".join(asked.stream_chat(question, max_tokens=4))
    asked_tokens = chat.prompt_tokens(question)
    asked.forget_question()
    cached = chat.llama.input_ids[: chat.llama.n_tokens].tolist()
    other = chat.prompt_tokens([system, ChatMessage("user", PRIME_QUESTION)])
    assert cached[: len(other)] == other and cached[: len(asked_tokens)] != asked_tokens


def test_each_tier_is_checked_against_the_targets_set_for_its_models():
    limits = {tier: {(t.key, t.limit) for t in targets_for(tier)} for tier in ("tiny", "default")}
    assert ("peak_memory_mb", 600) in limits["tiny"]  # issue 11: the tiny tier's memory
    assert not any(key == "peak_memory_mb" for key, _ in limits["default"])
    assert {("v2v_streaming_p50", 900), ("v2v_streaming_p50", 500)} <= limits["default"]
    assert ("v2v_streaming_p50", 700) in limits["tiny"]
    assert all(("barge_in_p50", 150) in found for found in limits.values())
