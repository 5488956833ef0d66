"""The `openai` providers: every stage served over HTTP by `assistant serve`, a voice turn
through all three, and the failures (unreachable, timeout, retries, refused key)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import word_error_rate, words
from serving import free_port, running_server

from assistant.audio.codec import concat, decode_file, silence
from assistant.config import load_config
from assistant.conversation.turn import voice_turn
from assistant.errors import UsageError
from assistant.providers import ChatModel, SpeechToText, TextToSpeech, usage_of
from assistant.providers.openai_client import Endpoint, EndpointClient, EndpointError
from assistant.providers.openai_compat import OpenAICompatChat
from assistant.providers.registry import create_chat, create_stt, create_tts
from assistant.providers.store import ModelStore
from assistant.types import ChatMessage

LIGHTS = "Please turn off the kitchen lights."
HELLO = [ChatMessage("user", "Say hello.")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("serve-remote")) as running:
        yield running


def remote_config(base_url: str, **extra: str):
    settings = {}
    for section in ("stt", "llm", "tts"):
        settings[f"{section}.provider"] = "openai"
        settings[f"{section}.base_url"] = base_url
    return load_config(None, environ={}, overrides={**settings, **extra})


@pytest.fixture(scope="module")
def remote(server):
    config = remote_config(server.api)
    store = ModelStore.open()
    return create_stt(config, store), create_chat(config, store), create_tts(config, store)


def test_remote_stages_implement_the_interfaces(remote):
    stt, chat, tts = remote
    assert isinstance(stt, SpeechToText)
    assert isinstance(chat, ChatModel)
    assert isinstance(tts, TextToSpeech)


def test_a_voice_turn_with_every_stage_over_http(remote, question_wav):
    stt, chat, tts = remote
    result = voice_turn(
        decode_file(question_wav),
        stt,
        chat,
        tts,
        history=[ChatMessage("system", "Answer in one short sentence.")],
    )
    assert {"romeo", "juliet"} <= set(words(result.heard)), result.heard
    assert result.record is not None and result.record.generated
    assert result.audio is not None and result.audio.seconds > 0.5
    heard = stt.transcribe(result.audio)
    assert heard.text, "the spoken reply should be understood again"


def test_remote_transcription(remote, espeak):
    stt, _, _ = remote
    result = stt.transcribe(decode_file(espeak(LIGHTS, "lights")), prompt="Kitchen.")
    assert word_error_rate(result.text, LIGHTS) <= 0.35, result.text
    assert result.language == "en"
    assert result.duration > 1.0 and result.segments


def test_remote_chat_streams(remote):
    _, chat, _ = remote
    deltas = list(chat.stream_chat(HELLO, max_tokens=16, temperature=0))
    assert len(deltas) > 1 and "".join(deltas).strip()
    stopped = "".join(
        chat.stream_chat(
            [ChatMessage("user", "Tell me a story.")], max_tokens=60, temperature=0, stop=["."]
        )
    )
    assert "." not in stopped


def test_a_remote_servers_usage_is_passed_through(remote, chat):
    """The remote server's own token counts (here `assistant serve`'s, llama.cpp's) reach the
    caller as the stream's usage once it has been read."""
    _, remote_chat, _ = remote
    stream = remote_chat.stream_chat(HELLO, max_tokens=16, temperature=0)
    assert usage_of(stream) is None  # not before the end
    "".join(stream)
    here = chat.stream_chat(HELLO, max_tokens=16, temperature=0)
    "".join(here)
    assert usage_of(stream) == usage_of(here) and usage_of(stream).total_tokens > 0


def test_closing_a_remote_stream_stops_the_generation(server, remote):
    _, chat, _ = remote
    assert server.wait_until(lambda h: not h["workers"]["chat"]["busy"])
    stream = chat.stream_chat(
        [ChatMessage("user", "Write a very long story about a dragon.")],
        max_tokens=1000,
        temperature=0,
    )
    for _ in range(3):
        next(stream)
    stream.close()
    assert server.wait_until(lambda h: not h["workers"]["chat"]["busy"], timeout_s=5)


def test_remote_speech(remote):
    stt, _, tts = remote
    assert tts.voices()[0].id == "alloy"  # tts.voice empty: the endpoint's default voice
    said = "The weather is sunny today. It may rain tomorrow."
    audio = concat(tts.synthesize(said, speed=1.2))
    assert audio.sample_rate == 22050 and audio.seconds > 1.5
    assert word_error_rate(stt.transcribe(audio).text, said) <= 0.35
    assert concat(tts.synthesize("Hello.", voice="nova")).seconds > 0.2


def test_remote_errors_name_the_endpoint(server, remote):
    _, chat, tts = remote
    with pytest.raises(EndpointError, match=r"answered 404: .*Valid voices: .*alloy"):
        list(tts.synthesize("Hello.", voice="nobody"))
    with pytest.raises(UsageError, match="no text to speak"):
        tts.synthesize(" ")
    with pytest.raises(UsageError, match="at least one message"):
        chat.stream_chat([])


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        ("speech-to-text", lambda stt, chat, tts: stt.transcribe(silence(0.5, 16000))),
        ("chat", lambda stt, chat, tts: list(chat.stream_chat(HELLO))),
        ("text-to-speech", lambda stt, chat, tts: list(tts.synthesize("Hello."))),
    ],
)
def test_an_unreachable_endpoint_is_one_clear_error(kind, call):
    port = free_port()  # nothing listens there
    config = remote_config(f"http://127.0.0.1:{port}/v1")
    store = ModelStore.open()
    stages = (create_stt(config, store), create_chat(config, store), create_tts(config, store))
    started = time.monotonic()
    with pytest.raises(EndpointError) as caught:
        call(*stages)
    assert str(caught.value) == (
        f"cannot reach the {kind} endpoint http://127.0.0.1:{port}/v1: "
        "connection refused; is the server running?"
    )
    assert time.monotonic() - started < 5  # refused connections are not retried


def test_a_base_url_without_a_path_gets_v1(server):
    config = remote_config(server.url)
    chat = create_chat(config, ModelStore.open())
    assert "".join(chat.stream_chat(HELLO, max_tokens=4)).strip()


def test_the_openai_provider_needs_a_base_url():
    config = load_config(None, environ={}, overrides={"llm.provider": "openai"})
    with pytest.raises(UsageError, match=r"llm.base_url is empty"):
        create_chat(config, ModelStore.open())
    bad = remote_config("ftp://example")
    with pytest.raises(UsageError, match=r"stt.base_url must be an http\(s\) URL"):
        create_stt(bad, ModelStore.open())


# --- retries, timeouts and refusals, against a scripted endpoint ---------------------------------


@contextlib.contextmanager
def scripted_endpoint(
    answers: list[Callable[[BaseHTTPRequestHandler], None]],
) -> Iterator[tuple[list[str], str]]:
    """A loopback HTTP server answering each POST with the next of `answers` (the last repeats).
    Yields (the paths it was asked for, its base URL)."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            asked.append(self.path)
            answers[min(len(asked), len(answers)) - 1](self)

        def log_message(self, *args) -> None:
            pass

    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.daemon_threads = True
    thread = threading.Thread(target=endpoint.serve_forever, daemon=True)
    thread.start()
    try:
        yield asked, f"http://127.0.0.1:{endpoint.server_address[1]}/v1"
    finally:
        endpoint.shutdown()
        endpoint.server_close()
        thread.join(timeout=5)


def status(code: int, headers: dict[str, str] | None = None):
    def answer(handler: BaseHTTPRequestHandler) -> None:
        body = json.dumps({"error": {"message": f"scripted {code}", "type": "x"}}).encode()
        handler.send_response(code)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def sse_reply(handler: BaseHTTPRequestHandler) -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {"choices": [{"index": 0, "delta": {"content": " there."}}]},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body.encode())


def slow(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(2)
    sse_reply(handler)


def scripted_chat(url: str, **endpoint) -> OpenAICompatChat:
    options = {"backoff_s": 0.01, "max_backoff_s": 0.05, **endpoint}
    client = EndpointClient(Endpoint(url, "sk-test", **options), "chat", "llm")
    return OpenAICompatChat(client, "any", max_tokens=16, temperature=0.5)


def chat_against(answers: list, **endpoint) -> tuple[list[str], str | EndpointError]:
    """(the requests the scripted endpoint got, the reply or the error)."""
    with scripted_endpoint(answers) as (asked, url):
        try:
            return asked, "".join(scripted_chat(url, **endpoint).stream_chat(HELLO))
        except EndpointError as error:
            return asked, error


def test_429_and_5xx_are_retried_with_backoff():
    answers = [status(503), status(429, {"Retry-After": "0"}), status(502), sse_reply]
    asked, reply = chat_against(answers)
    assert reply == "Hi there."
    assert asked == ["/v1/chat/completions"] * 4


def test_retries_are_bounded():
    asked, error = chat_against([status(503)], max_retries=2)
    assert isinstance(error, EndpointError) and len(asked) == 3
    assert "answered 503: scripted 503" in str(error)


def test_a_refused_key_is_not_retried_and_says_what_to_check():
    asked, error = chat_against([status(401)])
    assert isinstance(error, EndpointError) and len(asked) == 1
    assert "answered 401: scripted 401; check llm.api_key" in str(error)


def test_a_slow_endpoint_times_out():
    _, error = chat_against([slow], timeout_s=0.5)
    assert isinstance(error, EndpointError)
    assert "did not answer within 0.5 s (llm.timeout_s)" in str(error)
