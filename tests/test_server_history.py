"""The saved conversations over HTTP (/v1/history), on a real `assistant serve` with its own
history file, seeded through the real store in this process and read back with httpx."""

from __future__ import annotations

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from serving import running_server

from assistant.history.export import conversation_dict, render
from assistant.history.recorder import Recorder
from assistant.history.records import TurnRecord
from assistant.history.store import SQLiteHistory

KEY = "sk-local-history-2b8e"
AUTH = {"Authorization": f"Bearer {KEY}"}
ERROR_FIELDS = {"message", "type", "param", "code"}
T0 = 1_700_000_000.0  # epoch seconds of the first seeded turn


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("history") / "history.db"


@pytest.fixture(scope="module")
def server(tmp_path_factory, db_path):
    tmp = tmp_path_factory.mktemp("serve-history")
    env = {"ASSISTANT_HISTORY_PATH": str(db_path)}
    with running_server(tmp, f"server.api_key={KEY}", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def store(server, db_path):
    """The same file, opened by this process while the server has it open too."""
    history = SQLiteHistory.open(db_path)
    yield history
    history.close()


@pytest.fixture
def api(server):
    with httpx.Client(base_url=f"{server.api}/history", headers=AUTH, timeout=30) as client:
        yield client


class Seeded:
    """Two conversations: `weather` (older, via Recorder) and `lights` (titled, interrupted)."""

    def __init__(self, store: SQLiteHistory) -> None:
        store.delete_all()
        recorder = Recorder(store, stt_model="whisper-tiny.en", llm_model="smollm2", voice="joe")
        self.question = recorder.record("user", "What's the weather in Paris?", started_at=T0)
        self.answer = recorder.record(
            "assistant",
            "It is sunny in Paris today.",
            started_at=T0 + 2,
            ended_at=T0 + 4,
            latencies={"stt": 412.0, "first_token": 230.5, "first_audio": 540.0},
        )
        self.weather = recorder.conversation_id
        self.lights = store.start_conversation(title="Kitchen", meta={"source": "test"})
        store.add_turn(
            self.lights,
            TurnRecord("user", "Turn off the kitchen lights.", started_at=T0 + 60),
        )
        self.cut = store.add_turn(
            self.lights,
            TurnRecord(
                "assistant",
                "Okay, turning off",
                generated="Okay, turning off the kitchen lights now.",
                interrupted=True,
                started_at=T0 + 62,
                ended_at=T0 + 63,
            ),
        )
        assert all((self.question, self.answer, self.weather, self.lights, self.cut))


@pytest.fixture
def seeded(store) -> Seeded:
    return Seeded(store)


def error_of(response: httpx.Response, status: int) -> dict:
    """The OpenAI-shaped error of a failed request, checked for its status and four fields."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_FIELDS, body
    return body["error"]


# --- reading --------------------------------------------------------------------------------


def test_list_is_newest_first_with_summaries(api, seeded):
    response = api.get("/conversations")
    assert response.status_code == 200
    body = response.json()
    assert body["enabled"] is True and body["object"] == "list"
    assert [c["id"] for c in body["data"]] == [seeded.lights, seeded.weather]
    lights, weather = body["data"]
    assert lights == {
        "id": seeded.lights,
        "title": "Kitchen",
        "started_at": lights["started_at"],
        "updated_at": T0 + 63,
        "turns": 2,
    }
    assert weather["title"] == "What's the weather in Paris?"  # untitled: the first question
    assert [c["id"] for c in api.get("/conversations", params={"limit": 1}).json()["data"]] == [
        seeded.lights
    ]


@pytest.mark.parametrize("limit", ["0", "-1", "ten", "1001", ""])
def test_a_bad_limit_is_400(api, limit):
    assert error_of(api.get("/conversations", params={"limit": limit}), 400)["param"] == "limit"
    assert error_of(api.get("/search", params={"q": "x", "limit": limit}), 400)["param"] == "limit"


def test_get_a_conversation_with_its_turns(api, seeded, store):
    response = api.get(f"/conversations/{seeded.lights}")
    assert response.status_code == 200
    body = response.json()
    assert body == json.loads(json.dumps(conversation_dict(store.conversation(seeded.lights))))
    assert body["meta"] == {"source": "test"}
    user, cut = body["turns"]
    assert user["role"] == "user" and user["text"] == "Turn off the kitchen lights."
    assert cut["id"] == seeded.cut and cut["interrupted"] is True
    assert cut["text"] == "Okay, turning off"
    assert cut["generated"] == "Okay, turning off the kitchen lights now."
    weather = api.get(f"/conversations/{seeded.weather}").json()
    answer = weather["turns"][1]
    assert answer["latencies_ms"] == {"stt": 412.0, "first_token": 230.5, "first_audio": 540.0}
    assert (answer["llm_model"], answer["voice"], answer["feedback"]) == ("smollm2", "joe", None)


def test_unknown_ids_are_404_in_openais_shape(api, seeded):
    missing = seeded.lights + 1000
    for response in (
        api.get(f"/conversations/{missing}"),
        api.get(f"/conversations/{missing}/export", params={"format": "json"}),
        api.delete(f"/conversations/{missing}"),
        api.post(f"/turns/{missing}/feedback", json={"rating": "up"}),
    ):
        error = error_of(response, 404)
        assert error["code"] == "not_found" and str(missing) in error["message"]
    error = error_of(api.get("/conversations/not-a-number"), 404)
    assert "Unknown request URL" in error["message"]
    assert api.get("/conversations").json()["data"]  # nothing was deleted


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("md", "text/markdown; charset=utf-8"),
        ("json", "application/json"),
        ("txt", "text/plain; charset=utf-8"),
    ],
)
def test_export_each_format_as_an_attachment(api, seeded, store, fmt, media_type):
    response = api.get(f"/conversations/{seeded.lights}/export", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    disposition = response.headers["content-disposition"]
    assert disposition == f'attachment; filename="conversation-{seeded.lights}.{fmt}"'
    assert response.text == render(store.conversation(seeded.lights), fmt)
    if fmt == "json":
        assert response.json()["turns"][1]["interrupted"] is True
    else:
        assert "Turn off the kitchen lights." in response.text


def test_export_defaults_to_markdown_and_refuses_other_formats(api, seeded):
    default = api.get(f"/conversations/{seeded.weather}/export")
    assert default.headers["content-type"].startswith("text/markdown")
    assert default.text.startswith("# What's the weather in Paris?")
    error = error_of(api.get(f"/conversations/{seeded.weather}/export?format=pdf"), 400)
    assert error["param"] == "format" and "md, json, txt" in error["message"]


def test_search_any_case_newest_first(api, seeded):
    body = api.get("/search", params={"q": "KITCHEN"}).json()
    assert body["enabled"] is True
    assert [(h["conversation_id"], h["role"]) for h in body["data"]] == [
        (seeded.lights, "assistant"),  # only its generated text has the word
        (seeded.lights, "user"),
    ]
    assert body["data"][0]["text"] == "Okay, turning off the kitchen lights now."
    assert body["data"][0]["turn_id"] == seeded.cut
    paris = api.get("/search", params={"q": "paris", "limit": 1}).json()["data"]
    assert [h["turn_id"] for h in paris] == [seeded.answer]
    assert api.get("/search", params={"q": "zebra"}).json()["data"] == []


@pytest.mark.parametrize("query", ["", "?q=", "?q=%20%20"])
def test_search_needs_words(api, query):
    assert error_of(api.get(f"/search{query}"), 400)["param"] == "q"


# --- feedback -------------------------------------------------------------------------------


def test_feedback_up_and_down_is_saved(api, seeded, store):
    url = f"/turns/{seeded.answer}/feedback"
    response = api.post(url, json={"rating": "up", "comment": "short and right"})
    assert response.status_code == 200
    assert response.json() == {"turn_id": seeded.answer, "rating": 1, "comment": "short and right"}
    saved = store.conversation(seeded.weather).turns[1].feedback
    assert (saved.rating, saved.comment) == (1, "short and right")
    assert api.post(url, json={"rating": -1}).status_code == 200  # replaces the first
    turn = api.get(f"/conversations/{seeded.weather}").json()["turns"][1]
    assert turn["feedback"]["rating"] == -1 and turn["feedback"]["comment"] == ""
    assert api.post(f"/turns/{seeded.cut}/feedback", json={"rating": "down"}).status_code == 200
    assert store.conversation(seeded.lights).turns[1].feedback.rating == -1


@pytest.mark.parametrize(
    "body", [{"rating": "meh"}, {"rating": 2}, {"rating": True}, {"rating": 1.0}, {}, [1]]
)
def test_a_bad_rating_is_400(api, seeded, store, body):
    error_of(api.post(f"/turns/{seeded.answer}/feedback", json=body), 400)
    assert store.conversation(seeded.weather).turns[1].feedback is None


def test_feedback_body_errors(api, seeded):
    url = f"/turns/{seeded.answer}/feedback"
    bad_comment = api.post(url, json={"rating": "up", "comment": 5})
    assert error_of(bad_comment, 400)["param"] == "comment"
    not_json = api.post(url, content=b"{up", headers={"Content-Type": "application/json"})
    assert "not valid JSON" in error_of(not_json, 400)["message"]
    error_of(api.post(url, content=b"rating=up"), 415)
    user_turn = api.post(f"/turns/{seeded.question}/feedback", json={"rating": "up"})
    assert "assistant turns" in error_of(user_turn, 400)["message"]


# --- deleting -------------------------------------------------------------------------------


def test_delete_one_conversation(api, seeded, store):
    response = api.delete(f"/conversations/{seeded.weather}")
    assert response.status_code == 200
    assert response.json() == {"deleted": seeded.weather}
    error_of(api.get(f"/conversations/{seeded.weather}"), 404)
    assert [s.id for s in store.conversations()] == [seeded.lights]
    assert api.get("/search", params={"q": "paris"}).json()["data"] == []


@pytest.mark.parametrize("query", ["", "?confirm=false", "?confirm=yes", "?confirm="])
def test_delete_all_needs_confirm(api, seeded, store, query):
    error = error_of(api.delete(f"/conversations{query}"), 400)
    assert error["param"] == "confirm" and "confirm=true" in error["message"]
    assert len(store.conversations()) == 2


def test_delete_all_with_confirm(api, seeded, store):
    response = api.delete("/conversations", params={"confirm": "true"})
    assert response.status_code == 200
    assert response.json() == {"deleted": 2, "enabled": True}
    assert store.conversations() == []
    assert api.get("/conversations").json()["data"] == []
    assert api.delete("/conversations?confirm=true").json()["deleted"] == 0


# --- the API key, concurrency, and what the OpenAI endpoints leave behind --------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/conversations"),
        ("GET", "/conversations/{id}"),
        ("GET", "/conversations/{id}/export?format=txt"),
        ("GET", "/search?q=paris"),
        ("POST", "/turns/{answer}/feedback"),
        ("DELETE", "/conversations/{id}"),
        ("DELETE", "/conversations?confirm=true"),
    ],
)
def test_the_api_key_is_required(server, seeded, store, method, path):
    url = f"{server.api}/history" + path.format(id=seeded.weather, answer=seeded.answer)
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}):
        response = httpx.request(method, url, headers=headers, json={"rating": "up"}, timeout=30)
        assert error_of(response, 401)["code"] == "invalid_api_key"
    assert len(store.conversations()) == 2
    assert store.conversation(seeded.weather).turns[1].feedback is None


def test_a_locked_database_does_not_block_the_server(server, api, seeded, db_path):
    """A write waiting for SQLite's lock waits on a worker thread: the event loop still answers.
    Past the busy timeout (2 s) the answer is a clear 503; once the lock is gone, it works."""
    locker = sqlite3.connect(db_path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                api.post, f"/turns/{seeded.answer}/feedback", json={"rating": "up"}
            )
            time.sleep(0.5)  # the request is now waiting for the lock (for up to 2 s)
            assert server.health()["status"] == "ok"  # the event loop answers meanwhile
            assert not pending.done()
            error = error_of(pending.result(timeout=30), 503)
        assert error["code"] == "history_unavailable" and "locked" in error["message"]
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert api.post(f"/turns/{seeded.answer}/feedback", json={"rating": "up"}).status_code == 200


def test_concurrent_requests_share_the_store_safely(api, seeded, store):
    def one(index: int) -> int:
        if index % 4 == 0:
            rating = "up" if index % 8 else "down"
            return api.post(f"/turns/{seeded.answer}/feedback", json={"rating": rating}).status_code
        if index % 4 == 1:
            return api.get("/search", params={"q": "paris"}).status_code
        return api.get(f"/conversations/{seeded.weather}").status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(64))) == {200}
    assert store.conversation(seeded.weather).turns[1].feedback is not None


def test_a_chat_completion_writes_no_history(server, store):
    store.delete_all()
    response = httpx.post(
        f"{server.api}/chat/completions",
        headers=AUTH,
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hi."}]},
        timeout=120,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"].strip()
    assert store.conversations() == []
    listed = httpx.get(f"{server.api}/history/conversations", headers=AUTH, timeout=30).json()
    assert listed["data"] == []


# --- history off ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def off(tmp_path_factory):
    """A server with history.enabled = false (and no key: loopback needs none)."""
    tmp = tmp_path_factory.mktemp("serve-off")
    path = tmp / "never.db"
    env = {"ASSISTANT_HISTORY_PATH": str(path)}
    with running_server(tmp, "history.enabled=false", env=env) as running:
        yield running, path


def test_history_off_lists_nothing_and_finds_nothing(off):
    server, path = off
    base = f"{server.api}/history"
    listed = httpx.get(f"{base}/conversations", timeout=30)
    assert listed.status_code == 200
    assert listed.json() == {"object": "list", "data": [], "enabled": False}
    found = httpx.get(f"{base}/search", params={"q": "paris"}, timeout=30)
    assert found.json() == {"object": "list", "data": [], "enabled": False}
    deleted = httpx.delete(f"{base}/conversations?confirm=true", timeout=30)
    assert deleted.json() == {"deleted": 0, "enabled": False}
    assert not path.exists()  # nothing was created


def test_history_off_get_export_delete_feedback_are_404(off):
    server, path = off
    base = f"{server.api}/history"
    for response in (
        httpx.get(f"{base}/conversations/1", timeout=30),
        httpx.get(f"{base}/conversations/1/export?format=md", timeout=30),
        httpx.delete(f"{base}/conversations/1", timeout=30),
        httpx.post(f"{base}/turns/1/feedback", json={"rating": "up"}, timeout=30),
    ):
        error = error_of(response, 404)
        assert error["code"] == "history_disabled"
        assert "history is off" in error["message"]
    assert not path.exists()
