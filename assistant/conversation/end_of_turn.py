"""The semantic end of turn off the event loop: the end-of-turn model runs on its own thread, so
the audio loop never waits for it, and its answers go back to the endpointer together with the
words of the reply begun at the pause (its transcript, and how likely its language model reads
them to end the turn): a "complete" waits up to `turn_words_wait_ms` for them (the reply cannot
speak before its transcript exists anyway); 0 never waits."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ..types import AudioChunk
from .turn_text import HeardWords
from .words_end import WordsEnd

COMPLETE_ABOVE = 0.5  # the model's own threshold (a probability)
WORDS_POLL_S = 0.02  # how often a waiting "complete" looks for the transcript
# the model's thread runs this much nicer than the rest of the process, so that it takes no core
# from Whisper's or llama.cpp's two threads (each waits for the other): asked at 200 ms of
# silence, it runs while the reply begun at the pause transcribes. Side by side on the idle
# 2-core machine (default tier, 8 questions, twice): voice to voice p95 1343-1418 -> 1121-1199
# ms, p50 the same (with a 15 s Whisper window: transcript 431-436 -> 344-358 ms after the end,
# p50 876-896 -> 835-856 ms); its verdict comes later, still before the reply can speak
NICER_BY = 10


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

    @property
    def words_end(self) -> WordsEnd: ...


def words_read(reply: Speculation) -> bool:
    """Transcribed and, where the language model reads the words for the end of turn, read."""
    return reply.transcribed and (reply.words_end.read or not reply.heard_text)


def speculated_words(reply: Speculation | None) -> HeardWords | None:
    """The words of the reply begun at this pause, if they are there already; else None."""
    if reply is None or reply.confirmed or not reply.transcribed or not reply.heard_text:
        return None
    return HeardWords(reply.heard_text, reply.words_end.probability)


class TurnJudge:
    """Asks a `TurnModel` on one worker thread, one question at a time."""

    def __init__(
        self, model: TurnModel, words_wait_ms: int = 0, threshold: float = COMPLETE_ABOVE
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.words_wait_s = words_wait_ms / 1000
        self._pool = ThreadPoolExecutor(1, "assistant-turn", initializer=_yield_the_cores)
        self._last: tuple[bytes, bool] | None = None  # the last audio asked about, its answer

    async def complete(self, audio: AudioChunk) -> bool:
        """Whether the turn heard in `audio` is complete. The same audio again (asked again
        in one silence: the turn and the same 0.2 s after it) gets the same answer without the
        model, which would only say it again (only the words may have changed)."""
        if self._last is not None and self._last[0] == audio.pcm:
            return self._last[1]
        loop = asyncio.get_running_loop()
        probability = await loop.run_in_executor(self._pool, self.model.probability, audio)
        self._last = (audio.pcm, probability > self.threshold)
        return self._last[1]

    async def words(
        self, current: Callable[[], Speculation | None], complete: bool
    ) -> HeardWords | None:
        """The words of `current()` reply: as they are now, or, after a "complete" and with
        `words_wait_ms`, once they are read but no later than that (None: not there)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.words_wait_s if complete else 0.0)
        while True:
            reply = current()
            if reply is None or reply.confirmed or words_read(reply) or loop.time() >= deadline:
                return speculated_words(reply)
            await asyncio.sleep(WORDS_POLL_S)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _yield_the_cores() -> None:
    """This thread NICER_BY nicer than the process (Linux, where a thread has its own nice
    value; elsewhere setpriority would change the whole process, so nothing changes)."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICER_BY)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
