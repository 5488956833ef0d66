"""Crash safety: `assistant serve` and `assistant talk` (through the audio rig) killed with
SIGKILL in the middle of a spoken reply, again and again. After each kill the history database
passes SQLite's integrity check and holds every turn that had finished, and the next start needs
no repair.

ASSISTANT_CRASH_LOOPS sets the number of kills (3 for serve and 2 for talk in the suite; 20 for
the full check: ASSISTANT_CRASH_LOOPS=20 pytest tests/test_crash_safety.py).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import struct
import time

import pytest
import test_talk
from serving import running_server
from test_talk import speech, start_talk
from websockets.sync.client import connect

pulse, rig = test_talk.pulse, test_talk.rig  # the audio rig's fixtures

LOOPS = os.environ.get("ASSISTANT_CRASH_LOOPS", "")
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
    for loop in range(int(LOOPS or 3)):
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
        assert_keeps(database, "assistant", finished)
    assert len(finished) == int(LOOPS or 3)


def test_kill_9_of_talk_in_the_middle_of_a_reply_loses_no_finished_turn(rig, espeak, tmp_path):
    microphone, _, environment = rig
    database = tmp_path / "history.db"
    environment = {**environment, "ASSISTANT_HISTORY_ENABLED": "true",
                   "ASSISTANT_HISTORY_PATH": str(database)}  # fmt: skip
    heard: list[str] = []  # what the user said in each turn that ended
    replies: list[str] = []  # and what the assistant said
    for loop in range(int(LOOPS or 2)):
        talk = start_talk(environment, "--set", STORY[0], "--set", STORY[1])
        try:
            start = talk.wait_for(r"^keys: ")
            microphone.say(speech(espeak, f"Say the number {loop}."))
            ended = talk.wait_for(r"^  timings: ", after=start)  # printed once it is recorded
            heard += [line[len("you: ") :] for line in talk.lines[start:ended]
                      if line.startswith("you: ")]  # fmt: skip
            replies.append(test_talk._reply_between(talk.lines, start, ended))
            listening = talk.wait_for(r"^\[listening\]", after=ended)
            microphone.say(speech(espeak, "Tell me a long story."))
            talk.wait_for(r"^assistant: ", after=listening)  # the reply is being spoken
        finally:
            talk.process.send_signal(signal.SIGKILL)
            talk.finish()
        assert_keeps(database, "user", heard)
        assert_keeps(database, "assistant", replies)
    assert len(replies) == int(LOOPS or 2) and all(replies)


def assert_keeps(database, role: str, texts: list[str]) -> None:
    """The database passes the integrity check and holds `texts` as finished turns of `role`."""
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = db.execute("SELECT text FROM turns WHERE role = ? AND interrupted = 0", (role,))
        kept = [text for (text,) in rows]
    assert all(text in kept for text in texts), (texts, kept)
