"""Timers, the time and the shopping list by voice, end to end: espeak's speech through the test
microphone into `assistant talk` (real models), the answers and the timer's announcement out of
the test speaker, and a restart in the middle of a timer. The sentences are ones whisper tiny.en
hears right from espeak ("Set a timer" alone is often heard as "Santa Tyler")."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime

from audio_rig import ASSISTANT
from test_talk import (  # noqa: F401 (the fixtures pulse and rig)
    heard_on_speaker,
    pulse,
    rig,
    speech,
    start_talk,
)


def test_a_kitchen_timer_the_time_and_a_list_by_voice_surviving_a_restart(
    rig,  # noqa: F811
    espeak,
    stt,
    tmp_path,
):
    microphone, speaker, environment = rig
    environment = {**environment, "ASSISTANT_TOOLS_PATH": str(tmp_path / "tools.db"),
                   "ASSISTANT_HISTORY_ENABLED": "true",
                   "ASSISTANT_HISTORY_PATH": str(tmp_path / "history.db")}  # fmt: skip
    talk = start_talk(environment)
    microphone.say(speech(espeak, "Please set a timer for three seconds."))
    confirmed = talk.wait_for(r"^assistant: OK, timer set for 3 seconds\.")
    set_at = time.monotonic()
    rang = talk.wait_for(r"^assistant: Your timer is done!", after=confirmed, timeout=30)
    waited = time.monotonic() - set_at
    assert 1.5 < waited < 10, waited  # about 3 s after it was set (the confirmation is spoken)
    talk.wait_for(r"^\[listening\]", after=rang)

    microphone.say(speech(espeak, "What time is it?"))
    now = datetime.now().astimezone()
    told = talk.wait_for(r"^assistant: It's ", after=rang)
    clock = re.search(r"It's (\d+):(\d\d) (AM|PM)", talk.lines[told])
    assert clock, talk.lines[told]
    hour = int(clock[1]) % 12 + (12 if clock[3] == "PM" else 0)
    said = now.replace(hour=hour, minute=int(clock[2]), second=0, microsecond=0)
    assert abs((said - now.replace(second=0, microsecond=0)).total_seconds()) <= 60
    talk.wait_for(r"^\[listening\]", after=told)  # said to the end: the next is no barge-in

    microphone.say(speech(espeak, "Please add milk to my shopping list."))
    added = talk.wait_for(r"^assistant: Added milk to your shopping list\.", after=told)
    talk.wait_for(r"^\[listening\]", after=added)
    microphone.say(speech(espeak, "Please set a timer for twelve seconds."))
    talk.wait_for(r"^assistant: OK, timer set for 12 seconds\.", after=told)
    talk.send("q")  # quit with the timer running
    assert talk.finish() == 0, talk.output()
    spoken = heard_on_speaker(speaker, stt).lower()
    assert "timer" in spoken and "done" in spoken, spoken

    # the list and the timer are in the store: the CLI sees them
    cli = {"env": environment, "capture_output": True, "text": True, "timeout": 120}
    assert "milk" in subprocess.run([ASSISTANT, "notes", "list"], **cli).stdout
    pending = subprocess.run([ASSISTANT, "timers", "list"], **cli).stdout
    assert " timer " in pending, pending

    again = start_talk(environment)  # the restart: the timer still rings (late, or missed)
    rang = again.wait_for(
        r"^assistant: (Your timer is done!|Missed while I was off: timer)", timeout=60
    )
    again.wait_for(r"^\[listening\]", after=rang)  # said to the end: the next is no barge-in
    microphone.say(speech(espeak, "Please read my shopping list."))
    again.wait_for(r"^assistant: Your shopping list has 1: milk\.")
    again.send("q")
    assert again.finish() == 0, again.output()
    done = subprocess.run([ASSISTANT, "timers", "list", "--all"], **cli).stdout
    assert "pending" not in done and "left" not in done, done
    # the announcement is an assistant turn of the history, with no user turn before it
    shown = subprocess.run([ASSISTANT, "history", "show", "1"], **cli).stdout
    assert "Your timer is done!" in shown, shown
