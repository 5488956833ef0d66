"""A hung audio device in `assistant talk`: a microphone that stops delivering, or a speaker that
stops taking audio, ends the conversation with one clear line after `audio.stall_timeout_s`
instead of hanging (0: wait forever). A real device cannot be made to hang on cue, so PortAudio
is replaced here by a fake whose streams stop calling back; everything else is real."""

from __future__ import annotations

import asyncio
import threading
import time

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


class HangingStream:
    """An input or output stream that calls back for `blocks` blocks (None: forever), giving
    `speech` first to an input's callback, then never again (and no finished callback)."""

    def __init__(self, *, callback, blocksize: int, channels: int, blocks: int | None,
                 speech: np.ndarray, **_) -> None:  # fmt: skip
        self.callback, self.blocksize, self.channels = callback, blocksize, channels
        self.blocks, self.speech = blocks, speech
        self.closed = threading.Event()

    def start(self) -> None:
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


class HangingPortAudio:
    """The part of `sounddevice` the devices use: a microphone and a speaker that hang after
    `microphone_blocks` and `speaker_blocks` blocks (None: never), the microphone saying
    `speech` first."""

    class PortAudioError(Exception):
        pass

    class default:
        device = (0, 1)

    def __init__(self, microphone_blocks: int | None = DELIVERED_BLOCKS, speaker_blocks: int = 0,
                 speech: np.ndarray | None = None) -> None:  # fmt: skip
        self.microphone_blocks, self.speaker_blocks = microphone_blocks, speaker_blocks
        self.speech = np.zeros(0, dtype=np.int16) if speech is None else speech

    def query_devices(self) -> list[dict]:
        return [
            {"name": "stuck mic", "max_input_channels": 1, "max_output_channels": 0,
             "default_samplerate": RATE},
            {"name": "stuck speaker", "max_input_channels": 0, "max_output_channels": 1,
             "default_samplerate": RATE},
        ]  # fmt: skip

    def InputStream(self, **options) -> HangingStream:  # sounddevice's name
        return HangingStream(blocks=self.microphone_blocks, speech=self.speech, **options)

    def OutputStream(self, **options) -> HangingStream:
        return HangingStream(blocks=self.speaker_blocks, speech=self.speech[:0], **options)


@pytest.fixture
def hanging(monkeypatch):
    portaudio = HangingPortAudio()
    monkeypatch.setattr(devices, "_sounddevice", lambda: portaudio)
    return portaudio


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
