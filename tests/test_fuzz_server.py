"""Fuzzing `assistant serve` over real HTTP and WebSocket connections: every route with mutated
JSON and multipart bodies, and the browser session with random frames. The server always
answers a 4xx in OpenAI's error shape (never a 5xx), a session answers an error message or
closes cleanly, and the server is alive and well afterwards."""

from __future__ import annotations

import json
from urllib.parse import quote

import fuzzing
import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from serving import running_server
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ERROR_FIELDS = {"message", "type", "param", "code"}
VOICE = "en_US-joe-medium"

anything = fuzzing.nested(st.none() | fuzzing.scalars, 12)
tokens = st.integers(-3, 6) | st.sampled_from([0, 2**31, 2**63, 2**64, 10**30]) | anything
languages = st.sampled_from(["", "en", "zh", "xx", "klingon", "en-US", "ZH_hans", "../.."])
model_names = st.sampled_from(
    ["tts-1", "whisper-1", "gpt-4o-mini", "local", "", "../../etc/passwd", "/etc/passwd", "x" * 300]
)
voices = st.sampled_from([VOICE, "alloy", "nova", "", "../en_US-joe-medium", "/tmp", "x" * 300])
texts = st.text(max_size=60) | st.sampled_from(["```\ncode only\n```", "🙂🙂🙂", "\u200b\u200f"])

unknown_fields = st.dictionaries(st.text(max_size=8), anything, max_size=2)


def with_unknown_fields(bodies: st.SearchStrategy) -> st.SearchStrategy:
    return st.builds(lambda known, extra: {**extra, **known}, bodies, unknown_fields)


speech_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_names | anything,
        "input": texts | anything,
        "voice": voices | anything,
        "speed": st.floats(allow_nan=True) | st.sampled_from([10**400 // 10**100, 1]) | anything,
        "response_format": st.sampled_from(["wav", "mp3", "pcm", "opus", "flac", "doc"]) | anything,
        "instructions": texts | anything,
    },
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_names | anything,
        "messages": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "role": st.sampled_from(["user", "system", "tool", "x"]) | anything,
                    "content": texts | anything,
                },
            )
            | anything,
            max_size=3,
        )
        | anything,
        "max_tokens": tokens,
        "max_completion_tokens": tokens,
        "temperature": st.floats(allow_nan=True) | anything,
        "stream": st.booleans() | anything,
        "stop": texts | st.lists(texts, max_size=6) | anything,
        "n": st.integers(-2, 3) | anything,
    },
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz-serve")
    env = {"ASSISTANT_HISTORY_PATH": str(tmp / "history.db")}
    with running_server(tmp, "llm.max_tokens=6", "server.queue_size=16", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def dump(body) -> bytes:
    """JSON as a careless client writes it: NaN and Infinity included, surrogates passed raw."""
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


def assert_answered(response: httpx.Response) -> None:
    """A success, or a 4xx whose body is OpenAI's error shape; never a 5xx."""
    body = response.read()
    assert response.status_code < 500, (response.status_code, body[:500])
    if response.status_code >= 400:
        error = json.loads(body)
        assert set(error) == {"error"} and set(error["error"]) == ERROR_FIELDS, error
        assert error["error"]["message"]
        if response.status_code == 429:
            assert response.headers["retry-after"]


def post_json(http: httpx.Client, path: str, content: bytes) -> None:
    headers = {"content-type": "application/json"}
    with http.stream("POST", path, content=content, headers=headers) as response:
        assert_answered(response)


@fuzzing.scaled(60)
@given(body=with_unknown_fields(speech_bodies))
@example(body={"model": "tts-1", "voice": "alloy", "input": "Hi.", "speed": 10**400})
@example(body={"model": "tts-1", "voice": "alloy", "input": "\ud800 lone surrogate"})
@example(body={"model": "tts-1", "voice": "../../../etc", "input": "Hi."})
def test_speech_answers_every_body_with_audio_or_a_4xx(http, body):
    post_json(http, "/v1/audio/speech", dump(body))


@fuzzing.scaled(60)
@given(body=with_unknown_fields(chat_bodies))
@example(
    body={
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 2**64,
    }
)
@example(body={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\ud800"}]})
def test_chat_answers_every_body_with_a_reply_or_a_4xx(http, body):
    post_json(http, "/v1/chat/completions", dump(body))


@fuzzing.scaled(40)
@given(raw=st.binary(max_size=200))
@example(raw=b"[" * 100_000)  # deep nesting
@example(raw=b'{"a":' * 50_000)
@example(raw=b'{"model": "\xff\xfe"}')  # not UTF-8
@example(raw=b'{"input": NaN, "speed": Infinity}')
def test_raw_bodies_on_every_json_route_get_a_4xx(http, raw):
    for path in ("/v1/audio/speech", "/v1/chat/completions", "/v1/history/turns/1/feedback"):
        post_json(http, path, raw)


@fuzzing.scaled(40)
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["model", "language", "prompt", "temperature", "response_format", "stream", "x"]
        ),
        st.text(max_size=20) | languages,
        max_size=6,
    ),
    audio=st.binary(max_size=400) | st.just(b"RIFF\x24\x00\x00\x00WAVEfmt "),
    filename=st.text(max_size=30),
    with_file=st.booleans(),
)
def test_transcription_uploads_get_text_or_a_4xx(http, fields, audio, filename, with_file):
    files = {"file": (filename or "a.wav", audio, "audio/wav")} if with_file else None
    data = {"model": "whisper-1", **fields}
    response = http.post("/v1/audio/transcriptions", data=data, files=files or {"x": ("", b"")})
    assert_answered(response)


@fuzzing.scaled(40)
@given(
    path_tail=st.text(max_size=30),
    number=st.integers(-(2**70), 2**70),
    query=st.dictionaries(
        st.sampled_from(["limit", "q", "format", "confirm"]), st.text(max_size=20)
    ),
)
@example(path_tail="x", number=2**64, query={"q": '"'})
@example(path_tail="x", number=1, query={"q": "AND OR NOT *", "limit": "١٢"})
def test_model_and_history_routes_answer_every_path_and_query(http, path_tail, number, query):
    for method, path in (
        ("GET", f"/v1/models/{quote(path_tail, safe='/')}"),
        ("GET", f"/v1/history/conversations/{number}"),
        ("GET", f"/v1/history/conversations/{number}/export"),
        ("DELETE", f"/v1/history/conversations/{number}"),
        ("GET", "/v1/history/conversations"),
        ("GET", "/v1/history/search"),
        ("POST", f"/v1/history/turns/{number}/feedback"),
    ):
        headers = {"content-type": "application/json"}
        content = b'{"rating": "up"}' if method == "POST" else None
        assert_answered(http.request(method, path, params=query, headers=headers, content=content))


frames = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=60),
    anything.map(lambda value: json.dumps(value, allow_nan=True)),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["hello", "control", "text", "voice", "played", "settings", "x"])},
        optional={
            "sample_rate": tokens,
            "action": st.sampled_from(
                ["pause", "resume", "mute", "unmute", "interrupt", "new", "?"]
            )
            | anything,
            "text": texts | anything,
            "voice": voices | anything,
            "wake_word": st.sampled_from(["hey_jarvis", "off", "?"]) | anything,
            "language": st.sampled_from(["auto", "en", "zh", "?"]) | anything,
            "epoch": tokens,
            "seconds": tokens,
        },
    ).map(lambda value: json.dumps(value, allow_nan=True)),
)


@fuzzing.scaled(25)
@given(sequence=st.lists(frames, min_size=1, max_size=12))
@example(
    sequence=[
        '{"type": "played", "epoch": 0, "seconds": 1e400}',
        '{"type": "played", "epoch": 0, "seconds": ' + "9" * 400 + "}",
    ]
)
@example(sequence=["[" * 100_000])
def test_random_session_frames_get_errors_or_a_clean_close(server, sequence):
    url = f"{server.url.replace('http', 'ws')}/v1/session"
    with connect(url, max_size=None, open_timeout=30) as socket:
        assert json.loads(socket.recv(timeout=30))["type"] == "ready"
        try:
            for frame in sequence:
                socket.send(frame)
            socket.send(json.dumps({"type": "control", "action": "pause"}))
            while (message := socket.recv(timeout=30)) is not None:
                if isinstance(message, str) and json.loads(message).get("type") == "pause":
                    break
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code in (1000, 1009), closed
    assert server.health()["status"] == "ok"


def test_the_server_is_healthy_after_the_fuzzing(server, http):
    """Last in the module: no worker left busy, and a plain request is still answered."""
    assert server.wait_until(lambda h: not any(w["busy"] for w in h["workers"].values()))
    reply = http.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say yes."}]},
    )
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
