"""The text conversation in the terminal (`assistant chat`)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .history import DisabledHistory
from .providers import ChatModel, close_stream
from .recorder import Recorder
from .types import ChatMessage

HELP = "Type a message and press Enter. /reset starts a new conversation, /exit (or Ctrl-D) quits."


def run_chat(
    model: ChatModel,
    system_prompt: str,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    recorder: Recorder | None = None,
) -> None:
    """Read lines, stream each reply as it is written; Ctrl-C stops a reply, twice quits.

    Each finished turn is saved through `recorder`, whose resumed context (if any) comes first.
    """
    interactive = stdin.isatty()
    recorder = recorder or Recorder(DisabledHistory())
    history = [ChatMessage("system", system_prompt), *recorder.context]
    if interactive:
        print(HELP, file=stdout)
    while True:
        try:
            if interactive:
                print("you> ", end="", file=stdout, flush=True)
            line = stdin.readline()
        except KeyboardInterrupt:
            print(file=stdout)
            return
        if not line:
            return
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command = text.lower()
            if command in ("/exit", "/quit"):
                return
            if command == "/reset":
                history = history[:1]
                recorder.new_conversation()
                print("(new conversation)", file=stdout, flush=True)
            else:
                print(f"unknown command {text}. {HELP}", file=stdout, flush=True)
            continue
        history.append(ChatMessage("user", text))
        recorder.record("user", text)
        started = time.time()
        latencies: dict[str, float] = {}
        reply, stopped = _stream_reply(model, history, stdout, latencies)
        history.append(ChatMessage("assistant", reply))
        recorder.record(
            "assistant", reply, interrupted=stopped, started_at=started, latencies=latencies
        )


def _stream_reply(
    model: ChatModel, history: list[ChatMessage], stdout: TextIO, latencies: dict[str, float]
) -> tuple[str, bool]:
    """The reply as shown, and whether Ctrl-C stopped it; notes first_token and total ms."""
    print("assistant> ", end="", file=stdout, flush=True)
    parts: list[str] = []
    stopped = False
    started = time.perf_counter()
    stream = model.stream_chat(history)
    try:
        for delta in stream:
            latencies.setdefault("first_token", (time.perf_counter() - started) * 1000)
            if not parts:
                delta = delta.lstrip()
            parts.append(delta)
            print(delta, end="", file=stdout, flush=True)
    except KeyboardInterrupt:
        stopped = True
        print(" [stopped]", end="", file=stdout)
    finally:
        close_stream(stream)
    latencies["total"] = (time.perf_counter() - started) * 1000
    print(file=stdout, flush=True)
    return "".join(parts).strip(), stopped
