"""Crash safety: `assistant serve` killed with SIGKILL in the middle of a spoken reply, again and
again. After each kill the history database passes SQLite's integrity check and holds every turn
that had finished, and the next start needs no repair.

ASSISTANT_CRASH_LOOPS sets the number of kills (3 in the suite; 20 for the full check:
ASSISTANT_CRASH_LOOPS=20 pytest tests/test_crash_safety.py).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import time

import pytest
from serving import running_server
from websockets.sync.client import connect

LOOPS = int(os.environ.get("ASSISTANT_CRASH_LOOPS", "3"))
STORY = ("llm.max_tokens=60", "llm.system_prompt=You tell long, detailed stories.")


def until(socket, kind: str, timeout: float = 300) -> dict:
    """Receive until a message of `kind`; audio frames are reported played as they come."""
    deadline, played = time.monotonic() + timeout, {}
    while True:
        data = socket.recv(timeout=max(deadline - time.monotonic(), 0.01))
        if isinstance(data, bytes):
            rate, epoch = struct.unpack_from("<II", data)
            played[epoch] = played.get(epoch, 0.0) + (len(data) - 8) / 2 / rate
            socket.send(json.dumps({"type": "played", "epoch": epoch, "seconds": played[epoch]}))
        elif (message := json.loads(data))["type"] == kind:
            return message


def test_kill_9_in_the_middle_of_a_reply_loses_no_finished_turn(tmp_path):
    database = tmp_path / "history.db"
    env = {"ASSISTANT_HISTORY_PATH": str(database)}
    finished: list[str] = []  # what the assistant said in each turn that ended
    for loop in range(LOOPS):
        with running_server(tmp_path, *STORY, env=env) as server:
            url = f"{server.url.replace('http', 'ws')}/v1/session"
            with connect(url, max_size=None, open_timeout=30) as socket:
                try:
                    until(socket, "ready")
                    socket.send(json.dumps({"type": "text", "text": f"Say the number {loop}."}))
                    turn = until(socket, "turn")
                    assert not turn["interrupted"]
                    finished.append(turn["spoken"])
                    socket.send(json.dumps({"type": "text", "text": "Tell me a long story."}))
                    until(socket, "assistant")  # the reply is being spoken
                except TimeoutError:
                    pytest.fail(f"loop {loop}: no answer; the server said:\n"
                                f"{server.log.read_text()[-4000:]}")  # fmt: skip
                os.kill(server.pid, signal.SIGKILL)
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            rows = db.execute("SELECT text FROM turns WHERE role = 'assistant' AND interrupted = 0")
            spoken = [text for (text,) in rows]
        assert all(text in spoken for text in finished), (finished, spoken)
    assert len(finished) == LOOPS
