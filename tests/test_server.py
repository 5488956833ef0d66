"""`assistant serve` run for real, driven by the official openai client: every endpoint,
every alias, every error status, the API key, and a bounded load test."""

from __future__ import annotations

import math
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from conftest import word_error_rate, words
from serving import ASSISTANT, clean_env, free_port, running_server

from assistant.audio.codec import decode_bytes, wav_bytes
from assistant.types import AudioChunk, ChatMessage

KEY = "sk-local-test-7f3a9c"
LIGHTS = "Please turn off the kitchen lights."
SPOKEN = "The weather is sunny today."
ERROR_FIELDS = {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # A key on loopback too (so it is required), and a queue that holds the load test.
    tmp = tmp_path_factory.mktemp("serve")
    with running_server(tmp, f"server.api_key={KEY}", "server.queue_size=8") as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=server.api, api_key=KEY, max_retries=0, timeout=120) as api:
        yield api


@pytest.fixture(scope="module")
def lights_wav(espeak):
    return espeak(LIGHTS, "lights")


def error_of(caught: pytest.ExceptionInfo) -> dict:
    """The OpenAI-shaped error body of a failed call, checked for its four fields."""
    body = caught.value.response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_FIELDS, body
    return body["error"]


# --- health and models ------------------------------------------------------------------------


def test_health_is_open_and_reports_the_workers(server):
    health = httpx.get(f"{server.url}/health", timeout=10)
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert set(health.json()["workers"]) == {"stt", "chat", "tts"}


def test_models_lists_local_names_and_openai_aliases(client):
    ids = {model.id for model in client.models.list()}
    local = {"whisper-tiny.en", "smollm2-135m-instruct", "local"}
    aliases = {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini", "tts-1", "gpt-4o-mini-tts"}
    assert local | aliases <= ids


def test_model_retrieve_and_unknown(client):
    model = client.models.retrieve("whisper-1")
    assert model.id == "whisper-1"
    assert model.model_extra["alias_of"] == "whisper-tiny.en"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert "whisper-1" in error_of(caught)["message"]


# --- transcriptions ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["whisper-1", "gpt-4o-mini-transcribe", "whisper-tiny.en"])
def test_transcription_of_espeak_speech(client, lights_wav, model):
    with lights_wav.open("rb") as file:
        result = client.audio.transcriptions.create(model=model, file=file)
    assert word_error_rate(result.text, LIGHTS) <= 0.35, result.text


def test_transcription_response_formats(client, lights_wav):
    data = lights_wav.read_bytes()

    def transcribe(response_format: str, **options):
        return client.audio.transcriptions.create(
            model="whisper-1",
            file=("lights.wav", data),
            response_format=response_format,
            **options,
        )

    text = transcribe("text", language="en", prompt="Kitchen lights.", temperature=0)
    assert isinstance(text, str) and "kitchen" in words(text)
    srt = transcribe("srt")
    assert srt.startswith("1\n00:00:0") and " --> " in srt and "kitchen" in words(srt)
    vtt = transcribe("vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:0") and "kitchen" in words(vtt)
    verbose = transcribe("verbose_json")
    assert verbose.language == "english" and verbose.duration > 1.0
    assert verbose.segments and verbose.segments[0].end > verbose.segments[0].start
    assert "kitchen" in words(verbose.text)


# --- speech -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_format", "rate"),
    [("mp3", 22050), ("opus", 48000), ("aac", 22050), ("flac", 22050), ("wav", 22050)],
)
def test_speech_in_each_format_decodes_and_is_understood(client, response_format, rate):
    speech = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SPOKEN, response_format=response_format
    )
    data = speech.read()
    audio = decode_bytes(data, name=f"speech.{response_format}")
    assert audio.sample_rate == rate and audio.seconds > 1.0
    heard = client.audio.transcriptions.create(
        model="whisper-1", file=(f"speech.{response_format}", data)
    )
    assert word_error_rate(heard.text, SPOKEN) <= 0.35, heard.text


def test_speech_pcm_is_raw_24khz(client):
    data = client.audio.speech.create(
        model="gpt-4o-mini-tts", voice="nova", input=SPOKEN, response_format="pcm"
    ).read()
    assert len(data) % 2 == 0 and not data.startswith(b"RIFF")
    audio = AudioChunk(data, 24000)
    assert 1.0 < audio.seconds < 5.0
    heard = client.audio.transcriptions.create(
        model="whisper-1", file=("speech.wav", wav_bytes(audio))
    )
    assert word_error_rate(heard.text, SPOKEN) <= 0.35, heard.text


def test_speech_is_streamed_as_it_is_synthesized(client):
    text = "One sentence comes first. Then another one follows. And a third one ends it."
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="echo", input=text, response_format="wav"
    ) as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in response.headers
        parts = list(response.iter_bytes())
    assert len(parts) >= 2
    assert decode_bytes(b"".join(parts)).seconds > 3.0


@pytest.mark.parametrize(
    ("model", "voice"),
    [("tts-1", "shimmer"), ("tts-1-hd", "onyx"), ("local", "en_US-joe-medium")],
)
def test_speech_model_and_voice_aliases(client, model, voice):
    speech = client.audio.speech.create(
        model=model,
        voice=voice,
        input="Hello.",
        response_format="wav",
        speed=1.5,
        instructions="Speak cheerfully.",
    )
    assert decode_bytes(speech.read()).seconds > 0.2


# --- chat -------------------------------------------------------------------------------------


def test_chat_completion(client):
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "What colour is the sky?"},
        ],
        max_tokens=24,
        temperature=0,
    )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content.strip()
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_chat_completion_streamed(client):
    stream = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
        max_tokens=16,
        stream=True,
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text.strip() and all(c.object == "chat.completion.chunk" for c in chunks)


def test_chat_max_tokens_and_stop(client):
    story = [{"role": "user", "content": "Tell me a long story about a lighthouse keeper."}]
    short = client.chat.completions.create(
        model="gpt-4o", messages=story, max_tokens=3, temperature=0
    )
    assert short.choices[0].finish_reason == "length"
    stopped = client.chat.completions.create(
        model="gpt-4o", messages=story, max_tokens=60, temperature=0, stop=["."]
    )
    assert "." not in stopped.choices[0].message.content


def test_usage_and_finish_reason_are_llama_cpps_own_counts(client, chat):
    """What Home Assistant's OpenAI integrations read: exact `usage` and `finish_reason`, the
    counts llama.cpp itself gives for the same prompt (greedy, so the reply is the same)."""
    said = [ChatMessage("user", "Say hi.")]
    messages = [{"role": m.role, "content": m.content} for m in said]
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, max_tokens=100, temperature=0
    )
    own = chat.llama.create_completion(chat.prompt_tokens(said), max_tokens=100, temperature=0)
    assert reply.choices[0].message.content == own["choices"][0]["text"].strip()
    assert reply.usage.prompt_tokens == own["usage"]["prompt_tokens"]
    assert reply.usage.completion_tokens == own["usage"]["completion_tokens"]
    assert reply.usage.total_tokens == own["usage"]["total_tokens"]
    assert reply.choices[0].finish_reason == own["choices"][0]["finish_reason"] == "stop"
    cut = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, max_tokens=4, temperature=0
    )
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 4
    stopped = client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, max_tokens=100, temperature=0, stop=["corner"]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert "corner" in reply.choices[0].message.content
    assert "corner" not in stopped.choices[0].message.content
    assert 0 < stopped.usage.completion_tokens < reply.usage.completion_tokens


def test_streamed_usage_when_asked_for_as_openai_sends_it(client):
    hello = [{"role": "user", "content": "Say hello."}]
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=hello, max_tokens=16, temperature=0, stream=True,
        stream_options={"include_usage": True},
    ))  # fmt: skip
    last = chunks[-1]
    assert last.choices == [] and all(c.usage is None for c in chunks[:-1])
    whole = client.chat.completions.create(
        model="gpt-4o-mini", messages=hello, max_tokens=16, temperature=0
    )
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.total_tokens == whole.usage.total_tokens
    assert chunks[-2].choices[0].finish_reason == whole.choices[0].finish_reason
    plain = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=hello, max_tokens=16, stream=True
    ))  # fmt: skip
    assert all(c.usage is None and c.choices for c in plain)


# --- errors -----------------------------------------------------------------------------------


def test_unknown_names_get_404_with_the_valid_ones(client, lights_wav):
    hello = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=hello)
    assert "gpt-4o-mini" in error_of(caught)["message"]
    assert "smollm2-135m-instruct" in error_of(caught)["message"]
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    error = error_of(caught)
    assert error["param"] == "voice" and "alloy" in error["message"]
    assert "en_US-joe-medium" in error["message"]
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.speech.create(model="tts-9", voice="alloy", input="Hi.")
    assert "tts-1" in error_of(caught)["message"]
    with pytest.raises(openai.NotFoundError) as caught:
        client.audio.transcriptions.create(model="whisper-9", file=lights_wav.open("rb"))
    assert "whisper-1" in error_of(caught)["message"]


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (lambda c: c.chat.completions.create(model="gpt-4o", messages=[]), "messages"),
        (
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], temperature=5
            ),
            "temperature",
        ),
        (
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "robot", "content": "hi"}]
            ),
            "messages.[0].role",
        ),
        (
            lambda c: c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=0
            ),
            "max_tokens",
        ),
        (lambda c: c.audio.speech.create(model="tts-1", voice="alloy", input=" "), "input"),
        (
            lambda c: c.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4097),
            "input",
        ),
        (
            lambda c: c.audio.speech.create(model="tts-1", voice="alloy", input="Hi.", speed=9),
            "speed",
        ),
        (
            lambda c: c.audio.speech.create(
                model="tts-1", voice="alloy", input="Hi.", response_format="ogg"
            ),
            "response_format",
        ),
    ],
)
def test_bad_requests_get_400(client, call, param):
    with pytest.raises(openai.BadRequestError) as caught:
        call(client)
    assert error_of(caught)["param"] == param


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # openai's own warning about "xml"
def test_bad_transcription_requests_get_400(client, lights_wav, tmp_path):
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="whisper-1", file=lights_wav.open("rb"), response_format="xml"
        )
    assert error_of(caught)["param"] == "response_format"
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(
            model="whisper-1", file=("notes.txt", b"This is a text file, not audio.\n" * 50)
        )
    error = error_of(caught)
    assert error["code"] == "invalid_file_format" and "notes.txt" in error["message"]
    with pytest.raises(openai.BadRequestError) as caught:  # the tiny tier's Whisper is English
        client.audio.transcriptions.create(model="whisper-1", file=lights_wav.open("rb"),
                                           language="zh")  # fmt: skip
    assert "hears English only, not 'zh'" in error_of(caught)["message"]
    truncated = lights_wav.read_bytes()[:1000]
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("cut.wav", truncated))
    assert "truncated" in error_of(caught)["message"]


def test_wrong_content_type_gets_415(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    as_json = httpx.post(
        f"{server.api}/audio/transcriptions", json={"model": "whisper-1"}, headers=auth
    )
    assert as_json.status_code == 415
    assert set(as_json.json()["error"]) == ERROR_FIELDS
    as_form = httpx.post(f"{server.api}/chat/completions", data={"model": "x"}, headers=auth)
    assert as_form.status_code == 415


def test_upload_over_25_mb_gets_413(client):
    too_big = bytes(26 * 1024 * 1024)
    with pytest.raises(openai.APIStatusError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", too_big))
    assert caught.value.status_code == 413
    assert "25 MB" in error_of(caught)["message"]


def test_the_key_is_required(server):
    wrong = openai.OpenAI(base_url=server.api, api_key="wrong", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as caught:
        wrong.models.list()
    assert error_of(caught)["code"] == "invalid_api_key"
    missing = httpx.get(f"{server.api}/models")
    assert missing.status_code == 401
    assert set(missing.json()["error"]) == ERROR_FIELDS
    assert "API key" in missing.json()["error"]["message"]
    not_bearer = httpx.get(f"{server.api}/models", headers={"Authorization": f"Basic {KEY}"})
    assert not_bearer.status_code == 401


def test_unknown_url_and_method_in_openai_shape(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    unknown = httpx.get(f"{server.api}/engines", headers=auth)
    assert unknown.status_code == 404 and set(unknown.json()["error"]) == ERROR_FIELDS
    wrong_method = httpx.delete(f"{server.api}/chat/completions", headers=auth)
    assert wrong_method.status_code == 405


def test_no_cors_unless_configured(server):
    origin = {"Origin": "http://kiosk.test", "Authorization": f"Bearer {KEY}"}
    response = httpx.get(f"{server.api}/models", headers=origin)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = httpx.options(
        f"{server.api}/chat/completions",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


# --- start-up ---------------------------------------------------------------------------------


def run_serve(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [ASSISTANT, "serve", *args],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=60,
        check=False,
    )


def test_refuses_to_listen_beyond_loopback_without_a_key(tmp_path):
    result = run_serve(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_port_in_use_is_one_clear_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve(tmp_path, "--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# --- load -------------------------------------------------------------------------------------


def test_load_8_clients_x_5_requests(client, lights_wav, capsys):
    question = lights_wav.read_bytes()

    def request(kind: int) -> tuple[int, float]:
        started = time.perf_counter()
        try:
            if kind == 0:
                client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "Say hi."}],
                    max_tokens=8,
                )
            elif kind == 1:
                client.audio.speech.create(
                    model="tts-1", voice="alloy", input="Hello there.", response_format="wav"
                ).read()
            else:
                client.audio.transcriptions.create(model="whisper-1", file=("q.wav", question))
            status = 200
        except openai.APIStatusError as error:
            status = error.status_code
        return status, time.perf_counter() - started

    def one_client(index: int) -> list[tuple[int, float]]:
        return [request((index + turn) % 3) for turn in range(5)]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for client_results in pool.map(one_client, range(8)) for r in client_results]
    elapsed = time.perf_counter() - started
    statuses = [status for status, _ in results]
    latencies = sorted(latency for _, latency in results)
    p95 = latencies[math.ceil(0.95 * len(latencies)) - 1]
    with capsys.disabled():
        print(
            f"\nload: 8 clients x 5 requests in {elapsed:.1f} s; latency p50 "
            f"{latencies[len(latencies) // 2]:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s"
        )
    assert len(results) == 40
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses == [200] * 40, statuses  # queue_size 8 holds all eight clients
