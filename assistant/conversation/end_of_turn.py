"""The semantic end of turn off the event loop: the end-of-turn model runs on its own thread, so
the audio loop never waits for it, and its answers go back to the endpointer."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from ..types import AudioChunk

COMPLETE_ABOVE = 0.5  # the model's own threshold (a probability)


class TurnModel(Protocol):
    def probability(self, audio: AudioChunk) -> float:
        """Probability that the speaker of `audio` (the turn so far) has finished."""
        ...


class TurnJudge:
    """Asks a `TurnModel` on one worker thread, one question at a time."""

    def __init__(self, model: TurnModel, threshold: float = COMPLETE_ABOVE) -> None:
        self.model = model
        self.threshold = threshold
        self._pool = ThreadPoolExecutor(1, "assistant-turn")

    async def complete(self, audio: AudioChunk) -> bool:
        """Whether the turn heard in `audio` is complete."""
        loop = asyncio.get_running_loop()
        probability = await loop.run_in_executor(self._pool, self.model.probability, audio)
        return probability > self.threshold

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
