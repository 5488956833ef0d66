"""The text conversation in the terminal (`assistant chat`)."""

from __future__ import annotations

import sys
from typing import TextIO

from .providers import ChatModel
from .types import ChatMessage

HELP = "Type a message and press Enter. /reset starts a new conversation, /exit (or Ctrl-D) quits."


def run_chat(
    model: ChatModel, system_prompt: str, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> None:
    """Read lines, stream each reply as it is written; Ctrl-C stops a reply, twice quits."""
    interactive = stdin.isatty()
    history = [ChatMessage("system", system_prompt)]
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
                print("(new conversation)", file=stdout, flush=True)
            else:
                print(f"unknown command {text}. {HELP}", file=stdout, flush=True)
            continue
        history.append(ChatMessage("user", text))
        reply = _stream_reply(model, history, stdout)
        history.append(ChatMessage("assistant", reply))


def _stream_reply(model: ChatModel, history: list[ChatMessage], stdout: TextIO) -> str:
    print("assistant> ", end="", file=stdout, flush=True)
    parts: list[str] = []
    stream = model.stream_chat(history)
    try:
        for delta in stream:
            if not parts:
                delta = delta.lstrip()
            parts.append(delta)
            print(delta, end="", file=stdout, flush=True)
    except KeyboardInterrupt:
        print(" [stopped]", end="", file=stdout)
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    print(file=stdout, flush=True)
    return "".join(parts).strip()
