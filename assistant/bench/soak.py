"""`assistant bench --soak N`: N turns through the real `Conversation` with the real models, as a
kiosk left running would take them: normal questions, barge-ins, silences and bad frames, fed in
real time. It reports resident memory, open file descriptors and threads after the warm-up and at
the end, and the drift of the median of each question's voice-to-voice latency, CPU time and
llama.cpp prompt tokens evaluated (soak_meter), against the targets: memory growth after warm-up
at most 5 %, no growth of descriptors or threads, median drift at most 10 %. Every turn is
appended to soak-turns.jsonl and the figures are rewritten every 50 turns, so a run that is
stopped still leaves its figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..audio.codec import silence
from ..config import Config
from ..conversation.engine import Conversation
from ..conversation.events import State, TurnEnded
from ..conversation.options import conversation_options
from ..memory import heap_usage
from ..types import AudioChunk, ChatMessage
from .corpus import RATE, make_corpus
from .e2e import LEAD_SILENCE, NO_TURN_AFTER, TURN_TIMEOUT, RealTimeFeed
from .run import bench_config
from .sinks import SpeakerSink
from .soak_figures import report, summary
from .soak_meter import TurnMeter

KINDS = ("question", "bad-frames", "barge-in", "silence", "question", "question")
WARM_UP_TURNS = 50  # resources are compared from here (or half the run, if shorter)
CHECKPOINT_TURNS = 50  # the figures are rewritten this often
TEXTS = ("What is the capital of France?", "Name a fruit that is yellow.",
         "How many days are in a week?", "Tell me about the moon.")  # fmt: skip
TURNS_FILE, FIGURES_FILE, TABLE_FILE = "soak-turns.jsonl", "soak.json", "soak.md"


def resources() -> dict[str, int]:
    """This process's resident memory (bytes), open file descriptors and threads (native)."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_bytes": int(fields["VmRSS"].split()[0]) * 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(fields["Threads"]),
    }


def memory_readings() -> dict[str, float]:
    """Where the memory is: resident, the C heap in use and held (a leak or fragmentation), and
    Python's allocated blocks (objects kept)."""
    readings = {"rss_mb": round(resources()["rss_bytes"] / 2**20, 1),
                "py_blocks": sys.getallocatedblocks()}  # fmt: skip
    if (heap := heap_usage()) is not None:
        readings |= {"heap_in_use_mb": round(heap[0] / 2**20, 1),
                     "heap_held_mb": round(heap[1] / 2**20, 1)}  # fmt: skip
    return readings


def run_soak(config: Config, turns: int, output: Path, say: Callable[[str], None]) -> dict:
    from ..providers.loading import load_conversation_engines

    config = bench_config(config, quick=False)
    options = conversation_options(config)
    utterances = make_corpus(output / "corpus", TEXTS)
    say(f"soak: loading the models, then {turns} turns in real time")
    engines, vad = load_conversation_engines(config, options.first_system_prompt)
    history = [ChatMessage("system", options.system_prompt)]
    conversation_of = lambda sink, on_event: Conversation(  # noqa: E731
        engines.stt, engines.chat, engines.tts, vad, sink, options,
        on_event=on_event, history=list(history),
    )  # fmt: skip
    described = {"llm": config.llm.model, "stt": config.stt.model, "tts": config.tts.voice}
    journal = _Journal(output, described)
    meter = TurnMeter(engines.chat)
    return asyncio.run(_soak(conversation_of, meter, utterances, turns, journal, say))


class _Journal:
    """The soak's files: one line per turn as it ends, the figures at each checkpoint."""

    def __init__(self, output: Path, described: dict) -> None:
        output.mkdir(parents=True, exist_ok=True)
        self.output, self.described = output, described
        self._turns = (output / TURNS_FILE).open("w", encoding="utf-8")

    def turn(self, record: dict) -> None:
        self._turns.write(json.dumps(record) + "\n")
        self._turns.flush()

    def figures(self, results: dict) -> None:
        results["config"] = self.described
        (self.output / FIGURES_FILE).write_text(json.dumps(results, indent=1))
        (self.output / TABLE_FILE).write_text(report(results))

    def close(self) -> None:
        self._turns.close()


async def _soak(conversation_of, meter, utterances, turns: int, journal, say) -> dict:
    sink, ended = SpeakerSink(), []  # when each turn ended: not the events (they hold the audio)
    conversation = conversation_of(
        sink, lambda e: isinstance(e, TurnEnded) and ended.append(e.ended_at)
    )
    microphone = RealTimeFeed(conversation)
    warm_up = min(WARM_UP_TURNS, max(turns // 2, 1))
    records: list[dict] = []
    snapshots = {}
    random = np.random.default_rng(7)

    def figures(done: int) -> dict:
        current = {**snapshots, "end": {"turn": done, **resources()}}
        return summary(turns, done, records, current, warm_up, len(ended))

    try:
        for index in range(turns):
            kind = KINDS[index % len(KINDS)]
            utterance = utterances[index % len(utterances)]
            before, started = meter.read(), time.monotonic()
            record: dict = {"turn": index, "kind": kind}
            if kind == "question":
                latency = await _question(conversation, microphone, sink, ended, utterance)
                record["voice_to_voice_s"] = latency if latency is None else round(latency, 3)
            elif kind == "barge-in":
                await _barge_in(conversation, microphone, sink, utterance, utterances[0])
            elif kind == "silence":
                await microphone.play(silence(2.0, RATE).pcm)
            else:
                for chunk in _bad_frames(random):
                    conversation.feed(chunk)
                await microphone.play(silence(0.5, RATE).pcm)
            record |= {"wall_s": round(time.monotonic() - started, 3), **meter.cost(before),
                       **memory_readings()}  # fmt: skip
            records.append(record)
            journal.turn(record)
            if index + 1 == warm_up:
                snapshots["warm_up"] = {"turn": index + 1, **resources()}
            if (index + 1) % CHECKPOINT_TURNS == 0 and index + 1 < turns:
                journal.figures(figures(index + 1))
            if (index + 1) % 25 == 0:
                say(f"  {index + 1}/{turns} turns, {resources()}")
    finally:
        await conversation.close()
        journal.close()
        if len(records) < turns:  # stopped early (Ctrl-C, an error): the figures so far
            journal.figures(figures(len(records)))
    results = figures(turns)
    journal.figures(results)
    return results


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
    await conversation.wait_idle()  # the model's work after the reply is this turn's too
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
    await conversation.wait_idle()


def _bad_frames(random) -> list[AudioChunk]:
    """What a broken microphone or client may deliver: empty chunks, odd rates, clipping noise."""
    noise = random.integers(-32768, 32767, 4000, dtype=np.int16).tobytes()
    return [AudioChunk(b"", RATE), AudioChunk(noise[:2], 8000), AudioChunk(noise, 48000),
            AudioChunk(noise, 11025), AudioChunk(bytes(64000), RATE)]  # fmt: skip
