"""Microphone and speaker through sounddevice (PortAudio), at each device's own rate."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import AssistantError, UsageError
from ..types import AudioChunk
from .codec import resample
from .driver_calls import DriverCalls

BLOCK_SECONDS = 0.02  # audio per callback
MAX_OUTPUT_LATENCY = 0.5  # seconds; what a device reports beyond this is not believed
NO_INPUT_HELP = (
    "Talk through a browser instead with `assistant serve`, or type with `assistant chat`."
)


class DeviceError(AssistantError):
    """An audio device is missing, refuses to open or disappeared."""


@dataclass(frozen=True)
class AudioDevice:
    index: int
    name: str
    inputs: int  # channels
    outputs: int  # channels
    sample_rate: int  # Hz, the device's default
    default_input: bool = False
    default_output: bool = False


def _sounddevice() -> Any:
    try:
        import sounddevice
    except OSError as error:  # the PortAudio library itself is missing
        raise DeviceError(
            f"PortAudio is not available ({error}). Install it (Debian: apt-get install "
            f"libportaudio2). {NO_INPUT_HELP}"
        ) from None
    return sounddevice


def list_devices() -> list[AudioDevice]:
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except sd.PortAudioError as error:
        raise DeviceError(f"cannot list audio devices: {error}") from None
    return [
        AudioDevice(
            index=i,
            name=d["name"],
            inputs=d["max_input_channels"],
            outputs=d["max_output_channels"],
            sample_rate=int(d["default_samplerate"]),
            default_input=i == default_in,
            default_output=i == default_out,
        )
        for i, d in enumerate(devices)
    ]


def find_device(spec: str, kind: str) -> AudioDevice:
    """The `kind` ("input"/"output") device named by `spec`: index, name or unique part of one.

    An empty `spec` means the system default.
    """
    devices = [d for d in list_devices() if (d.inputs if kind == "input" else d.outputs) > 0]
    if not devices:
        if kind == "input":
            raise DeviceError(f"no microphone (audio input device) was found. {NO_INPUT_HELP}")
        raise DeviceError("no speaker (audio output device) was found")
    if not spec:
        default = [d for d in devices if (d.default_input if kind == "input" else d.default_output)]
        return (default or devices)[0]
    if spec.isdigit():
        matches = [d for d in devices if d.index == int(spec)]
    else:
        matches = [d for d in devices if d.name == spec] or [
            d for d in devices if spec.lower() in d.name.lower()
        ]
    if len(matches) != 1:
        names = ", ".join(f"{d.index}: {d.name}" for d in devices)
        problem = "matches several" if matches else "matches no"
        raise UsageError(f"'{spec}' {problem} {kind} device. Available: {names}")
    return matches[0]


class Microphone:
    """Captures mono int16 audio; `chunks()` yields it as it arrives (use `async with`). A device
    that delivers nothing for `stall_timeout_s` (0: wait forever) is taken as gone."""

    def __init__(self, device: AudioDevice, stall_timeout_s: float) -> None:
        self.device = device
        self.stall_timeout_s = stall_timeout_s
        self._queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._stream: Any = None
        self._channels = 1

    async def __aenter__(self) -> Microphone:
        sd = _sounddevice()
        loop = asyncio.get_running_loop()

        def callback(data, frames, time_info, status) -> None:
            pcm = data.tobytes() if self._channels == 1 else _downmix(data)
            loop.call_soon_threadsafe(self._queue.put_nowait, (pcm, time.monotonic()))

        def finished() -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, None)

        self._driver = DriverCalls(f"the microphone '{self.device.name}'", self.stall_timeout_s,
                                   DeviceError, sd)  # fmt: skip
        for channels in (1, 2):
            self._channels = channels
            try:
                self._stream = self._driver("open", lambda channels=channels: sd.InputStream(
                    device=self.device.index,
                    samplerate=self.device.sample_rate,
                    channels=channels,
                    dtype="int16",
                    blocksize=int(self.device.sample_rate * BLOCK_SECONDS),
                    callback=callback,
                    finished_callback=finished,
                ))  # fmt: skip
                break
            except sd.PortAudioError as error:
                if channels == 2 or self.device.inputs < 2:
                    raise DeviceError(
                        f"cannot open the microphone '{self.device.name}': {error}"
                    ) from None
        self._driver("start", self._stream.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._driver.close(self._stream, quiet=exc[0] is not None)

    async def chunks(self) -> AsyncIterator[AudioChunk]:
        async for chunk, _ in self.timed_chunks():
            yield chunk

    async def timed_chunks(self) -> AsyncIterator[tuple[AudioChunk, float]]:
        """Each chunk with the monotonic time it arrived from the device (for echo cancellation,
        which pairs it with what the speaker played at that moment)."""
        while True:
            try:  # asyncio.timeout: Python 3.11's wait_for may lose a cancellation (watchdog.py)
                async with asyncio.timeout(self.stall_timeout_s or None):
                    item = await self._queue.get()
            except TimeoutError:
                raise DeviceError(
                    f"the microphone '{self.device.name}' delivered no audio for "
                    f"{self.stall_timeout_s:g} s (hung, unplugged or taken by another program?); "
                    "check it with `assistant devices` and start again"
                ) from None
            if item is None:
                raise DeviceError(
                    f"the microphone '{self.device.name}' stopped delivering audio "
                    "(unplugged or taken by another program?)"
                )
            yield AudioChunk(item[0], self.device.sample_rate), item[1]


def _output_latency(time_info: Any) -> float:
    """Seconds until the block being filled is heard (0 where the host API does not say)."""
    try:
        latency = float(time_info.outputBufferDacTime - time_info.currentTime)
    except (AttributeError, TypeError):
        return 0.0
    return min(max(0.0, latency), MAX_OUTPUT_LATENCY)  # a clock the host API got wrong: bounded


def _downmix(data: np.ndarray) -> bytes:
    return data.mean(axis=1).astype("<i2").tobytes()


class PlaybackListener(Protocol):
    def played(self, samples: np.ndarray, sample_rate: int, at: float) -> None:
        """Each block (int16) as it goes to the device, to be heard at monotonic time `at`,
        silence included (the audio thread)."""
        ...

    @property
    def echo_delay_s(self) -> float | None:
        """How long after it is heard the speaker's sound comes back into the microphone, where
        that is known."""
        ...


class Speaker:
    """Plays queued audio at the device's rate; an `AudioSink` for the conversation. Audio
    counts as pending until the device has really played it (its output latency included),
    and `listener` (an echo canceller) hears every block as it goes out. A device that takes no
    audio for `stall_timeout_s` (0: never given up on) while some waits is taken as hung."""

    def __init__(
        self,
        device: AudioDevice,
        listener: PlaybackListener | None = None,
        stall_timeout_s: float = 0.0,
    ) -> None:
        self.device = device
        self.listener = listener
        self.stall_timeout_s = stall_timeout_s
        self._last_fill = time.monotonic()  # when the device last asked for audio
        self._audible_until = 0.0  # monotonic time the last queued sample leaves the device
        self.rate = device.sample_rate
        self._queue: deque[np.ndarray] = deque()
        self._queued_samples = 0
        self._lock = threading.Lock()
        self._paused = False
        self._stream: Any = None
        self.failure: str | None = None  # set when the device stops under us
        self._closing = False

    async def __aenter__(self) -> Speaker:
        sd = _sounddevice()
        self._driver = DriverCalls(f"the speaker '{self.device.name}'", self.stall_timeout_s,
                                   DeviceError, sd)  # fmt: skip
        try:
            self._stream = self._driver("open", lambda: sd.OutputStream(
                device=self.device.index,
                samplerate=self.rate,
                channels=1,
                dtype="int16",
                blocksize=int(self.rate * BLOCK_SECONDS),
                callback=self._fill,
                finished_callback=self._finished,
            ))  # fmt: skip
            self._driver("start", self._stream.start)
            self._last_fill = time.monotonic()
        except sd.PortAudioError as error:
            raise DeviceError(f"cannot open the speaker '{self.device.name}': {error}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._closing = True
            self._driver.close(self._stream, quiet=exc[0] is not None)

    def _finished(self) -> None:
        if not self._closing:
            self.failure = f"the speaker '{self.device.name}' stopped (unplugged?)"

    def _fill(self, out: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        self._last_fill = time.monotonic()
        out.fill(0)
        if not self._paused:
            self._take(out, frames)
        latency = _output_latency(time_info)
        if self.listener is not None:
            self.listener.played(out[:, 0], self.rate, self._last_fill + latency)
        if out.any():
            self._audible_until = time.monotonic() + latency + frames / self.rate

    def _take(self, out: np.ndarray, frames: int) -> None:
        filled = 0
        with self._lock:
            while filled < frames and self._queue:
                head = self._queue[0]
                take = min(frames - filled, len(head))
                out[filled : filled + take, 0] = head[:take]
                filled += take
                self._queued_samples -= take
                if take == len(head):
                    self._queue.popleft()
                else:
                    self._queue[0] = head[take:]

    def play(self, chunk: AudioChunk) -> None:
        samples = resample(chunk, self.rate).to_int16()
        with self._lock:
            self._queue.append(samples)
            self._queued_samples += len(samples)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._queued_samples = 0
        self._audible_until = 0.0  # what the device still holds plays out: nothing to wait for

    def pending_seconds(self) -> float:
        """Queued audio, plus what the device has taken but not played yet."""
        if self.failure:
            raise DeviceError(self.failure)
        idle = time.monotonic() - self._last_fill
        if self.stall_timeout_s and self._queued_samples and idle > self.stall_timeout_s:
            self.failure = (
                f"the speaker '{self.device.name}' took no audio for {idle:.0f} s (hung or "
                "unplugged?); check it with `assistant devices` and start again"
            )
            raise DeviceError(self.failure)
        return self._queued_samples / self.rate + self._in_device_s()

    def set_paused(self, paused: bool) -> None:
        self._paused = paused

    def echo_tail_s(self) -> float:
        """Seconds the sound already handed to the device goes on coming back into the
        microphone: what the device still holds, and the echo's delay after it (where the
        listening canceller has found one)."""
        delay = self.listener.echo_delay_s if self.listener is not None else None
        return self._in_device_s() + (delay or 0.0)

    def _in_device_s(self) -> float:
        """Seconds of audio the device has taken and not played yet."""
        return max(0.0, self._audible_until - time.monotonic())
