"""EngineThread: a native engine's work on one thread, results and errors back to the caller."""

from __future__ import annotations

import threading

import pytest

from assistant.providers.engine_thread import EngineThread


def test_calls_run_on_the_engine_thread_and_return_their_result():
    engine = EngineThread("test-engine")
    ran_on = engine.call(threading.current_thread)
    assert ran_on.name == "test-engine" and ran_on is not threading.current_thread()
    assert engine.call(pow, 2, 10) == 1024


def test_an_error_on_the_engine_thread_is_raised_to_the_caller():
    engine = EngineThread("test-engine")
    with pytest.raises(ZeroDivisionError):
        engine.call(lambda: 1 / 0)
    assert engine.call(lambda: "still serving") == "still serving"


def test_a_call_from_the_engine_thread_itself_runs_at_once():
    engine = EngineThread("test-engine")
    assert engine.call(lambda: engine.call(lambda: 7)) == 7  # no deadlock


def test_an_iterator_is_stepped_on_the_engine_thread_only_when_asked_and_closed_with_its_reader():
    engine = EngineThread("test-engine")
    stepped: list[str] = []
    closed: list[str] = []

    def numbers():
        try:
            for number in range(100):
                stepped.append(threading.current_thread().name)
                yield number
        finally:
            closed.append(threading.current_thread().name)

    reader = engine.iterate(numbers)
    assert [next(reader), next(reader), next(reader)] == [0, 1, 2]
    assert stepped == ["test-engine"] * 3  # not one step ahead of the reader
    reader.close()
    assert closed == ["test-engine"]
    assert list(engine.iterate(lambda: iter("ab"))) == ["a", "b"]


def test_an_error_inside_an_iterator_reaches_its_reader():
    engine = EngineThread("test-engine")

    def failing():
        yield 1
        raise ValueError("engine failed")

    reader = engine.iterate(failing)
    assert next(reader) == 1
    with pytest.raises(ValueError, match="engine failed"):
        next(reader)


def test_stop_ends_the_thread_once_earlier_jobs_are_done():
    engine = EngineThread("test-engine")
    thread = engine.call(threading.current_thread)
    done: list[int] = []
    engine.call(done.append, 1)
    engine.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and done == [1]
