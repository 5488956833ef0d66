"""Audio driver calls with a time limit. PortAudio's stream open, start and close can block
forever (an unplugged USB device, a stuck driver), and a thread inside a C call cannot be
interrupted from Python. So each call runs on its own daemon thread; when the limit passes the
caller gets an error naming the device and leaves by its normal exit path, while the stuck
thread is abandoned: a daemon thread is not waited for at interpreter exit, and PortAudio's own
exit handler, which would stop and close the same stream again and hang there, is unregistered.
Even so, PortAudio's own threads may still run (an ALSA stream whose server vanished spins in its
callback thread), and Python's finalization then crashes under them (SIGSEGV); so once a call was
abandoned, `abandoned()` tells the CLI to leave with `os._exit` instead.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_ABANDONED = threading.Event()  # a driver call did not return in time: its thread still runs


def abandoned() -> bool:
    """Whether a driver call was left running (the process should leave without finalizing)."""
    return _ABANDONED.is_set()


def call_within(
    limit_s: float,
    call: Callable[[], T],
    *,
    device: str,
    action: str,
    error: type[Exception],
    portaudio: Any,
) -> T:
    """`call()`'s result or exception; `error` naming `device` ("the microphone 'USB'") and the
    `action` that hung ("open") when it has not returned after `limit_s` seconds (0: no limit)."""
    if not limit_s:
        return call()
    outcome: dict[str, Any] = {}
    returned = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as failure:  # handed to the caller, whatever it was
            outcome["error"] = failure
        finally:
            returned.set()

    threading.Thread(target=run, name=f"assistant-audio-{action}", daemon=True).start()
    if not returned.wait(limit_s):
        _ABANDONED.set()
        forget_exit_handler(portaudio)
        raise error(
            f"{device} did not respond: its driver did not return from {action} for "
            f"{limit_s:g} s (hung or unplugged?); check it with `assistant devices` and start again"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class DriverCalls:
    """The driver calls of one device, each limited to `limit_s` (0: no limit)."""

    def __init__(self, device: str, limit_s: float, error: type[Exception], portaudio: Any):
        self.device, self.limit_s, self.error, self.portaudio = device, limit_s, error, portaudio

    def __call__(self, action: str, call: Callable[[], T]) -> T:
        return call_within(self.limit_s, call, device=self.device, action=action,
                           error=self.error, portaudio=self.portaudio)  # fmt: skip

    def close(self, stream: Any, *, quiet: bool) -> None:
        """Close `stream`. `quiet`: a close that hangs is not reported (a failure already on
        its way names the device; a stuck close is what follows a hung device)."""
        try:
            self("close", lambda: stream.close(ignore_errors=True))
        except self.error:
            if not quiet:
                raise


def forget_exit_handler(portaudio: Any) -> None:
    """Unregister `sounddevice`'s exit handler (it stops and closes the last stream and
    terminates PortAudio: with a hung driver, the process would never exit)."""
    handler = getattr(portaudio, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)
