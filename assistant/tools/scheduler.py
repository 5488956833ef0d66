"""Timers and alarms that ring: a loop that finds the due ones in the store, marks each fired (or
missed, when found too late, e.g. after the assistant was off) and hands its announcement to the
conversation. Marking is atomic, so two processes on one store announce each timer once."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from .phrases import announcement
from .store import ToolStore

POLL_S = 0.2  # seconds between looks at the store
_CJK = re.compile(r"[\u3400-\u9fff]")


class Scheduler:
    """Rings the timers and alarms of `store` through `announce(text)`."""

    def __init__(
        self,
        store: ToolStore,
        announce: Callable[[str], None],
        *,
        missed_after_s: float = 60.0,
        language: str | Callable[[], str] = "en",  # a callable: asked at each ring
    ) -> None:
        self._store, self._announce = store, announce
        self._missed_after, self._language = missed_after_s, language

    def ring_due(self, now: float | None = None) -> list[str]:
        """Announce every due timer now; the announcements made."""
        said = self._take_due(now)
        for text in said:
            self._announce(text)
        return said

    def _take_due(self, now: float | None = None) -> list[str]:
        """Mark the due timers fired (or missed); what to say for each."""
        now = time.time() if now is None else now
        said = []
        for timer in self._store.due(now):
            missed = now - timer.due_at > self._missed_after
            if self._store.set_state(timer.id, "missed" if missed else "fired"):
                spoken = self._language() if callable(self._language) else self._language
                language = "zh" if _CJK.search(timer.label) else spoken
                said.append(announcement(timer, missed=missed, language=language))
        return said

    def start(self, until: Callable[[], bool] = lambda: False) -> asyncio.Task:
        """`run()` as a task on the running loop, until `until()` holds or it is cancelled."""
        return asyncio.get_running_loop().create_task(self.run(until), name="timers")

    async def run(self, until: Callable[[], bool] = lambda: False) -> None:
        """Ring timers as they come due, until `until()` holds or the task is cancelled. The
        store is read on a thread, the announcements made on the loop."""
        while not until():
            for text in await asyncio.to_thread(self._take_due):
                self._announce(text)
            await asyncio.sleep(POLL_S)
