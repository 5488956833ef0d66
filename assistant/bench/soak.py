"""`assistant bench --soak N`: N turns through the real `Conversation` with the real models, as a
kiosk left running would take them: normal questions, barge-ins, silences and bad frames, fed in
real time. It reports resident memory, open file descriptors and threads after the warm-up and at
the end, and the drift of the median voice-to-voice latency, against the targets: memory growth
after warm-up at most 5 %, no growth of descriptors or threads, median drift at most 10 %.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..audio.codec import silence
from ..config import Config
from ..conversation.engine import Conversation
from ..conversation.events import State, TurnEnded
from ..conversation.options import conversation_options
from ..types import AudioChunk, ChatMessage
from .corpus import RATE, Utterance, make_corpus
from .e2e import LEAD_SILENCE, NO_TURN_AFTER, TURN_TIMEOUT, RealTimeFeed
from .run import bench_config
from .sinks import SpeakerSink

KINDS = ("question", "bad-frames", "barge-in", "silence", "question", "question")
WARM_UP_TURNS = 50  # resources are compared from here (or half the run, if shorter)
TEXTS = ("What is the capital of France?", "Name a fruit that is yellow.",
         "How many days are in a week?", "Tell me about the moon.")  # fmt: skip
MEMORY_TARGET, DRIFT_TARGET = 0.05, 0.10  # fractions


def resources() -> dict[str, int]:
    """This process's resident memory (bytes), open file descriptors and threads (native)."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_bytes": int(fields["VmRSS"].split()[0]) * 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(fields["Threads"]),
    }


def run_soak(config: Config, turns: int, output: Path, say: Callable[[str], None]) -> dict:
    from ..providers.loading import load_conversation_engines

    config = bench_config(config, quick=False)
    options = conversation_options(config)
    utterances = make_corpus(output / "corpus", TEXTS)
    say(f"soak: loading the models, then {turns} turns in real time")
    engines, vad = load_conversation_engines(config, options.system_prompt)
    history = [ChatMessage("system", options.system_prompt)]
    conversation_of = lambda sink, on_event: Conversation(  # noqa: E731
        engines.stt, engines.chat, engines.tts, vad, sink, options,
        on_event=on_event, history=list(history),
    )  # fmt: skip
    results = asyncio.run(_soak(conversation_of, utterances, turns, say))
    results["config"] = {"llm": config.llm.model, "stt": config.stt.model, "tts": config.tts.voice}
    output.mkdir(parents=True, exist_ok=True)
    (output / "soak.json").write_text(json.dumps(results, indent=1))
    return results


async def _soak(conversation_of, utterances: list[Utterance], turns: int, say) -> dict:
    sink, ended = SpeakerSink(), []
    conversation = conversation_of(sink, lambda e: isinstance(e, TurnEnded) and ended.append(e))
    microphone = RealTimeFeed(conversation)
    warm_up = min(WARM_UP_TURNS, max(turns // 2, 1))
    latencies: list[tuple[int, float]] = []  # turn index, voice to voice (s)
    counts = dict.fromkeys(KINDS, 0)
    snapshots = {}
    random = np.random.default_rng(7)
    try:
        for index in range(turns):
            kind = KINDS[index % len(KINDS)]
            counts[kind] += 1
            utterance = utterances[index % len(utterances)]
            if kind == "question":
                latency = await _question(conversation, microphone, sink, ended, utterance)
                if latency is not None:
                    latencies.append((index, latency))
            elif kind == "barge-in":
                await _barge_in(conversation, microphone, sink, utterance, utterances[0])
            elif kind == "silence":
                await microphone.play(silence(2.0, RATE).pcm)
            else:
                for chunk in _bad_frames(random):
                    conversation.feed(chunk)
                await microphone.play(silence(0.5, RATE).pcm)
            if index + 1 == warm_up:
                snapshots["warm_up"] = {"turn": index + 1, **resources()}
            if (index + 1) % 25 == 0:
                say(f"  {index + 1}/{turns} turns, {resources()}")
    finally:
        await conversation.close()
    snapshots["end"] = {"turn": turns, **resources()}
    return _summary(turns, counts, snapshots, latencies, warm_up, len(ended))


async def _question(conversation, microphone, sink, ended, utterance) -> float | None:
    """Ask; the seconds from the end of the speech to the first reply audio (None: no reply)."""
    sink.watch()
    sink.first_play = None
    before = len(ended)
    await microphone.play(silence(LEAD_SILENCE, RATE).pcm)
    start = await microphone.play(utterance.audio.pcm)
    true_end = start + utterance.speech_end

    def answered() -> bool:
        if conversation.state != State.LISTENING or conversation.busy:
            return False
        return len(ended) > before or time.monotonic() > true_end + NO_TURN_AFTER

    await microphone.silence_until(answered, TURN_TIMEOUT)
    first = sink.first_play
    return None if first is None or len(ended) == before else float(first - true_end)


async def _barge_in(conversation, microphone, sink, question, interruption) -> None:
    sink.watch()
    sink.first_play = None
    await microphone.play(question.audio.pcm)
    await microphone.silence_until(lambda: sink.first_play is not None, TURN_TIMEOUT)
    await microphone.play(interruption.audio.pcm)  # cut in; it is answered in turn
    await microphone.silence_until(
        lambda: conversation.state == State.LISTENING and not conversation.busy, TURN_TIMEOUT
    )


def _bad_frames(random) -> list[AudioChunk]:
    """What a broken microphone or client may deliver: empty chunks, odd rates, clipping noise."""
    noise = random.integers(-32768, 32767, 4000, dtype=np.int16).tobytes()
    return [AudioChunk(b"", RATE), AudioChunk(noise[:2], 8000), AudioChunk(noise, 48000),
            AudioChunk(noise, 11025), AudioChunk(bytes(64000), RATE)]  # fmt: skip


def _summary(turns, counts, snapshots, latencies, warm_up, ended) -> dict:
    start, end = snapshots.get("warm_up", snapshots["end"]), snapshots["end"]
    after = [s for i, s in latencies if i >= warm_up] or [s for _, s in latencies]
    half = max(len(after) // 2, 1)
    first, last = after[:half], after[-half:]
    p50_first = statistics.median(first) if first else None
    p50_last = statistics.median(last) if last else None
    drift = (p50_last - p50_first) / p50_first if p50_first and p50_last else None
    growth = (end["rss_bytes"] - start["rss_bytes"]) / start["rss_bytes"]
    return {
        "turns": turns,
        "kinds": counts,
        "turns_ended": ended,
        "snapshots": snapshots,
        "memory_growth": round(growth, 4),
        "fd_growth": end["fds"] - start["fds"],
        "thread_growth": end["threads"] - start["threads"],
        "p50_first_s": p50_first and round(p50_first, 3),
        "p50_last_s": p50_last and round(p50_last, 3),
        "p50_drift": drift if drift is None else round(drift, 4),
        "targets_met": {
            "memory": growth <= MEMORY_TARGET,
            "fds": end["fds"] <= start["fds"],
            "threads": end["threads"] <= start["threads"],
            "latency_drift": drift is not None and drift <= DRIFT_TARGET,
        },
    }


def report(results: dict) -> str:
    """The soak's figures as a Markdown table."""
    start, end = results["snapshots"].get("warm_up", {}), results["snapshots"]["end"]
    met = results["targets_met"]
    mb = lambda value: f"{value / 2**20:.0f} MB"  # noqa: E731
    rows = [
        ("resident memory", mb(start.get("rss_bytes", 0)), mb(end["rss_bytes"]),
         f"{100 * results['memory_growth']:+.1f} %", "<= +5 %", met["memory"]),
        ("open file descriptors", start.get("fds"), end["fds"], f"{results['fd_growth']:+d}",
         "no growth", met["fds"]),
        ("threads", start.get("threads"), end["threads"], f"{results['thread_growth']:+d}",
         "no growth", met["threads"]),
        ("voice to voice p50 (s)", results["p50_first_s"], results["p50_last_s"],
         "n/a" if results["p50_drift"] is None else f"{100 * results['p50_drift']:+.1f} %",
         "<= +10 %", met["latency_drift"]),
    ]  # fmt: skip
    lines = [
        f"Soak: {results['turns']} turns ({results['kinds']}), {results['turns_ended']} ended",
        "",
        f"| figure | after warm-up (turn {start.get('turn')}) | end | change | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for *cells, ok in rows:
        lines.append("| " + " | ".join(str(c) for c in cells) + f" | {'yes' if ok else 'NO'} |")
    return "\n".join(lines) + "\n"
