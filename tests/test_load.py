"""Load on `assistant serve`: 32 official `openai` clients at once, mixing transcription, speech
and streamed chat, with 8 browser sessions over WebSockets and a slow client holding a half-sent
request. Every request is answered or refused with 429 + Retry-After (never a 5xx), the slow
client blocks nobody, memory stays bounded, and the history is intact afterwards."""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import openai
import pytest
from serving import running_server
from websockets.sync.client import connect

CLIENTS, SESSIONS = 32, 8
MEMORY_LIMIT = 3 * 2**30  # bytes of resident memory the server may reach under this load


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load")
    env = {"ASSISTANT_HISTORY_PATH": str(tmp / "history.db")}
    settings = ("llm.max_tokens=16", "server.queue_size=4", "server.timeout_s=20")
    with running_server(tmp, *settings, env=env) as running:
        yield running


def one_request(api: str, kind: int, wav: Path) -> str:
    """One call of the `kind`-th sort; 'ok', or '429' (with its Retry-After checked)."""
    with openai.OpenAI(base_url=api, api_key="unused", max_retries=0, timeout=120) as client:
        try:
            if kind % 3 == 0:
                with wav.open("rb") as audio:
                    client.audio.transcriptions.create(model="whisper-1", file=audio)
            elif kind % 3 == 1:
                client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.")
            else:
                stream = client.chat.completions.create(
                    model="gpt-4o-mini", stream=True,
                    messages=[{"role": "user", "content": "Say hello."}],
                )  # fmt: skip
                assert any(chunk.choices for chunk in stream)
        except openai.RateLimitError as error:
            assert error.response.headers["retry-after"]
            return "429"
    return "ok"


def browser_turn(url: str, number: int) -> str:
    """A session with one typed turn; what the assistant said (audio reported as played)."""
    with connect(url, max_size=None, open_timeout=60) as session:
        session.send(json.dumps({"type": "text", "text": f"Say the number {number}."}))
        played: dict[int, float] = {}
        while True:
            data = session.recv(timeout=300)
            if isinstance(data, bytes):
                rate, epoch = struct.unpack_from("<II", data)
                played[epoch] = played.get(epoch, 0.0) + (len(data) - 8) / 2 / rate
                session.send(json.dumps({"type": "played", "epoch": epoch,
                                         "seconds": played[epoch]}))  # fmt: skip
            elif (message := json.loads(data))["type"] == "turn":
                return message["spoken"]


def half_sent_request(url: str) -> socket.socket:
    """A client that sends its headers and half its body, then goes quiet."""
    address = urlparse(url)
    slow = socket.create_connection((address.hostname, address.port))
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]})
    slow.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[: len(body) // 2].encode()
    )
    return slow


def resident_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


def test_32_clients_and_8_sessions_are_answered_or_refused_and_nothing_is_lost(server, espeak):
    wav = espeak("Turn on the lights.", "load")
    slow = half_sent_request(server.url)
    session_url = f"{server.url.replace('http', 'ws')}/v1/session"
    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS + SESSIONS) as pool:
        calls = [pool.submit(one_request, server.api, n, wav) for n in range(CLIENTS)]
        turns = [pool.submit(browser_turn, session_url, n) for n in range(SESSIONS)]
        outcomes = [call.result(timeout=600) for call in calls]
        spoken = [turn.result(timeout=600) for turn in turns]
    elapsed = time.monotonic() - started
    assert set(outcomes) <= {"ok", "429"} and "ok" in outcomes, outcomes
    assert all(spoken), spoken
    assert resident_memory(server.pid) < MEMORY_LIMIT
    # the slow client was answered 408 once server.timeout_s had passed, and blocked no one
    slow.settimeout(60)
    assert b" 408 " in slow.recv(4096).split(b"\r\n")[0]
    slow.close()
    assert server.health()["status"] == "ok"
    with sqlite3.connect(server.log.parent / "history.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        kept = {text for (text,) in db.execute("SELECT text FROM turns WHERE role='assistant'")}
    assert set(spoken) <= kept
    print(f"{CLIENTS} clients + {SESSIONS} sessions in {elapsed:.1f} s: "
          f"{outcomes.count('ok')} answered, {outcomes.count('429')} refused with 429")  # fmt: skip
