"""The semantic end of turn off the event loop: the end-of-turn model runs on its own thread, so
the audio loop never waits for it, and its answers go back to the endpointer together with the
transcript of the reply begun at the pause: a "complete" waits up to `turn_words_wait_ms` for it
(the reply cannot speak before its transcript exists anyway); 0 never waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ..types import AudioChunk

COMPLETE_ABOVE = 0.5  # the model's own threshold (a probability)
WORDS_POLL_S = 0.02  # how often a waiting "complete" looks for the transcript


class TurnModel(Protocol):
    def probability(self, audio: AudioChunk) -> float:
        """Probability that the speaker of `audio` (the turn so far) has finished."""
        ...


class Speculation(Protocol):
    """A reply begun at the pause (conversation.reply.Reply), as far as the judge reads it."""

    @property
    def confirmed(self) -> bool: ...

    @property
    def transcribed(self) -> bool: ...

    @property
    def heard_text(self) -> str: ...


def speculated_text(reply: Speculation | None) -> str | None:
    """The transcript of the reply begun at this pause, if it is there already; else None."""
    if reply is None or reply.confirmed or not reply.transcribed:
        return None
    return reply.heard_text or None


class TurnJudge:
    """Asks a `TurnModel` on one worker thread, one question at a time."""

    def __init__(
        self, model: TurnModel, words_wait_ms: int = 0, threshold: float = COMPLETE_ABOVE
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.words_wait_s = words_wait_ms / 1000
        self._pool = ThreadPoolExecutor(1, "assistant-turn")

    async def complete(self, audio: AudioChunk) -> bool:
        """Whether the turn heard in `audio` is complete."""
        loop = asyncio.get_running_loop()
        probability = await loop.run_in_executor(self._pool, self.model.probability, audio)
        return probability > self.threshold

    async def words(self, current: Callable[[], Speculation | None], complete: bool) -> str | None:
        """The speculative transcript of `current()` reply: as it is now, or, after a "complete"
        and with `words_wait_ms`, once it is done but no later than that (None: not there)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.words_wait_s if complete else 0.0)
        while True:
            reply = current()
            if reply is None or reply.confirmed or reply.transcribed or loop.time() >= deadline:
                return speculated_text(reply)
            await asyncio.sleep(WORDS_POLL_S)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
