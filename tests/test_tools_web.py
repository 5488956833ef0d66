"""Timers and notes in the kiosk's server: a typed "set a timer" in a browser session is
answered without the model and rings later with an `announcement` message and speech; the
timers and notes routes under /v1 (list, add, delete, errors); the kiosk page's timers panel in a
real headless Chromium at 800x480 and 390x844 (screenshots in test-artifacts/)."""

from __future__ import annotations

import httpx
import pytest
from serving import running_server
from test_kiosk import ALWAYS, SCREENS, out_of_view
from test_web import ARTIFACTS, ScriptedBrowser, chromium, is_type, session_url, wait_page

RING_S = 5  # long enough for the page's once-a-second refresh to list the timer first


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


PANEL = """
const texts = (selector) => [...document.querySelectorAll(selector)].map(e => e.textContent);
const banner = document.getElementById('announcement');
return {state: window.assistantSession.state, form: !document.getElementById('text-form').hidden,
  timers: texts('#timer-list li'), notes: texts('#note-list li'),
  banner: banner && !banner.hidden ? banner.textContent : ''};
"""


def test_the_kiosk_page_lists_timers_and_notes_and_shows_the_ring(server):
    """In Chromium, typed: a note and a timer show in the panel, the ring shows as a banner, and
    on both kiosk screens the panel leaves the state, the last exchange and the controls in view."""
    driver = chromium("--deny-permission-prompts")  # no microphone: the page offers the text box

    def read(state):
        return wait_page(driver, state, timeout=120, read=lambda d: d.execute_script(PANEL))

    def say(text: str) -> None:
        driver.find_element("id", "text-input").send_keys(text)
        driver.find_element("css selector", "#text-form button").click()

    def fits(screen: str, moment: str) -> None:
        width, height = SCREENS[screen]
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        driver.save_screenshot(str(ARTIFACTS / f"kiosk-tools-{screen}-{moment}.png"))
        shown = [*ALWAYS, ".line.user", ".line.assistant", "#text-input", "#timers"]
        wait_page(driver, lambda out: out == [], timeout=5, read=lambda d: out_of_view(d, shown))

    ARTIFACTS.mkdir(exist_ok=True)
    try:
        driver.get(server.url + "/")
        driver.find_element("id", "start").click()
        read(lambda s: s["form"] and s["state"] == "listening")
        say("Add milk to my shopping list")
        read(lambda s: any("milk" in n for n in s["notes"]) and s["state"] == "listening")
        say(f"Set a tea timer for {RING_S} seconds")
        listed = read(lambda s: s["timers"])
        assert "tea" in listed["timers"][0] and any("milk" in n for n in listed["notes"])
        for number in range(1, 16):  # a long list: the panel scrolls on its own
            httpx.post(f"{server.api}/notes", json={"text": f"item {number}"}, timeout=10)
        read(lambda s: len(s["notes"]) == 16)
        for screen in SCREENS:
            fits(screen, "running")
        rang = read(lambda s: s["banner"])
        assert rang["banner"] == "Your tea timer is done!"
        read(lambda s: not s["timers"])
        fits("pi-touchscreen", "rang")
    finally:
        driver.quit()
