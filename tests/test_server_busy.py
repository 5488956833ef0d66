"""The server under pressure: a full queue gets 429 at once, a client that goes away frees
the model, a request past server.timeout_s gets 504; and CORS when it is configured."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from serving import running_server

TIMEOUT_S = 8  # server.timeout_s here: 1000 tokens take longer than that even at full speed
LONG = [{"role": "user", "content": "Write a very long story about a dragon."}]
HELLO = [{"role": "user", "content": "Say hello."}]
KIOSK = "http://kiosk.test"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(
        tmp_path_factory.mktemp("serve-busy"),
        "server.queue_size=1",
        f"server.timeout_s={TIMEOUT_S}",
        f"server.cors_origins={KIOSK}",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    # No server.api_key here: on loopback without one, any key (or none) is accepted.
    with openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0, timeout=60) as api:
        yield api


def chat_state(health: dict) -> dict:
    return health["workers"]["chat"]


def idle(health: dict) -> bool:
    return not chat_state(health)["busy"] and chat_state(health)["queued"] == 0


def long_stream(client):
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=LONG, max_tokens=1000, temperature=0, stream=True
    )


def test_a_client_that_disconnects_mid_stream_frees_the_model(server, client):
    assert server.wait_until(idle)
    submitted = time.monotonic()
    stream = long_stream(client)
    chunks = iter(stream)
    for _ in range(3):
        next(chunks)
    assert chat_state(server.health())["busy"]
    stream.close()
    # The server's own timeout would free it only TIMEOUT_S after the request began.
    before_timeout = TIMEOUT_S - (time.monotonic() - submitted) - 1
    assert server.wait_until(idle, timeout_s=before_timeout), server.health()
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=4)
    assert reply.choices[0].message.content


def test_a_client_that_gives_up_waiting_cancels_its_request(server, client):
    assert server.wait_until(idle)
    submitted = time.monotonic()
    impatient = client.with_options(timeout=1.5)
    with pytest.raises(openai.APITimeoutError):
        impatient.chat.completions.create(
            model="gpt-4o-mini", messages=LONG, max_tokens=1000, temperature=0
        )
    before_timeout = TIMEOUT_S - (time.monotonic() - submitted) - 1
    assert server.wait_until(idle, timeout_s=before_timeout), server.health()


def test_a_full_queue_gets_429_at_once(server, client):
    assert server.wait_until(idle)
    stream = long_stream(client)
    try:
        next(iter(stream))  # the model is working on it
        with ThreadPoolExecutor(max_workers=1) as pool:
            waiting = pool.submit(
                client.chat.completions.create, model="gpt-4o-mini", messages=HELLO, max_tokens=3
            )
            assert server.wait_until(lambda h: chat_state(h)["queued"] == 1), server.health()
            with pytest.raises(openai.RateLimitError) as caught:
                client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=3)
            error = caught.value.response.json()["error"]
            assert error["code"] == "server_busy" and "queue_size = 1" in error["message"]
            assert caught.value.response.headers["retry-after"] == "1"
            stream.close()  # frees the model for the one that waited
            assert waiting.result(timeout=60).choices[0].message.content is not None
    finally:
        stream.close()
    assert server.wait_until(idle)


def test_speech_stops_when_its_client_goes_away(server, client):
    text = " ".join(f"This is sentence number {n} of a long text." for n in range(1, 41))
    assert server.wait_until(lambda h: not h["workers"]["tts"]["busy"])
    submitted = time.monotonic()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=text, response_format="pcm"
    ) as response:
        next(response.iter_bytes())
    before_timeout = TIMEOUT_S - (time.monotonic() - submitted) - 1
    assert server.wait_until(lambda h: not h["workers"]["tts"]["busy"], before_timeout)


def test_a_request_past_the_timeout_gets_504(server, client):
    assert server.wait_until(idle)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=LONG, max_tokens=1000, temperature=0
        )
    assert caught.value.status_code == 504
    error = caught.value.response.json()["error"]
    assert error["code"] == "timeout" and "server.timeout_s" in error["message"]
    assert server.wait_until(idle, timeout_s=5)


def test_cors_only_for_the_configured_origins(server):
    preflight = httpx.options(
        f"{server.api}/chat/completions",
        headers={
            "Origin": KIOSK,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == KIOSK
    allowed = httpx.get(f"{server.api}/models", headers={"Origin": KIOSK})
    assert allowed.headers["access-control-allow-origin"] == KIOSK
    other = httpx.get(f"{server.api}/models", headers={"Origin": "http://elsewhere.test"})
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_no_key_needed_on_loopback_without_one(server):
    assert httpx.get(f"{server.api}/models").status_code == 200
