"""One thread that does all of a native engine's computing, whichever thread asks.

llama.cpp computes with OpenMP (GNU libgomp), which keeps a team of worker threads for every
thread that has called it, for as long as that thread lives. Once the teams hold more threads
than there are cores, libgomp stops spinning at its barriers and every team sleeps and wakes
instead: on two cores, with the warm-up on one thread and the replies on another, decoding took
41-45 ms a token instead of 28-32 (README, "One thread for llama.cpp")."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()  # what `next` gives back once an iterator is done


class EngineThread:
    """Runs callables, one at a time, on a daemon thread of its own; `call` waits for the
    result (or the exception), `iterate` steps an iterator there one item per request; `stop`
    ends the thread (and with it its OpenMP team) once the jobs before it are done."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], _Outcome] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the engine's thread (at once when already on it)."""
        if threading.current_thread() is self._thread:
            return function(*args)
        outcome = _Outcome()
        self._jobs.put((lambda: function(*args), outcome))
        return outcome.wait()

    def iterate(self, make: Callable[[], Iterator[T]]) -> Iterator[T]:
        """The items of `make()`, each computed on the engine's thread only when asked for (a
        consumer that stops asking pauses the engine); closing this closes that iterator."""
        iterator = self.call(make)
        try:
            while (item := self.call(next, iterator, _END)) is not _END:
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                self.call(close)

    def _serve(self) -> None:
        while (work := self._jobs.get()) is not None:
            job, outcome = work
            try:
                outcome.succeed(job())
            except BaseException as error:  # handed to the caller, raised there
                outcome.fail(error)
            del work, job, outcome  # hold nothing of the caller's between jobs


class _Outcome:
    """A job's result or exception, handed from the engine's thread to the caller."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def succeed(self, value: Any) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    def wait(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value
