"""`assistant talk` end to end: real models, real (virtual) audio devices, spoken turns."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from audio_rig import (
    ASSISTANT,
    DEVICE_RATE,
    AssistantProcess,
    EchoPath,
    LiveMicrophone,
    PulseServer,
    alsa_environment,
    room_impulse_response,
    write_alsa_config,
)
from conftest import word_error_rate

from assistant.audio.codec import concat, decode_file, resample, rms
from assistant.types import AudioChunk

SHORT_ANSWERS = ["--set", "llm.max_tokens=32", "--set", "llm.temperature=0"]


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    yield server
    server.stop()


@pytest.fixture
def rig(pulse, tmp_path):
    """The test microphone (fed live) and speaker (a raw file), and the environment to use them."""
    speaker = tmp_path / "speaker.raw"
    microphone = LiveMicrophone(tmp_path / "microphone.fifo")
    config = write_alsa_config(tmp_path / "asound.conf", pulse, microphone.fifo, speaker)
    environment = {**alsa_environment(config), "ASSISTANT_HISTORY_ENABLED": "false"}
    yield microphone, speaker, environment
    microphone.close()


def start_talk(environment: dict, *extra: str) -> AssistantProcess:
    talk = AssistantProcess(
        [*SHORT_ANSWERS, *extra, "talk", "--input-device", "testmic", "--output-device",
         "testspeaker", "--timings"],
        environment,
    )  # fmt: skip
    talk.wait_for(r"^keys: ", timeout=90)
    return talk


def speech(espeak, text: str) -> AudioChunk:
    return decode_file(espeak(text, text[:20].replace(" ", "_")))


def heard_on_speaker(speaker: Path, stt) -> str:
    return stt.transcribe(AudioChunk(speaker.read_bytes(), DEVICE_RATE)).text


def test_devices_lists_the_test_devices(rig):
    _, _, environment = rig
    result = subprocess.run([ASSISTANT, "devices"], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    mic = next(line for line in result.stdout.splitlines() if "testmic" in line)
    assert f"{DEVICE_RATE} Hz" in mic and "in" in mic
    assert "testspeaker" in result.stdout


def test_two_spoken_turns_hands_free(rig, espeak, stt, tmp_path):
    microphone, speaker, environment = rig
    database = tmp_path / "history.db"
    environment = {**environment, "ASSISTANT_HISTORY_ENABLED": "true",
                   "ASSISTANT_HISTORY_PATH": str(database)}  # fmt: skip
    talk = start_talk(environment, "--set", "llm.system_prompt=Answer in one short sentence.")
    microphone.say(speech(espeak, "Tell me a fun fact about cats."))
    first = talk.wait_for(r"^  timings: ")
    listening = talk.wait_for(r"^\[listening\]", after=first)
    microphone.say(speech(espeak, "What colour is the sky?"))
    second = talk.wait_for(r"^  timings: ", after=listening)
    talk.send("q")
    assert talk.finish() == 0, talk.output()

    lines = talk.lines
    heard = [line[len("you: ") :] for line in lines if line.startswith("you: ")]
    assert len(heard) == 2
    assert word_error_rate(heard[0], "Tell me a fun fact about cats.") <= 0.2
    assert word_error_rate(heard[1], "What colour is the sky?") <= 0.25
    replies = [line[len("assistant: ") :] for line in lines if line.startswith("assistant: ")]
    assert replies and not any("interrupted" in line for line in lines)
    for turn_end in (first, second):  # every stage was timed
        for stage in ("endpoint", "transcript", "first_token", "first_audio"):
            assert stage in lines[turn_end]
    # both replies went out through the speaker
    spoken = heard_on_speaker(speaker, stt)
    assert word_error_rate(spoken, " ".join(replies)) <= 0.5, (spoken, replies)
    assert any(line.startswith("assistant: ") for line in lines[first + 1 : second])
    # the history holds both turns, as heard and as spoken, with their timings
    with sqlite3.connect(database) as db:
        turns = db.execute(
            "SELECT role, text, interrupted, latencies, stt_model, llm_model FROM turns ORDER BY id"
        ).fetchall()
    assert [t[0] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert [t[1] for t in turns if t[0] == "user"] == heard
    spoken_replies = [_reply_between(lines, 0, first), _reply_between(lines, first, second)]
    assert [t[1] for t in turns if t[0] == "assistant"] == spoken_replies
    assert not any(t[2] for t in turns)
    assert turns[0][4] == "whisper-tiny.en" and turns[1][5] == "smollm2-135m-instruct"
    assert "first_audio" in json.loads(turns[1][3])


def _reply_between(lines: list[str], start: int, end: int) -> str:
    """The assistant's words printed between two line indexes, as one text."""
    said = [
        line[len("assistant: ") :] for line in lines[start:end] if line.startswith("assistant: ")
    ]
    return " ".join(" ".join(said).split())


def test_speaking_over_the_assistant_interrupts_it(rig, espeak, stt):
    microphone, speaker, environment = rig
    talk = start_talk(
        environment, "--set", "llm.max_tokens=300",
        "--set", "llm.system_prompt=You tell long, detailed stories.",
    )  # fmt: skip
    microphone.say(speech(espeak, "Tell me a long story about a dragon."))
    talk.wait_for(r"^assistant: ")
    time.sleep(2.0)  # let a couple of seconds of the story play
    microphone.say(speech(espeak, "Stop. Please stop talking now."))
    interrupted = talk.wait_for(r"^\(interrupted; heard: ", timeout=30)
    next_turn = talk.wait_for(r"^you: .*[Ss]top", after=interrupted)
    talk.send("q")
    assert talk.finish() == 0, talk.output()
    heard = talk.lines[interrupted].removeprefix("(interrupted; heard: ").rstrip(")")
    written = " ".join(
        line[len("assistant: ") :]
        for line in talk.lines[:interrupted]
        if line.startswith("assistant: ")
    )
    assert heard and heard != "nothing"
    assert len(heard.split()) < len(written.split()) + 1
    timing = talk.lines[talk.wait_for(r"^  timings: .*barge_in", after=interrupted - 1)]
    assert "barge_in" in timing
    assert next_turn > interrupted
    # the speaker fell silent soon after the user began: far less than the story was played
    played = AudioChunk(speaker.read_bytes(), DEVICE_RATE)
    voiced = _voiced_seconds(played)
    assert voiced < 25, voiced


def _voiced_seconds(audio: AudioChunk) -> float:
    samples = resample(audio, 16000).to_float32()
    frames = samples[: len(samples) // 320 * 320].reshape(-1, 320)
    return float((abs(frames).max(axis=1) > 0.02).sum() * 0.02)


def echo_of_the_speaker(rig, tts, espeak, level_db: float, delay_s: float) -> EchoPath:
    """Open speakers: the assistant's voice comes back into the microphone through a room
    (`delay_s`, a decaying tail), `level_db` relative to the user's voice."""
    microphone, speaker, _ = rig
    voice = rms(concat(tts.synthesize("A sentence to know how loud the voice is.")))
    user = rms(speech(espeak, "Stop. Please stop talking now."))
    gain = 10 ** (level_db / 20) * user / voice
    return EchoPath(speaker, microphone, room_impulse_response(delay_s, DEVICE_RATE), gain)


STORY = ["--set", "llm.max_tokens=60", "--set", "llm.system_prompt=You tell long stories.",
         "--set", "audio.echo_cancellation=true"]  # fmt: skip


@contextlib.contextmanager
def story_over_its_echo(rig, tts, espeak, level_db: float, delay_s: float):
    """`assistant talk` asked for a story, its voice coming back into the microphone."""
    microphone, _, environment = rig
    echo = echo_of_the_speaker(rig, tts, espeak, level_db, delay_s)
    try:
        talk = start_talk(environment, *STORY)
        microphone.say(speech(espeak, "Tell me a long story about a dragon."))
        yield talk
        talk.send("q")
        assert talk.finish() == 0, talk.output()
    finally:
        echo.close()


@pytest.mark.parametrize("level_db,delay_s", [(6.0, 0.05), (0.0, 0.03)])
def test_with_echo_cancellation_the_assistant_does_not_interrupt_itself(
    rig, tts, espeak, level_db, delay_s
):
    """A whole story over its own echo, a talk's first reply (the canceller fresh). At 0 dB, with
    the rig's echo wandering by a few ms (before it was mixed in sample for sample), the
    echo-presence judge said "no echo" and passed the microphone through in 3 of 6 talks: the
    assistant took its own voice for the user (tests/test_echo_presence.py holds that offline);
    and the held reply's echo outlasted the guard's fixed 300 ms allowance in 2 of 25 runs (the
    speaker's echo tail is allowed for since: 24 of 24 runs, fresh-clone CI included)."""
    with story_over_its_echo(rig, tts, espeak, level_db=level_db, delay_s=delay_s) as talk:
        ended = talk.wait_for(r"^  timings: ", timeout=120)
        time.sleep(2.0)  # the echo's tail, and anything the assistant might take for a turn
    assert not any(line.startswith("(interrupted") for line in talk.lines), talk.output()
    assert sum(line.startswith("you: ") for line in talk.lines) == 1, talk.output()
    assert sum(line.startswith("assistant: ") for line in talk.lines[:ended]) >= 2


@pytest.mark.xfail(
    strict=False,
    reason="known defect (issue 12 open): the user speaks 1.5 s into the first reply, before the "
    "double-talk filter has shown that it models the room, so AEC3 alone decides their first "
    "words, and in double talk it often removes the user's voice at 0 dB: missed in 2 of 3 "
    "fresh-clone runs and 1 of 6 local runs on 2026-12-02, 3 of 13 in the sixteenth session; "
    "since the filter judges over 1 s instead of 2 (seventeenth session) missed in 0 of 9 local "
    "runs",
)
def test_speaking_over_the_echo_interrupts_the_assistant(rig, tts, espeak):
    microphone = rig[0]
    with story_over_its_echo(rig, tts, espeak, level_db=0, delay_s=0.03) as talk:
        talk.wait_for(r"^assistant: ", timeout=60)
        time.sleep(1.5)
        microphone.say(speech(espeak, "Stop. Please stop talking now."))
        interrupted = talk.wait_for(r"^\(interrupted; heard: ", timeout=30)
        talk.wait_for(r"^  timings: .*barge_in", after=interrupted - 1)


def test_mute_pause_and_quit_from_the_keys(rig, espeak):
    microphone, _, environment = rig
    talk = start_talk(environment)
    talk.send("m")
    muted = talk.wait_for(r"^\[muted\]")
    done = microphone.say(speech(espeak, "Can you hear me now?"))
    time.sleep(max(0, done - time.monotonic()) + 1.5)
    assert not any(line.startswith("you: ") for line in talk.lines[muted:])
    talk.send("m")
    unmuted = talk.wait_for(r"^\[listening\]", after=muted)
    microphone.say(speech(espeak, "Can you hear me now?"))
    talk.wait_for(r"^you: ", after=unmuted)
    talk.wait_for(r"^\[speaking\]", after=unmuted)
    talk.send("p")
    paused = talk.wait_for(r"^\[paused\]", after=unmuted)
    talk.send("p")
    talk.wait_for(r"^\[(speaking|listening)\]", after=paused)
    talk.send("q")
    assert talk.finish() == 0, talk.output()


def test_ctrl_c_exits_cleanly(rig):
    _, _, environment = rig
    talk = start_talk(environment)
    talk.interrupt()
    assert talk.finish() == 0
    assert "Traceback" not in talk.output()


def test_an_unknown_device_lists_the_real_ones(rig):
    _, _, environment = rig
    result = subprocess.run(
        [ASSISTANT, "talk", "--input-device", "no-such-mic"], capture_output=True, text=True,
        env=environment,
    )  # fmt: skip
    assert result.returncode == 2
    assert "'no-such-mic' matches no input device" in result.stderr and "testmic" in result.stderr


def test_no_microphone_points_to_the_browser_and_the_chat(tmp_path):
    # this machine's own state: ALSA with no sound card, and no sound server to reach
    environment = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-server"}
    environment.pop("ALSA_CONFIG_PATH", None)
    result = subprocess.run([ASSISTANT, "talk"], capture_output=True, text=True, env=environment)
    assert result.returncode == 1, result.stderr
    assert "no microphone" in result.stderr
    assert "assistant serve" in result.stderr and "assistant chat" in result.stderr
    assert "Traceback" not in result.stderr
    listed = subprocess.run([ASSISTANT, "devices"], capture_output=True, text=True, env=environment)
    assert listed.returncode == 0 and "no audio devices" in listed.stdout


def test_no_arguments_without_a_microphone_serves_the_browser_page(tmp_path):
    from serving import free_port

    port = free_port()
    environment = {
        **os.environ,
        "PULSE_SERVER": f"unix:{tmp_path}/no-server",
        "ASSISTANT_SERVER_PORT": str(port),
        "ASSISTANT_HISTORY_ENABLED": "false",
    }
    environment.pop("ALSA_CONFIG_PATH", None)
    # `assistant` alone acts only in a terminal: `script` gives it one
    process = subprocess.Popen(
        ["script", "-qfec", ASSISTANT, "/dev/null"], env=environment, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "talk in a browser at" in line:
                break
        assert any("no microphone" in line for line in lines), lines
        assert f"http://127.0.0.1:{port}/" in lines[-1]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=60).status_code == 200
    finally:
        process.terminate()
        process.wait(20)


def test_a_device_that_disappears_gives_a_clear_message(tmp_path, espeak):
    server = PulseServer(tmp_path / "pulse")  # a server of its own, to take away
    microphone = LiveMicrophone(tmp_path / "microphone.fifo")
    try:
        config = write_alsa_config(
            tmp_path / "asound.conf", server, microphone.fifo, tmp_path / "out.raw"
        )
        talk = start_talk({**alsa_environment(config), "ASSISTANT_HISTORY_ENABLED": "false"})
        server.process.kill()
        assert talk.finish(timeout=30) == 1, talk.output()  # not a crash (-11) nor a hang
        # PortAudio either ends a stream ("stopped delivering") or spins without audio (the
        # stall watchdog: "delivered no audio for 5 s"); both name the device, the microphone or
        # the speaker, whichever of the two on the vanished server is noticed first
        said = talk.output()
        assert "testmic" in said or "testspeaker" in said, said
        assert "stopped" in said or "delivered no audio" in said, said
        assert "Traceback" not in said
    finally:
        microphone.close()
        server.stop()
