"""A hung audio device in `assistant talk`: a microphone that stops delivering, a speaker that
stops taking audio, or a driver call (stream open, start, close) that never returns, ends the
conversation with one clear line after `audio.stall_timeout_s` instead of hanging (0: wait
forever). A real device cannot be made to hang on cue, so PortAudio is replaced here by a fake
whose streams stop calling back or whose calls block; everything else is real."""

from __future__ import annotations

import asyncio
import atexit
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from assistant.audio import devices
from assistant.audio.codec import decode_file, resample
from assistant.audio.devices import DeviceError, Microphone, Speaker
from assistant.cli.main import cli
from assistant.config import ConfigError, load_config
from assistant.types import AudioChunk

RATE = 16000
DELIVERED_BLOCKS = 10  # what the fake microphone gives before it hangs


class StuckDriver:
    """Driver calls that never return, as with an unplugged USB device: each named call blocks
    until `release()` (which only the tests' cleanup calls)."""

    def __init__(self, calls: frozenset[str] = frozenset()) -> None:
        self.calls, self.released = calls, threading.Event()
        self.stuck = threading.Event()  # set once a call is blocked

    def enter(self, call: str) -> None:
        if call in self.calls:
            self.stuck.set()
            self.released.wait()

    def release(self) -> None:
        self.released.set()


class HangingStream:
    """An input or output stream that calls back for `blocks` blocks (None: forever), giving
    `speech` first to an input's callback, then never again (and no finished callback)."""

    def __init__(self, *, callback, blocksize: int, channels: int, blocks: int | None,
                 speech: np.ndarray, driver: StuckDriver, **_) -> None:  # fmt: skip
        self.callback, self.blocksize, self.channels = callback, blocksize, channels
        self.blocks, self.speech, self.driver = blocks, speech, driver
        self.closed = threading.Event()

    def start(self) -> None:
        self.driver.enter("start")
        if self.driver.released.is_set():  # the test is over: a late start plays nothing
            return
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        sent = 0
        while self.blocks is None or sent < self.blocks:
            if self.closed.wait(0.02 if self.blocks is None else 0.005):  # forever: real time
                return
            block = np.zeros((self.blocksize, self.channels), dtype=np.int16)
            part = self.speech[sent * self.blocksize : (sent + 1) * self.blocksize]
            block[: len(part), 0] = part
            self.callback(block, self.blocksize, None, None)
            sent += 1
        self.closed.wait()  # hung: no more callbacks, no finished callback

    def close(self, ignore_errors: bool = False) -> None:
        self.closed.set()
        self.driver.enter("close")


class HangingPortAudio:
    """The part of `sounddevice` the devices use: a microphone and a speaker that hang after
    `microphone_blocks` and `speaker_blocks` blocks (None: never), the microphone saying
    `speech` first; the driver calls named in `stuck` ("open", "start", "close") never return,
    and like sounddevice it registers an exit handler, which then waits for them too."""

    class PortAudioError(Exception):
        pass

    class default:
        device = (0, 1)

    def __init__(self, microphone_blocks: int | None = DELIVERED_BLOCKS, speaker_blocks: int = 0,
                 speech: np.ndarray | None = None,
                 stuck: frozenset[str] = frozenset()) -> None:  # fmt: skip
        self.microphone_blocks, self.speaker_blocks = microphone_blocks, speaker_blocks
        self.speech = np.zeros(0, dtype=np.int16) if speech is None else speech
        self.driver = StuckDriver(stuck)
        atexit.register(self._exit_handler)

    def _exit_handler(self) -> None:  # sounddevice's: stop and close the last stream, terminate
        if self.driver.stuck.is_set():
            self.driver.released.wait()

    def query_devices(self) -> list[dict]:
        return [
            {"name": "stuck mic", "max_input_channels": 1, "max_output_channels": 0,
             "default_samplerate": RATE},
            {"name": "stuck speaker", "max_input_channels": 0, "max_output_channels": 1,
             "default_samplerate": RATE},
        ]  # fmt: skip

    def InputStream(self, **options) -> HangingStream:  # sounddevice's name
        self.driver.enter("open")
        return HangingStream(blocks=self.microphone_blocks, speech=self.speech,
                             driver=self.driver, **options)  # fmt: skip

    def OutputStream(self, **options) -> HangingStream:
        self.driver.enter("open")
        return HangingStream(blocks=self.speaker_blocks, speech=self.speech[:0],
                             driver=self.driver, **options)  # fmt: skip

    def done(self) -> None:
        """Let blocked calls return (a test's cleanup) and forget the exit handler."""
        self.driver.release()
        atexit.unregister(self._exit_handler)


def fake_portaudio(monkeypatch, portaudio: HangingPortAudio):
    monkeypatch.setattr(devices, "_sounddevice", lambda: portaudio)
    yield portaudio
    portaudio.done()


@pytest.fixture
def hanging(monkeypatch):
    yield from fake_portaudio(monkeypatch, HangingPortAudio())


@pytest.fixture
def stuck_start(monkeypatch):
    yield from fake_portaudio(monkeypatch, HangingPortAudio(stuck=frozenset({"start"})))


@pytest.fixture
def stuck_close(monkeypatch):
    yield from fake_portaudio(monkeypatch, HangingPortAudio(stuck=frozenset({"close"})))


def test_a_microphone_that_stops_delivering_raises_after_the_timeout(hanging):
    async def listen() -> tuple[int, float, str]:
        received, started = 0, time.monotonic()
        async with Microphone(devices.find_device("", "input"), 0.3) as microphone:
            with pytest.raises(DeviceError) as error:
                async for _ in microphone.chunks():
                    received += 1
        return received, time.monotonic() - started, str(error.value)

    received, waited, message = asyncio.run(listen())
    assert received == DELIVERED_BLOCKS
    assert waited < 5
    assert "'stuck mic' delivered no audio for 0.3 s" in message
    assert "assistant devices" in message


def test_with_the_watchdog_off_a_silent_microphone_is_waited_for(hanging):
    async def listen() -> int:
        received = 0
        async with Microphone(devices.find_device("", "input"), 0) as microphone:

            async def take() -> None:
                nonlocal received
                async for _ in microphone.chunks():
                    received += 1

            with pytest.raises(TimeoutError):  # still waiting, no DeviceError
                await asyncio.wait_for(take(), 1.0)
        return received

    assert asyncio.run(listen()) == DELIVERED_BLOCKS


def test_a_speaker_that_takes_no_audio_fails_its_reply_after_the_timeout(hanging):
    async def play(stall: float) -> None:
        async with Speaker(devices.find_device("", "output"), stall_timeout_s=stall) as speaker:
            speaker.play(AudioChunk(np.zeros(RATE, dtype=np.int16).tobytes(), RATE))
            await asyncio.sleep(0.5)
            assert speaker.pending_seconds() > 0
            assert speaker.failure is None

    asyncio.run(play(0))  # off: the audio just waits
    with pytest.raises(DeviceError, match="'stuck speaker' took no audio for"):
        asyncio.run(play(0.2))


def test_a_microphone_whose_start_never_returns_is_given_up_on_after_the_timeout(stuck_start):
    async def open_it() -> str:
        with pytest.raises(DeviceError) as error:
            async with Microphone(devices.find_device("", "input"), 0.3):
                pass
        return str(error.value)

    message = asyncio.run(open_it())
    assert message.startswith("the microphone 'stuck mic' did not respond: its driver did not "
                              "return from start for 0.3 s")  # fmt: skip
    assert "assistant devices" in message
    assert stuck_start.driver.stuck.is_set()


def test_a_speaker_whose_close_never_returns_is_reported_unless_a_failure_came_first(
    stuck_close,
):
    speaker = Speaker(devices.find_device("", "output"), stall_timeout_s=0.3)

    async def play(failure: Exception | None) -> None:
        async with speaker:
            if failure:
                raise failure

    with pytest.raises(DeviceError, match=r"'stuck speaker' did not respond: .* from close for"):
        asyncio.run(play(None))
    with pytest.raises(DeviceError, match=r"^the first failure$"):  # not hidden by the close
        asyncio.run(play(DeviceError("the first failure")))


def talk(monkeypatch) -> object:
    """`assistant talk` run in this process on the fake devices, with a 1 s stall timeout."""
    monkeypatch.setenv("ASSISTANT_HISTORY_ENABLED", "false")
    return CliRunner().invoke(
        cli, ["--set", "audio.stall_timeout_s=1", "--set", "audio.echo_cancellation=false",
              "talk"], input="",
    )  # fmt: skip


def test_talk_with_a_hung_microphone_ends_with_one_clear_line(hanging, monkeypatch):
    result = talk(monkeypatch)
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1].startswith("Error: the microphone 'stuck mic' delivered")
    assert "no audio for 1 s" in result.output and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_talk_with_a_hung_speaker_ends_with_one_clear_line(espeak, monkeypatch):
    question = resample(decode_file(espeak("What colour is the sky?", "sky")), RATE)
    portaudio = HangingPortAudio(microphone_blocks=None, speech=question.to_int16())
    monkeypatch.setattr(devices, "_sounddevice", lambda: portaudio)
    result = talk(monkeypatch)
    assert result.exit_code == 1, result.output
    assert "you: " in result.output  # the question was heard and answered into the hung speaker
    last = result.output.splitlines()[-1]
    assert last.startswith("Error: the speaker 'stuck speaker' took no audio for"), result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("value", "problem"), [("-1", "must be 0 or more seconds"), ("nan", "must be float")]
)
def test_a_bad_stall_timeout_is_refused_by_name(value, problem):
    with pytest.raises(ConfigError, match=f"'audio.stall_timeout_s' .*{problem}"):
        load_config(environ={}, overrides={"audio.stall_timeout_s": float(value)})


HUNG_TALK = """
import sys
sys.path.insert(0, sys.argv[1])
import test_audio_stall as stall
from assistant.audio import devices
from assistant.cli.main import main
portaudio = stall.HangingPortAudio(stuck=frozenset({"open"}))
devices._sounddevice = lambda: portaudio
sys.argv = ["assistant", "--set", "audio.stall_timeout_s=1", "talk"]
main()
"""


def test_talk_with_a_microphone_whose_open_never_returns_exits_with_one_line(tmp_path):
    """In its own process, so that the interpreter's exit is part of it: the stuck driver
    thread and the PortAudio exit handler waiting on it must not keep the process alive."""
    env = {**os.environ, "ASSISTANT_HISTORY_ENABLED": "false"}
    result = subprocess.run(
        [sys.executable, "-c", HUNG_TALK, str(Path(__file__).parent)], stdin=subprocess.DEVNULL,
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines[-1] == (
        "Error: the microphone 'stuck mic' did not respond: its driver did not return from "
        "open for 1 s (hung or unplugged?); check it with `assistant devices` and start again"
    ), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("stall_timeout_s", [5.0, 0.0])
def test_a_microphone_read_cancelled_as_a_block_arrives_is_cancelled(stall_timeout_s):
    """`talk` stopping (Ctrl-C, a device error elsewhere) just as the microphone delivers a block:
    the read ends with the cancellation (Python 3.11's wait_for returned the block instead, and
    the loop went on reading)."""
    device = devices.AudioDevice(0, "test microphone", inputs=1, outputs=0, sample_rate=RATE)
    microphone = Microphone(device, stall_timeout_s)

    async def scenario():
        reading = asyncio.get_running_loop().create_task(anext(microphone.timed_chunks()))
        await asyncio.sleep(0.05)  # waiting for a block
        microphone._queue.put_nowait((b"\0\0" * 320, time.monotonic()))
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading

    asyncio.run(scenario())
