"""Timers and notes in the kiosk's server: a typed "set a timer" in a browser session is
answered without the model and rings later with an `announcement` message and speech; the
timers and notes routes under /v1 (list, add, delete, errors)."""

from __future__ import annotations

import httpx
import pytest
from serving import running_server
from test_web import ScriptedBrowser, is_type, session_url


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tools-web")
    env = {"ASSISTANT_TOOLS_PATH": str(tmp / "tools.db"), "ASSISTANT_HISTORY_ENABLED": "false"}
    with running_server(tmp, env=env) as running:
        yield running


def test_a_timer_set_in_the_page_rings_in_the_page(server):
    browser = ScriptedBrowser(session_url(server))
    browser.until(is_type("ready"))
    browser.send({"type": "hello", "sample_rate": 48000})
    browser.send({"type": "text", "text": "Set a tea timer for 2 seconds."})
    confirmed = browser.until(is_type("turn"), timeout=120)
    assert confirmed["spoken"] == "OK, tea timer set for 2 seconds."
    assert "first_token" in confirmed["latencies"]  # the tool's answer, timed like a reply
    running = httpx.get(f"{server.api}/timers", timeout=10).json()["data"]
    assert [(t["kind"], t["label"]) for t in running] in ([("timer", "tea")], [])
    rang = browser.until(is_type("announcement"), timeout=30)
    assert rang["text"] == "Your tea timer is done!"
    said = browser.until(is_type("turn"), timeout=60)
    assert said["spoken"] == "Your tea timer is done!" and browser.audio_seconds > 0.5
    assert httpx.get(f"{server.api}/timers", timeout=10).json()["data"] == []
    browser.close()


def test_the_timers_and_notes_routes(server):
    api = server.api
    added = httpx.post(f"{api}/notes", json={"text": "flour"}, timeout=10)
    assert added.status_code == 201 and added.json()["list"] == "shopping"
    notes = httpx.get(f"{api}/notes", timeout=10).json()["data"]
    assert [n["text"] for n in notes] == ["flour"]
    note_id = notes[0]["id"]
    assert httpx.delete(f"{api}/notes/{note_id}", timeout=10).json()["deleted"] is True
    gone = httpx.delete(f"{api}/notes/{note_id}", timeout=10)
    assert gone.status_code == 404 and f"no note with id {note_id}" in gone.text
    bad = httpx.post(f"{api}/notes", json={"list": "todo"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "text"
    assert httpx.delete(f"{api}/timers/999", timeout=10).status_code == 404
    page = httpx.get(f"{server.url}/", timeout=10).text
    assert '<script src="/static/timers.js" defer></script>' in page
    assert httpx.get(f"{server.url}/static/timers.js", timeout=10).status_code == 200
