"""The kiosk page on kiosk screens, with a wake word: the voice session over a real WebSocket,
and the page in a real headless Chromium at the Raspberry Pi touchscreen's 800x480 and a phone's
390x844, its microphone playing a WAV file. Screenshots go to test-artifacts/."""

from __future__ import annotations

import sqlite3
import time

import pytest
from serving import running_server
from test_web import ARTIFACTS, ScriptedBrowser, chromium, is_type, session_url
from test_web import wait_page as wait_on_page

from assistant.audio.codec import concat, resample, silence, write_wav
from assistant.types import AudioChunk

FOLLOW_UP_S = 3.0
SCREENS = {"pi-touchscreen": (800, 480), "phone-upright": (390, 844)}
# every element that must be in view, without scrolling, whatever the state
ALWAYS = ["#orb", "#state-label", "#start", "#pause", "#mute", "#interrupt", "#new", "#end"]
IN_VIEW = """
const inside = (r, box) => r.width > 0 && r.height > 0 && r.top >= box.top - 1
  && r.left >= box.left - 1 && r.bottom <= box.bottom + 1 && r.right <= box.right + 1;
const screen = {top: 0, left: 0, bottom: innerHeight, right: innerWidth};
const transcript = document.getElementById('transcript').getBoundingClientRect();
const out = [];
for (const selector of arguments[0]) {
  const all = document.querySelectorAll(selector), element = all[all.length - 1];  // the last
  if (!element) { out.push(selector + ' (missing)'); continue; }
  const rect = element.getBoundingClientRect();
  const line = element.closest('#transcript');
  if (!inside(rect, screen) || (line && !inside(rect, transcript))) out.push(selector);
}
const page = document.scrollingElement;
if (page.scrollHeight > innerHeight || page.scrollWidth > innerWidth) out.push('page scrolls');
return out;
"""

EARLIER_TURNS = """
for (let i = 1; i <= 8; i++) {
  for (const role of ['user', 'assistant']) {
    const line = document.createElement('p');
    line.className = `line ${role} earlier`;
    line.textContent = `Earlier ${role} line ${i}, long enough to take a line or two.`;
    document.getElementById('transcript').append(line);
  }
}
"""


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kiosk")
    database = tmp / "history.db"
    settings = (
        "conversation.wake_word=hey_jarvis",
        f"conversation.follow_up_s={FOLLOW_UP_S}",
        "llm.max_tokens=40",
        "llm.temperature=0",
    )
    with running_server(tmp, *settings, env={"ASSISTANT_HISTORY_PATH": str(database)}) as server:
        yield server, database


@pytest.fixture(scope="module")
def wake_question(tts) -> AudioChunk:
    """'Hey Jarvis' and a question in one breath, in the Piper voice microWakeWord hears."""
    return concat(list(tts.synthesize("Hey Jarvis, what is the capital of France?")))


def send_live(browser: ScriptedBrowser, audio: AudioChunk, rate: int = 16000) -> None:
    """Stream `audio` as a microphone would: 20 ms frames, at about real time."""
    pcm = resample(audio, rate).pcm
    step = 2 * rate // 50
    started = time.monotonic()
    for index, start in enumerate(range(0, len(pcm), step)):
        browser.send(pcm[start : start + step])
        time.sleep(max(0.0, started + index * 0.02 - time.monotonic()))


def test_the_session_waits_for_the_wake_word(kiosk, wake_question, espeak):
    from assistant.audio.codec import decode_file

    server, _ = kiosk
    browser = ScriptedBrowser(session_url(server))
    ready = browser.until(is_type("ready"))
    assert ready["state"] == "waiting" and ready["wake_word"] == "Hey Jarvis"
    browser.send({"type": "hello", "sample_rate": 16000})
    rate = wake_question.sample_rate
    send_live(browser, concat([decode_file(espeak("What is the capital of Spain?")),
                               silence(1.5, 16000)]))  # fmt: skip
    send_live(browser, concat([wake_question, silence(1.5, rate)]))
    woke = browser.until(lambda m: m["type"] == "state" and m["state"] == "listening")
    turn = browser.until(is_type("turn"), timeout=120)
    assert [m["text"] for m in browser.of("user")] and "france" in browser.of("user")[0][
        "text"
    ].lower()
    assert len(browser.of("user")) == 1, browser.of("user")  # Spain was not heard
    assert turn["turn_id"] > 0 and browser.frames  # the chime and the reply were sent
    send_live(browser, silence(FOLLOW_UP_S + 1, 16000))  # the follow-up window passes unused
    browser.until(lambda m: m["type"] == "state" and m["state"] == "waiting", timeout=20)
    assert woke in browser.messages
    browser.close()


def page(driver) -> dict:
    return driver.execute_script(
        "const s = window.assistantSession; return {state: s.state,"
        " user: [...document.querySelectorAll('.line.user')].map(e => e.textContent),"
        " assistant: [...document.querySelectorAll('.line.assistant')].map(e => e.textContent),"
        " rated: document.querySelectorAll('.line.assistant .rate button').length,"
        " label: document.getElementById('state-label').textContent,"
        " wake: document.getElementById('wake').textContent};"
    )


def wait_page(driver, predicate, timeout: float = 120) -> dict:
    return wait_on_page(driver, predicate, timeout, read=page)


def out_of_view(driver, selectors: list[str]) -> list[str]:
    return driver.execute_script(IN_VIEW, selectors)


def on_screen(screen: str, *flags: str):
    """Chromium the size of `screen` (SCREENS), with a fake microphone (`flags` may give its
    file); screenshots go to ARTIFACTS."""
    width, height = SCREENS[screen]
    driver = chromium(
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", *flags
    )
    ARTIFACTS.mkdir(exist_ok=True)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


@pytest.mark.parametrize("screen", SCREENS)
def test_the_page_fits_a_kiosk_screen_and_rates_replies(kiosk, wake_question, screen, tmp_path):
    server, database = kiosk
    microphone = tmp_path / "microphone.wav"
    rate = wake_question.sample_rate
    write_wav(microphone, concat([silence(4, rate), wake_question, silence(40, rate)]))
    driver = on_screen(screen, f"--use-file-for-fake-audio-capture={microphone}%noloop")
    try:
        driver.get(server.url + "/?autostart=1")
        waiting = wait_page(driver, lambda s: s["state"] == "waiting", timeout=30)
        assert waiting["label"] == "Say “Hey Jarvis”" and "Hey Jarvis" in waiting["wake"]
        assert out_of_view(driver, [*ALWAYS, "#wake"]) == []
        driver.save_screenshot(str(ARTIFACTS / f"kiosk-{screen}-waiting.png"))
        driver.execute_script(EARLIER_TURNS)  # a long conversation so far: the transcript overflows

        answered = wait_page(driver, lambda s: s["user"] and s["rated"] == 2)
        assert "france" in answered["user"][-1].lower() and answered["assistant"][-1]
        last = [".line.user", ".line.assistant", ".line.assistant .rate .up",
                ".line.assistant .rate .down"]  # fmt: skip
        assert out_of_view(driver, [*ALWAYS, *last]) == []
        driver.find_element("css selector", ".line.assistant .rate .up").click()
        pressed = driver.find_element("css selector", ".line.assistant .rate .up")
        deadline = time.monotonic() + 10
        while pressed.get_attribute("aria-pressed") != "true" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pressed.get_attribute("aria-pressed") == "true"
        driver.save_screenshot(str(ARTIFACTS / f"kiosk-{screen}-answered.png"))
        with sqlite3.connect(database) as db:
            rated = db.execute(
                "SELECT t.role, t.text, f.rating FROM feedback f JOIN turns t ON t.id = f.turn_id"
                " ORDER BY f.created_at DESC LIMIT 1"
            ).fetchone()
        assert rated[0] == "assistant" and rated[2] == 1 and rated[1] == answered["assistant"][-1]
        # the follow-up window passes with nothing said: waiting for the wake word again
        wait_page(driver, lambda s: s["state"] == "waiting", timeout=30)
    finally:
        driver.quit()
