"""The hands-free conversation in a terminal: the transcript and status line, the control keys,
and the loop that feeds the microphone to the engine until the user quits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from ..audio.devices import DeviceError, Microphone, Speaker
from ..audio.echo import EchoCanceller
from ..conversation.engine import Conversation
from ..conversation.events import (
    AssistantSaying,
    ConversationEvent,
    Notice,
    State,
    StateChanged,
    TurnEnded,
    UserSaid,
)

KEYS = "keys: [p] pause/resume  [m] mute/unmute  [s] stop speaking  [n] new conversation  [q] quit"
STATE_MARKS = {
    State.WAITING: "◌ waiting for the wake word",
    State.LISTENING: "● listening",
    State.THINKING: "… thinking",
    State.SPEAKING: "▶ speaking",
    State.PAUSED: "‖ paused",
    State.MUTED: "× muted",
}


@dataclass(frozen=True)
class TalkDisplay:
    """How the terminal shows the conversation."""

    out: TextIO
    live: bool  # a terminal: redraw one status line; otherwise one line per event
    timings: bool = False  # print each turn's latencies
    wake_phrase: str = ""  # the wake word waited for ("": none)


class TerminalView:
    """Prints the transcript and keeps a status line under it."""

    def __init__(self, display: TalkDisplay) -> None:
        self.display = display
        self.state = State.WAITING if display.wake_phrase else State.LISTENING

    def __call__(self, event: ConversationEvent) -> None:
        match event:
            case StateChanged(state):
                self.state = state
                if not self.display.live:
                    self._line(f"[{state.value}]{self._wake_hint()}")
            case UserSaid(text):
                self._line(f"you: {text}")
            case AssistantSaying(text):
                self._line(f"assistant: {text}")
            case TurnEnded() if event.interrupted:
                self._line(f"(interrupted; heard: {event.spoken or 'nothing'})")
            case Notice(message):
                self._line(f"! {message}")
        if isinstance(event, TurnEnded) and self.display.timings:
            latencies = ", ".join(
                f"{k} {v:.0f} ms" for k, v in event.timings.latencies_ms().items()
            )
            self._line(f"  timings: {latencies}")
        self._status()

    def message(self, text: str) -> None:
        self._line(text)
        self._status()

    def _line(self, text: str) -> None:
        prefix = "\r\033[2K" if self.display.live else ""
        self.display.out.write(f"{prefix}{text}\n")
        self.display.out.flush()

    def _wake_hint(self) -> str:
        waiting = self.state == State.WAITING and self.display.wake_phrase
        return f" say '{self.display.wake_phrase}'" if waiting else ""

    def _status(self) -> None:
        if self.display.live:
            mark = STATE_MARKS[self.state] + self._wake_hint()
            self.display.out.write(f"\r\033[2K{mark}   ({KEYS})")
            self.display.out.flush()


def control(conversation: Conversation, key: str, stop: Callable[[], None]) -> None:
    """Apply one key (or typed command) to the conversation."""
    key = key.strip().lower()[:1]
    state = conversation.state
    if key == "p":
        conversation.resume() if state == State.PAUSED else conversation.pause()
    elif key == "m":
        conversation.unmute() if conversation.muted else conversation.mute()
    elif key in ("s", " "):
        conversation.interrupt()
    elif key == "n":
        conversation.new_conversation()
    elif key == "q":
        stop()


async def run_talk(
    make_conversation: Callable[[Speaker], Conversation],
    microphone: Microphone,
    speaker: Speaker,
    view: TerminalView,
    stdin: TextIO = sys.stdin,
    echo: EchoCanceller | None = None,
) -> None:
    """Run until `q`, Ctrl-C, SIGTERM or a device failure (raised as DeviceError)."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    async with microphone, speaker:
        conversation = make_conversation(speaker)
        with _keys(stdin, lambda key: control(conversation, key, stopped.set)):
            view.message(KEYS if not view.display.live else "ready")
            hearing = loop.create_task(_hear(microphone, speaker, conversation, echo))
            stopping = loop.create_task(stopped.wait())
            try:
                done, _ = await asyncio.wait(
                    {hearing, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if hearing in done:
                    hearing.result()  # raises the device error
            finally:
                hearing.cancel()
                stopping.cancel()
                await conversation.close()
                for signum in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(signum)


async def _hear(
    microphone: Microphone,
    speaker: Speaker,
    conversation: Conversation,
    echo: EchoCanceller | None,
) -> None:
    """The microphone into the conversation, cleaned of the speaker's echo first, until either
    device fails."""
    async for chunk, arrived in microphone.timed_chunks():
        if speaker.failure:  # unplugged or hung: the conversation cannot go on
            raise DeviceError(speaker.failure)
        if echo is None:
            conversation.feed(chunk)
        else:
            conversation.feed(echo.clean(chunk, arrived), over_echo=echo.user_over_echo)


@contextlib.contextmanager
def _keys(stdin: TextIO, on_key: Callable[[str], None]):
    """Single keys from a terminal (no Enter needed), or one command per line from a pipe."""
    loop = asyncio.get_running_loop()
    try:
        fd = stdin.fileno()
    except (OSError, ValueError):
        yield
        return
    saved = None
    if stdin.isatty():
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)

    def readable() -> None:
        data = os.read(fd, 64).decode(errors="ignore") if saved else stdin.readline()
        if not data:  # end of input: keep talking, stop reading
            loop.remove_reader(fd)
            return
        for key in data if saved else [data]:
            on_key(key)

    try:
        loop.add_reader(fd, readable)
    except PermissionError:  # a regular file or /dev/null cannot be polled: no keys
        fd = -1
    try:
        yield
    finally:
        if fd >= 0:
            loop.remove_reader(fd)
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


__all__ = ["DeviceError", "TalkDisplay", "TerminalView", "control", "run_talk"]
