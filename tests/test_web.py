"""The kiosk page and its voice session: protocol tests over a real WebSocket, and the page in a
real headless Chromium whose microphone plays a WAV file."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import struct
import time
from pathlib import Path

import httpx
import pytest
from conftest import REPO, word_error_rate
from serving import running_server
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from assistant.audio.codec import concat, decode_file, silence, write_wav

ARTIFACTS = REPO / "test-artifacts"
STORY = ("llm.max_tokens=160", "llm.system_prompt=You tell long, detailed stories.")
WEB_DIR = REPO / "assistant" / "web"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("web")
    database = tmp / "history.db"
    env = {"ASSISTANT_HISTORY_PATH": str(database)}
    with running_server(tmp, *STORY, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def database(server) -> Path:
    return server.log.parent / "history.db"


class ScriptedBrowser:
    """Speaks the page's protocol over a real WebSocket; 'plays' audio as soon as it arrives."""

    def __init__(self, url: str, *, report_played: bool = True) -> None:
        self.socket = connect(url, max_size=None, open_timeout=20).__enter__()
        self.messages: list[dict] = []
        self.audio_seconds = 0.0
        self.frames: list[tuple[int, int, int]] = []  # rate, epoch, samples
        self.report_played = report_played
        self.epoch = 0

    def send(self, message: dict | str | bytes) -> None:
        self.socket.send(message if isinstance(message, str | bytes) else json.dumps(message))

    def until(self, predicate, timeout: float = 60) -> dict:
        """Receive until a JSON message satisfies `predicate`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"timed out; messages: {self.messages}"
            try:
                data = self.socket.recv(timeout=left)
            except TimeoutError:
                continue
            if isinstance(data, bytes):
                rate, epoch = struct.unpack_from("<II", data)
                samples = (len(data) - 8) // 2
                self.frames.append((rate, epoch, samples))
                if epoch == self.epoch:
                    self.audio_seconds += samples / rate
                    if self.report_played:
                        self.send({"type": "played", "epoch": epoch, "seconds": self.audio_seconds})
                continue
            message = json.loads(data)
            self.messages.append(message)
            if message["type"] == "clear":
                self.epoch, self.audio_seconds = message["epoch"], 0.0
            if predicate(message):
                return message

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind]

    def close(self) -> None:
        self.socket.close()


def session_url(server, token: str = "") -> str:
    query = f"?access_token={token}" if token else ""
    return f"{server.url.replace('http', 'ws')}/v1/session{query}"


def is_type(kind: str):
    return lambda message: message["type"] == kind


# --- the protocol, without a browser -----------------------------------------------------------


def test_a_session_starts_ready_with_the_voices(server):
    browser = ScriptedBrowser(session_url(server))
    ready = browser.until(is_type("ready"))
    assert ready["state"] == "listening"
    assert "en_US-joe-medium" in ready["voices"] and ready["voice"] == "en_US-joe-medium"
    browser.close()


def test_a_typed_turn_is_answered_with_streamed_audio(server):
    browser = ScriptedBrowser(session_url(server))
    browser.until(is_type("ready"))
    browser.send({"type": "hello", "sample_rate": 48000})
    browser.send({"type": "text", "text": "Say hello in one short sentence."})
    turn = browser.until(is_type("turn"), timeout=120)
    assert browser.of("user")[0]["text"] == "Say hello in one short sentence."
    assert browser.of("assistant") and not turn["interrupted"]
    assert turn["spoken"] == " ".join(" ".join(m["text"] for m in browser.of("assistant")).split())
    assert browser.frames and all(rate == 22050 and epoch == 0 for rate, epoch, _ in browser.frames)
    assert browser.audio_seconds > 0.5
    states = [m["state"] for m in browser.of("state")]
    assert states[:2] == ["thinking", "speaking"]
    browser.until(lambda m: m["type"] == "state" and m["state"] == "listening")
    assert "first_audio" in turn["latencies"]
    browser.close()


def test_bad_frames_get_clear_errors_and_the_session_goes_on(server):
    browser = ScriptedBrowser(session_url(server))
    browser.until(is_type("ready"))
    bad = [
        (b"\x00\x01" * 160, "hello"),  # audio before hello
        ("this is not json", "not JSON"),
        ("[1, 2]", "JSON objects"),
        ({"type": "dance"}, "unknown message type 'dance'"),
        ({"type": "hello", "sample_rate": 3}, "sample_rate"),
        ({"type": "control", "action": "explode"}, "control action must be one of"),
        (
            {"type": "voice", "voice": "nobody"},
            "unknown voice 'nobody'. Available: en_US-joe-medium",
        ),
        ({"type": "text", "text": "   "}, "text needs"),
        ({"type": "played", "epoch": "x", "seconds": 1}, "played needs"),
    ]
    for frame, expected in bad:
        browser.send(frame)
        error = browser.until(is_type("error"))
        assert expected in error["message"], (frame, error)
    browser.send({"type": "hello", "sample_rate": 16000})
    browser.send(b"\x01\x02\x03")
    assert "even byte count" in browser.until(is_type("error"))["message"]
    browser.send({"type": "text", "text": "Say yes."})
    assert not browser.until(is_type("turn"), timeout=120)["interrupted"]
    browser.close()


def test_an_oversized_frame_closes_the_session(server):
    browser = ScriptedBrowser(session_url(server))
    browser.until(is_type("ready"))
    browser.send({"type": "hello", "sample_rate": 16000})
    browser.send(bytes(300 * 1024))
    with pytest.raises(ConnectionClosed) as closed:
        browser.until(lambda m: False, timeout=10)
    assert closed.value.rcvd.code == 1009


def test_interrupt_stops_the_audio_and_keeps_only_what_was_played(server, database):
    browser = ScriptedBrowser(session_url(server), report_played=False)
    browser.until(is_type("ready"))
    browser.send({"type": "hello", "sample_rate": 16000})
    browser.send({"type": "text", "text": "Tell me a long story about a dragon."})
    browser.until(is_type("assistant"), timeout=120)
    browser.send({"type": "played", "epoch": 0, "seconds": 1.0})  # one second was heard
    browser.send({"type": "control", "action": "interrupt"})
    clear = browser.until(is_type("clear"))
    turn = browser.until(is_type("turn"))
    assert clear["epoch"] == 1
    assert turn["interrupted"]
    heard = turn["spoken"].split()
    assert 1 <= len(heard) <= 8  # about a second of speech
    written = " ".join(m["text"] for m in browser.of("assistant"))
    assert written.startswith(turn["spoken"])
    browser.close()
    with sqlite3.connect(database) as db:
        row = db.execute(
            "SELECT text, generated FROM turns WHERE role = 'assistant' AND interrupted = 1"
        ).fetchone()
    assert row is not None and row[0] == turn["spoken"] and len(row[1]) > len(row[0])


def test_a_closed_tab_ends_its_session_and_frees_the_model(server):
    first = ScriptedBrowser(session_url(server))
    first.until(is_type("ready"))
    first.send({"type": "text", "text": "Tell me a long story about a castle."})
    first.until(is_type("assistant"), timeout=120)
    first.close()  # mid-reply
    second = ScriptedBrowser(session_url(server))
    second.until(is_type("ready"))
    second.send({"type": "text", "text": "Say yes."})
    assert not second.until(is_type("turn"), timeout=120)["interrupted"]
    second.close()


def test_several_browsers_each_have_their_own_conversation(server):
    one, two = ScriptedBrowser(session_url(server)), ScriptedBrowser(session_url(server))
    for browser in (one, two):
        browser.until(is_type("ready"))
    one.send({"type": "text", "text": "Say one."})
    one.until(is_type("turn"), timeout=120)
    two.send({"type": "control", "action": "new"})
    two.until(is_type("reset"))
    two.send({"type": "text", "text": "Say two."})
    two.until(is_type("turn"), timeout=120)
    assert [m["text"] for m in one.of("user")] == ["Say one."]
    assert [m["text"] for m in two.of("user")] == ["Say two."]
    assert not one.of("reset")
    one.close()
    two.close()


def test_the_session_needs_the_key_when_the_server_has_one(tmp_path):
    with running_server(tmp_path, "server.api_key=sk-web-test") as keyed:
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            browser = ScriptedBrowser(session_url(keyed))
            browser.until(is_type("ready"), timeout=10)
        browser = ScriptedBrowser(session_url(keyed, "sk-web-test"))
        assert browser.until(is_type("ready"))["state"] == "listening"
        browser.close()
        assert httpx.get(keyed.url + "/").status_code == 200  # the page itself is public


def test_the_page_is_served_with_everything_local(server):
    page = httpx.get(server.url + "/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for asset in ("app.js", "style.css", "capture-worklet.js"):
        response = httpx.get(f"{server.url}/static/{asset}")
        assert response.status_code == 200
    for path in WEB_DIR.iterdir():  # no CDN, no web fonts, no remote anything
        assert not re.search(r"https?://", path.read_text()), path


# --- the page in a real browser ----------------------------------------------------------------


def chromium(*flags: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, (
        "chromium and chromium-driver are missing: scripts/test.sh installs them"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900",
        "--autoplay-policy=no-user-gesture-required", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        *flags,
    ):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def page_state(driver) -> dict:
    return driver.execute_script(
        "const s = window.assistantSession; return {state: s.state, audio: s.receivedSeconds,"
        " user: [...document.querySelectorAll('.line.user')].map(e => e.textContent),"
        " assistant: [...document.querySelectorAll('.line.assistant')].map(e => e.textContent),"
        " interrupted: document.querySelectorAll('.line.interrupted').length,"
        " notice: document.getElementById('notice').textContent,"
        " form: !document.getElementById('text-form').hidden};"
    )


def wait_page(driver, predicate, timeout: float = 90, read=None) -> dict:
    """The page's state (`read`, default `page_state`) once `predicate` holds of it."""
    deadline = time.monotonic() + timeout
    while True:
        state = (read or page_state)(driver)
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"timed out; page: {state}"
        time.sleep(0.2)


def test_a_spoken_question_is_answered_aloud_in_the_page(server, espeak, tmp_path):
    question = decode_file(espeak("Tell me a fun fact about cats.", "browser-question"), 22050)
    microphone = tmp_path / "microphone.wav"
    write_wav(microphone, concat([silence(1.5, 22050), question, silence(20, 22050)]))
    driver = chromium(
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop",
    )  # fmt: skip
    try:
        driver.get(server.url + "/?autostart=1")
        state = wait_page(driver, lambda s: s["user"] and s["assistant"] and s["audio"] > 0.5)
        assert word_error_rate(state["user"][0], "Tell me a fun fact about cats.") <= 0.3
        assert state["assistant"][0] and not state["form"]
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "web-conversation.png"))
    finally:
        driver.quit()


def test_without_the_microphone_the_page_offers_text_and_the_controls_work(server):
    driver = chromium("--deny-permission-prompts")
    try:
        driver.get(server.url + "/")
        driver.find_element("id", "start").click()
        state = wait_page(driver, lambda s: s["form"] and s["state"] == "listening", timeout=30)
        assert "microphone is not available" in state["notice"]
        driver.find_element("id", "text-input").send_keys("Tell me a long story about a knight.")
        driver.find_element("css selector", "#text-form button").click()
        wait_page(driver, lambda s: s["state"] == "speaking" and s["audio"] > 1)
        driver.find_element("id", "pause").click()
        wait_page(driver, lambda s: s["state"] == "paused", timeout=10)
        driver.find_element("id", "pause").click()  # now "Resume"
        wait_page(driver, lambda s: s["state"] == "speaking", timeout=10)
        driver.find_element("id", "interrupt").click()
        state = wait_page(driver, lambda s: s["interrupted"] == 1 and s["state"] == "listening")
        assert state["user"] == ["Tell me a long story about a knight."]
        driver.find_element("id", "mute").click()
        wait_page(driver, lambda s: s["state"] == "muted", timeout=10)
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "web-controls.png"))
        driver.find_element("id", "end").click()
        wait_page(driver, lambda s: s["state"] == "idle", timeout=10)
    finally:
        driver.quit()
