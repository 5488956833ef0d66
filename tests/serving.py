"""Start `assistant serve` for real, as a subprocess on a free loopback port, for the tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from conftest import clean_environment

ASSISTANT = str(Path(sys.executable).parent / "assistant")
START_TIMEOUT_S = 120  # loading the three models takes ~4 s alone, longer on a busy machine


@dataclass(frozen=True)
class Server:
    url: str  # http://127.0.0.1:PORT
    log: Path
    pid: int = 0  # the server process (for the tests that kill it)

    @property
    def api(self) -> str:
        return f"{self.url}/v1"

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def wait_until(self, predicate, timeout_s: float = 10.0) -> bool:
        """Poll /health until `predicate(health)` holds; False if it never did in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self.health()):
                return True
            time.sleep(0.05)
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without the user's config file or ASSISTANT_* settings (but the tests'
    model tier)."""
    env = clean_environment()
    env["XDG_CONFIG_HOME"] = str(tmp)
    return env


@contextlib.contextmanager
def running_server(
    tmp: Path, *settings: str, env: Mapping[str, str] | None = None
) -> Iterator[Server]:
    """`assistant --set S... serve --port FREE`, until /health answers; stopped afterwards.
    `env` adds variables (ASSISTANT_* ones included) to the clean environment."""
    port = free_port()
    log = tmp / f"serve-{port}.log"
    flags = [arg for setting in settings for arg in ("--set", setting)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [ASSISTANT, *flags, "serve", "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**clean_env(tmp), **(env or {})},
        )
    server = Server(f"http://127.0.0.1:{port}", log, process.pid)
    try:
        _wait_ready(server, process)
        yield server
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL if it has not ended within 15 s."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def _wait_ready(server: Server, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"assistant serve exited: {server.log.read_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"assistant serve did not start in time: {server.log.read_text()}")
