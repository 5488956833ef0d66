"""Stage watchdogs: a stage (speech-to-text, the language model, text-to-speech) that hangs does
not hang the conversation.

Each call a reply makes on a stage's thread gets that stage's time limit. When it runs out, the
call is abandoned: the reply ends with a notice (shown in the terminal and the browser), the
stage gets a fresh thread for the next turn, and the stuck thread is left to finish or not (a
Python thread cannot be killed; an engine stuck holding its own lock keeps timing out, turn after
turn, with the same notice, instead of freezing the conversation). A stage that raises already
ends its reply with a notice (reply.Reply.run); the next turn works.

A slow call is not always a hung one: llama.cpp reading a long prompt on a busy machine may
overrun the limit and then go on. When the abandoned call was `next()` on a model's stream, the
stream is closed on that same thread right after it returns: closing it from the fresh thread
meanwhile fails (the generator is still running), and the stream would then sit at its first
token holding the model's lock, so that every later reply timed out (found by the soak).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import AssistantError
from ..providers import close_stream

STAGE_NAMES = ("stt", "llm", "tts")
DESCRIPTIONS = {"stt": "speech recognition", "llm": "language model", "tts": "voice"}


class StageTimedOut(AssistantError):
    """A stage did not answer within its limit."""


@dataclass(frozen=True)
class StageLimits:
    """Seconds each call on a stage may take (0: no limit): one transcription, one token of the
    model's reply (the first includes reading the prompt), one piece of speech (a sentence or a
    clause, as the voice makes it)."""

    stt: float = 0.0
    llm: float = 0.0
    tts: float = 0.0


class Workers:
    """One thread per stage, so each engine is only ever called from its own thread; shared by
    the replies of one conversation, and replaced when a call overruns its stage's limit."""

    def __init__(self, limits: StageLimits = StageLimits()) -> None:
        self._limits = limits
        self._pools = {name: _pool(name) for name in STAGE_NAMES}
        self._closed = False

    @property
    def closed(self) -> bool:
        """`shutdown` was called: nothing more may be submitted."""
        return self._closed

    async def run(self, stage: str, function: Callable, *args: Any) -> Any:
        pool = self._pools[stage]
        call = asyncio.get_running_loop().run_in_executor(pool, function, *args)
        # asyncio.timeout, not wait_for: Python 3.11's wait_for returns the call's result when
        # the reply is cancelled just as the call ends, and the reply then goes on beside the
        # next one (two streams on one model: each waits for the other's lock)
        limit = getattr(self._limits, stage)
        deadline = asyncio.timeout(limit or None)
        try:
            async with deadline:
                return await call
        except TimeoutError:
            if not deadline.expired():
                raise  # the engine's own error, not the limit's
            if self._pools[stage] is pool:  # a fresh thread for the next call
                self._pools[stage] = _pool(stage)
                if function is next:  # closed where it runs, once the late call returns
                    pool.submit(close_stream, args[0])
                pool.shutdown(wait=False)
            raise StageTimedOut(
                f"the {DESCRIPTIONS[stage]} did not answer within {limit:g} s "
                f"(conversation.{stage}_timeout_s); sorry, please try again"
            ) from None

    def submit(self, stage: str, function: Callable, *args: Any) -> None:
        """Run `function` on the stage's thread after what is already queued there."""
        self._pools[stage].submit(function, *args)

    async def drained(self, stage: str) -> None:
        """Return once what is queued on the stage's thread now has run (at once once closed)."""
        if not self._closed:
            await self.run(stage, _nothing)

    def shutdown(self, *, wait: bool = False) -> None:
        """No more work; what is queued still runs (closing a model's stream must happen)."""
        self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=wait)


def _nothing() -> None:
    pass


def _pool(stage: str) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, f"assistant-{stage}")
