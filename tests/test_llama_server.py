"""A real third-party inference server as the language model stage: llama-cpp-python's own
OpenAI-compatible server (`python -m llama_cpp.server`, the tiny tier's GGUF) behind `reply`,
`serve`, the browser's session and `talk`: streaming, closing the stream (a barge-in) stops
generation on that server, and a server that goes away mid-reply is a notice, after which
the conversation goes on once it is back."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import openai
import pytest
from serving import ASSISTANT, clean_env, free_port, running_server, stop_process
from test_talk import pulse, rig, speech, start_talk  # noqa: F401  (the audio rig fixtures)
from test_web import ScriptedBrowser, is_type, session_url

from assistant.providers.registry import create_chat
from assistant.types import ChatMessage

MODEL = "smollm2-135m-instruct"  # the tiny tier's language model
START_TIMEOUT_S = 120
STORY = [ChatMessage("user", "Tell me a very long story about a lighthouse keeper and the sea.")]


@dataclass
class LlamaServer:
    """`python -m llama_cpp.server` on a loopback port; `start()` again after `kill()`."""

    model: Path
    port: int
    log: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                   "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048",
                   "--n_threads", "1", "--model_alias", MODEL]  # fmt: skip
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"llama_cpp.server exited: {self.log.read_text()}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"llama_cpp.server did not start: {self.log.read_text()}")

    def kill(self) -> None:
        """Gone at once, as a crashed or unplugged server."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_process(self.process)

    def log_says(self, text: str, *, after: int = 0, timeout_s: float = 30) -> bool:
        """Whether the log says `text` (past its first `after` bytes) within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text.encode() in self.log.read_bytes()[after:]:
                return True
            time.sleep(0.1)
        return False


@pytest.fixture(scope="module")
def llama_server(store, tmp_path_factory) -> Iterator[LlamaServer]:
    tmp = tmp_path_factory.mktemp("llama-server")
    server = LlamaServer(store.require(MODEL, "llm") / "model.gguf", free_port(), tmp / "log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def remote(server: LlamaServer) -> tuple[str, ...]:
    """The settings that make llama.cpp's server the language model stage."""
    return ("llm.provider=openai", f"llm.base_url={server.url}", f"llm.model={MODEL}")


def test_reply_thinks_on_llama_cpps_server(llama_server, question_wav, tmp_path):
    flags = [arg for setting in remote(llama_server) for arg in ("--set", setting)]
    answer = tmp_path / "answer.wav"
    result = subprocess.run(
        [ASSISTANT, *flags, "reply", str(question_wav), "-o", str(answer)],
        capture_output=True, text=True, timeout=300, env=clean_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    said = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert "romeo" in said["you"].lower() and said["assistant"].strip(), result.stdout
    assert answer.stat().st_size > 10_000
    assert "POST /v1/chat/completions" in llama_server.log.read_text()


def test_closing_the_stream_stops_generation_on_the_server(llama_server, config, store):
    settings = replace(config, llm=replace(config.llm, provider="openai",
                                           base_url=llama_server.url, model=MODEL))  # fmt: skip
    chat = create_chat(settings, store)
    logged = llama_server.log.stat().st_size
    stream = chat.stream_chat(STORY, max_tokens=1500)
    deltas = [next(stream) for _ in range(3)]  # the reply is under way...
    stream.close()  # ...and the user barges in
    assert all(isinstance(d, str) for d in deltas)
    # llama-cpp-python's server notices the closed connection and ends the generation
    assert llama_server.log_says("Disconnected from client", after=logged), (
        llama_server.log.read_text()
    )


def test_serve_on_the_remote_model_streams_and_outlives_it(llama_server, tmp_path):
    """`serve` streams the remote model's reply through its own API; in the browser's session
    the server gone mid-reply is a notice, and the talk goes on once it is back."""
    story = (*remote(llama_server), "llm.max_tokens=600")
    with running_server(tmp_path, *story) as server:
        client = openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0, timeout=120)
        chunks = list(client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=24, stream=True,
        ))  # fmt: skip
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text.strip() and len(chunks) > 3  # streamed: several deltas, not one block
        assert chunks[-1].choices[0].finish_reason in ("stop", "length")
        browser = ScriptedBrowser(session_url(server))
        browser.until(is_type("ready"))
        browser.send({"type": "hello", "sample_rate": 16000})
        browser.send({"type": "text", "text": STORY[0].content})
        browser.until(is_type("assistant"), timeout=120)  # speaking its first sentence
        llama_server.kill()
        notice = browser.until(is_type("notice"), timeout=120)
        assert "chat endpoint" in notice["message"] and llama_server.url in notice["message"]
        llama_server.start()  # back on the same port
        browser.send({"type": "text", "text": "Say hello in one short sentence."})
        turn = browser.until(lambda m: m["type"] == "turn" and m["spoken"], timeout=180)
        assert not turn["interrupted"] and server.health()["status"] == "ok"
        browser.close()


def test_talk_barge_in_stops_the_remote_generation(llama_server, rig, espeak):  # noqa: F811
    """`assistant talk` thinking on llama.cpp's server: speaking over a long story interrupts
    it, and the reply's stream is closed, so that server stops writing the story."""
    microphone, _, environment = rig
    talk = start_talk(
        environment, *(arg for s in remote(llama_server) for arg in ("--set", s)),
        "--set", "llm.max_tokens=1500", "--set", "llm.system_prompt=You tell long stories.",
    )  # fmt: skip
    microphone.say(speech(espeak, "Tell me a long story about a dragon."))
    talk.wait_for(r"^assistant: ")
    logged = llama_server.log.stat().st_size
    time.sleep(2.0)  # a couple of seconds of the story play
    microphone.say(speech(espeak, "Stop. Please stop talking now."))
    talk.wait_for(r"^\(interrupted; heard: ", timeout=30)
    talk.send("q")
    assert talk.finish() == 0, talk.output()
    assert llama_server.log_says("Disconnected from client", after=logged), talk.output()
