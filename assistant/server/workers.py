"""One thread per model with a bounded queue; asyncio handlers read each job as a stream.

A model serves one request at a time: its whole iterator (and closing it) runs on the
model's own thread, so llama.cpp's lock and Piper's session are never shared. A request
beyond the queue is refused at once (`Busy`); a cancelled job stops between two items
and its iterator is closed, which stops decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ..providers import close_stream

T = TypeVar("T")
log = logging.getLogger("assistant.server")


class Busy(Exception):
    """The model is working and its queue is full."""


class TimedOut(Exception):
    """The job ran past the server's request timeout."""


class Cancelled(Exception):
    """The job was cancelled (its client went away)."""


class Unavailable(Exception):
    """The worker is stopping."""


class Job(Generic[T]):
    """One request's work: an async iterator over what the engine yields, item by item."""

    def __init__(
        self,
        produce: Callable[[], Iterable[T]],
        *,
        timeout_s: float,
        on_cancel: Callable[[Job], None],
    ) -> None:
        self._produce = produce
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._cancelled = threading.Event()
        self._on_cancel = on_cancel
        self._finished = False
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s

    def cancel(self) -> None:
        """Stop the job: dropped from the queue if waiting, stopped at its next item if running."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._on_cancel(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # --- the worker thread's side

    def run(self) -> None:
        if self.cancelled:
            return self._send("error", Cancelled("the request was cancelled"))
        iterator = None
        try:
            iterator = iter(self._produce())
            for item in iterator:
                self._send("item", item)
                if self.cancelled:
                    return self._send("error", Cancelled("the request was cancelled"))
                if time.monotonic() > self.deadline:
                    return self._send("error", self._timed_out())
            self._send("end", None)
        except BaseException as error:  # handed to the request's handler, which answers it
            self._send("error", error)
        finally:
            try:
                close_stream(iterator)  # on this thread: stops llama.cpp decoding, frees the model
            except Exception:
                log.exception("closing a model's stream failed")

    def _send(self, kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
            self._loop.call_soon_threadsafe(self._items.put_nowait, (kind, value))

    def _timed_out(self) -> TimedOut:
        return TimedOut(f"the request took longer than server.timeout_s ({self.timeout_s:g} s)")

    # --- the asyncio side

    def __aiter__(self) -> Job[T]:
        return self

    async def __anext__(self) -> T:
        if self._finished:
            raise StopAsyncIteration
        try:
            async with asyncio.timeout(max(self.deadline - time.monotonic(), 0)):
                kind, value = await self._items.get()
        except TimeoutError:
            self._finished = True
            self.cancel()
            raise self._timed_out() from None
        if kind == "item":
            return value
        self._finished = True
        if kind == "error":
            raise value
        raise StopAsyncIteration

    async def first(self) -> T | None:
        """The first item, or None when the engine yields nothing."""
        async for item in self:
            return item
        return None

    async def collect(self) -> list[T]:
        return [item async for item in self]


class ModelWorker:
    """Runs one model's jobs one at a time; at most `queue_size` wait behind the running one."""

    def __init__(self, name: str, *, queue_size: int, timeout_s: float) -> None:
        self.name = name
        self.queue_size = queue_size
        self.timeout_s = timeout_s
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._stopping = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name=f"model-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Refuse new jobs, cancel the waiting ones and the running one."""
        with self._condition:
            self._stopping = True
            waiting, self._waiting = list(self._waiting), deque()
            running = self._running
            self._condition.notify_all()
        for job in waiting:
            job._send("error", Unavailable("the server is shutting down"))
        if running is not None:
            running.cancel()

    def submit(self, produce: Callable[[], Iterable[T]]) -> Job[T]:
        """Queue `produce` (called on the model's thread); `Busy` at once when the queue is full."""
        job = Job(produce, timeout_s=self.timeout_s, on_cancel=self._discard)
        with self._condition:
            if self._stopping:
                raise Unavailable("the server is shutting down")
            in_hand = len(self._waiting) + (self._running is not None)
            if in_hand > self.queue_size:
                raise Busy(
                    f"the {self.name} model is busy: 1 request running and "
                    f"{len(self._waiting)} waiting (server.queue_size = {self.queue_size}); "
                    "retry shortly"
                )
            self._waiting.append(job)
            self._condition.notify()
        return job

    def status(self) -> dict[str, Any]:
        with self._condition:
            return {"busy": self._running is not None, "queued": len(self._waiting)}

    def _discard(self, job: Job) -> None:
        with self._condition:
            if job in self._waiting:
                self._waiting.remove(job)
            else:
                return
        job._send("error", Cancelled("the request was cancelled"))

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not self._waiting and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                job = self._running = self._waiting.popleft()
            try:
                job.run()
            finally:
                with self._condition:
                    self._running = None
