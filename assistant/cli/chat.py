"""`assistant chat`: the text conversation in the terminal, answered by the same `Reply` as
the voice turns (text in, text out: no speech stages)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from ..conversation.events import TurnTimings
from ..conversation.options import conversation_options
from ..conversation.reply import Reply, ReplySettings, Stages, Workers
from ..conversation.skills import Skills
from ..history.recorder import Recorder, recording
from ..history.store import DisabledHistory
from ..providers import ChatModel
from ..types import ChatMessage
from .context import config_of
from .tools import local_skills, tool_store

HELP = "Type a message and press Enter. /reset starts a new conversation, /exit (or Ctrl-D) quits."


@click.command()
@click.option("--system", "system_prompt", help="System prompt (default: llm.system_prompt).")
@click.option(
    "--continue",
    "resume",
    is_flag=True,
    help="Resume the last saved conversation, with its context.",
)
@click.pass_context
def chat(ctx: click.Context, system_prompt: str | None, resume: bool) -> None:
    """Text conversation in the terminal. Commands: /reset, /exit (or Ctrl-D)."""
    from ..history.store import open_history
    from ..providers.loading import load_engines

    config = config_of(ctx)
    model = load_engines(config, chat=True).chat
    recorder = Recorder(open_history(config.history), llm_model=config.llm.model)
    if resume:
        earlier = len(recorder.resume())
        click.echo(
            f"(continuing conversation {recorder.conversation_id}: {earlier} earlier messages)"
            if recorder.conversation_id
            else "(no saved conversation to continue: starting a new one)",
            err=True,
        )
    skills = local_skills(config, tool_store(config))
    settings = conversation_options(config).text_reply_settings()
    run_chat(
        model, system_prompt or config.llm.system_prompt,
        recorder=recorder, skills=skills, settings=settings,
    )  # fmt: skip


def run_chat(
    model: ChatModel,
    system_prompt: str,
    *,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    recorder: Recorder | None = None,
    skills: Skills | None = None,
    settings: ReplySettings | None = None,
) -> None:
    """Read lines, stream each reply as it is written; Ctrl-C stops a reply, twice quits.

    Each finished turn is saved through `recorder`, whose resumed context (if any) comes first.
    """
    interactive = stdin.isatty()
    recorder = recorder or Recorder(DisabledHistory())
    history = [ChatMessage("system", system_prompt), *recorder.context]
    workers, settings = Workers(), settings or ReplySettings()
    if interactive:
        print(HELP, file=stdout)
    try:
        while (text := _read(stdin, stdout, interactive)) is not None:
            if text.startswith("/"):
                if not _command(text, history, recorder, stdout):
                    return
            elif text:
                stages = Stages(None, model, None, skills)
                _answer(text, stages, workers, history, recorder, stdout, settings)
    finally:
        workers.shutdown()


def _read(stdin: TextIO, stdout: TextIO, interactive: bool) -> str | None:
    """The next line, stripped; None at the end of input or on Ctrl-C."""
    try:
        if interactive:
            print("you> ", end="", file=stdout, flush=True)
        line = stdin.readline()
    except KeyboardInterrupt:
        print(file=stdout)
        return None
    return line.strip() if line else None


def _command(text: str, history: list[ChatMessage], recorder: Recorder, stdout: TextIO) -> bool:
    """Apply a /command; False to quit."""
    command = text.lower()
    if command in ("/exit", "/quit"):
        return False
    if command == "/reset":
        del history[1:]
        recorder.new_conversation()
        print("(new conversation)", file=stdout, flush=True)
    else:
        print(f"unknown command {text}. {HELP}", file=stdout, flush=True)
    return True


def _answer(
    text: str,
    stages: Stages,
    workers: Workers,
    history: list[ChatMessage],
    recorder: Recorder,
    stdout: TextIO,
    settings: ReplySettings,
) -> None:
    """Stream the reply to `text` as it is written; Ctrl-C stops it (what was shown is kept)."""
    print("assistant> ", end="", file=stdout, flush=True)
    now = time.monotonic()
    reply = Reply(
        stages, workers, text,
        history=history, sink=None, settings=settings,
        timings=TurnTimings(speech_end=now, endpoint=now), on_event=recording(recorder),
        on_delta=lambda delta: print(delta, end="", file=stdout, flush=True),
    )  # fmt: skip
    try:
        reply.run_blocking()
    except KeyboardInterrupt:
        print(" [stopped]", end="", file=stdout)
    print(file=stdout, flush=True)
    reply.remember_in(history)  # and the model reads the next prompt while the user types
    if reply.failure is not None:
        raise reply.failure
