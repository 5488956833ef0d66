"""`assistant bench --tools`: how fast the local commands are (end of speech to first audio, next
to the chat path's, on the same engines), and how well each model tier calls the tools on the 30
fixed requests (a valid call, the right tool, the right arguments)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ..config import Config
from ..conversation.events import TurnTimings
from ..conversation.reply import Reply, ReplySettings, Stages, Workers
from ..conversation.sinks import CollectingSink
from ..providers import close_stream
from ..tools import LocalSkills, ToolStore
from ..tools.hermes import MalformedCall, looks_like_call, parse_calls
from ..tools.model_tools import offered
from ..tools.registry import Registry, ToolCallError, check_arguments
from ..types import ChatMessage
from .corpus import TEXTS, make_corpus
from .machine import load_average
from .stats import summary
from .tool_requests import REQUESTS, arguments_right

COMMANDS = ("Please set a timer for three minutes.", "What time is it?",
            "Please add milk to my shopping list.", "What is seventeen times twenty three?",
            "Please read my shopping list.")  # fmt: skip
CALL_TOKENS = 96  # enough for any call of the 30


def measure_latency(config: Config, *, iterations: int, corpus_dir: Path, say) -> dict:
    """End of speech to first audio: the local commands, then the chat path's questions."""
    from ..providers.loading import load_conversation_engines

    engines, _ = load_conversation_engines(config, config.llm.system_prompt)
    with tempfile.TemporaryDirectory() as scratch:
        store = ToolStore.open(Path(scratch) / "tools.db")
        stages = Stages(engines.stt, engines.chat, engines.tts, LocalSkills.on(store))
        results = {}
        for path, texts in (("local", COMMANDS), ("chat", TEXTS[: len(COMMANDS)])):
            utterances = make_corpus(corpus_dir, texts)
            times: dict[str, list] = {"first_audio": [], "think": []}
            for _ in range(iterations):
                for utterance in utterances:
                    first_audio, think = _first_audio_ms(stages, config, utterance.audio)
                    times["first_audio"].append(first_audio)
                    times["think"].append(think)
                    say(f"  {path}: {utterance.text} -> {first_audio} ms (think {think} ms)")
            results[path] = {name: summary(values, 0) for name, values in times.items()}
        store.close()
    return results


def _first_audio_ms(stages: Stages, config: Config, audio) -> tuple[float | None, float | None]:
    """End of speech to first audio, and the thinking in it: transcript to first sentence."""
    workers = Workers()
    now = time.monotonic()
    reply = Reply(stages, workers, audio, history=[ChatMessage("system", config.llm.system_prompt)],
                  sink=CollectingSink(), settings=ReplySettings(),
                  timings=TurnTimings(speech_end=now, endpoint=now))  # fmt: skip
    try:
        reply.run_blocking()
    finally:
        workers.shutdown(wait=True)
    timings = reply.timings
    first_audio = _ms(now, timings.first_audio)
    return first_audio, _ms(timings.transcript, timings.first_sentence)


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(1000 * (end - start))


def measure_tool_calls(config: Config, say) -> dict:
    """The 30 requests to the configured model, tools offered; a tally and the time per call."""
    from ..providers.registry import create_chat
    from ..providers.store import ModelStore

    chat = create_chat(config, ModelStore.open(config.models.dir))
    tally = {"right": 0, "extra_arguments": 0, "wrong_arguments": 0, "wrong_tool": 0,
             "malformed": 0, "no_call": 0}  # fmt: skip
    seconds: list[float] = []
    replies: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        registry = LocalSkills.on(ToolStore.open(Path(scratch) / "tools.db")).registry
        for request in REQUESTS:
            prompt = offered(registry, [ChatMessage("system", config.llm.system_prompt),
                                        ChatMessage("user", request.text)])  # fmt: skip
            started = time.monotonic()
            text = _reply_or_call(chat, prompt)
            seconds.append(time.monotonic() - started)
            outcome = _outcome(request, text, registry)
            tally[outcome] += 1
            replies.append({"request": request.text, "reply": text, "outcome": outcome})
            say(f"  {config.llm.model}: {request.text} -> {outcome}: {text.strip()[:90]!r}")
    return {"model": config.llm.model, "requests": len(REQUESTS), **tally,
            "success_rate": round(tally["right"] / len(REQUESTS), 3),
            "seconds": summary(seconds, 2), "replies": replies}  # fmt: skip


def _reply_or_call(chat, prompt: list[ChatMessage]) -> str:
    """The model's reply, cut short once it is plainly words (no call): that is decided."""
    stream, text = chat.stream_chat(prompt, max_tokens=CALL_TOKENS, temperature=0.0), ""
    try:
        for delta in stream:
            text += delta
            if looks_like_call(text) is False:
                break
    finally:
        close_stream(stream)
    return text


def _outcome(request, text: str, registry: Registry) -> str:
    """right: the call would run (its arguments fit the tool's schema) and has what was asked;
    extra_arguments: so, but with arguments the tool does not have (it refuses the call)."""
    if not looks_like_call(text):
        return "no_call"
    try:
        calls = parse_calls(text, registry.names)
    except MalformedCall:
        return "malformed"
    if calls[0].name != request.tool:
        return "wrong_tool"
    schema = registry.schema(calls[0].name)
    known = {k: v for k, v in calls[0].arguments.items() if k in schema.get("properties", {})}
    try:
        arguments = check_arguments(schema, known)
    except ToolCallError:
        return "wrong_arguments"
    if not arguments_right(request, arguments):
        return "wrong_arguments"
    return "right" if known == calls[0].arguments else "extra_arguments"


def run_tools_bench(config: Config, *, tiers: tuple[str, ...], iterations: int, output: Path,
                    say: Callable[[str], None]) -> dict:  # fmt: skip
    from .quality import tier_config

    results = {"load_before": load_average(), "latency_ms": measure_latency(
        config, iterations=iterations, corpus_dir=output / "corpus", say=say)}  # fmt: skip
    results["tool_calls"] = {tier: measure_tool_calls(tier_config(config, tier), say)
                             for tier in tiers}  # fmt: skip
    results["load_after"] = load_average()
    return results


def write_tools_report(results: dict, output: Path) -> tuple[Path, Path]:
    output.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output / "benchmark-tools.json", output / "benchmark-tools.md"
    json_path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    latency = results["latency_ms"]
    lines = ["# Tools benchmark", "",
             f"Load average before: {results['load_before']}; after: {results['load_after']}", "",
             "| path | end of speech -> first audio p50 / p95 ms | of it, transcript -> first "
             "sentence p50 / p95 ms | n |", "|---|---|---|---|"]  # fmt: skip
    for path in ("local", "chat"):
        audio, think = latency[path]["first_audio"], latency[path]["think"]
        lines.append(f"| {path} | {audio['p50']} / {audio['p95']} | {think['p50']} / "
                     f"{think['p95']} | {audio['n']} |")  # fmt: skip
    lines += [
        "",
        "| tier (model) | right | + extra args | wrong args | wrong tool | malformed | "
        "no call | success | s/request p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tier, tally in results["tool_calls"].items():
        lines.append(
            f"| {tier} ({tally['model']}) | {tally['right']} | {tally['extra_arguments']} | "
            f"{tally['wrong_arguments']} | "
            f"{tally['wrong_tool']} | {tally['malformed']} | {tally['no_call']} | "
            f"{tally['success_rate']:.0%} | {tally['seconds']['p50']} |")  # fmt: skip
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
