"""Real audio devices for tests with no sound card: PulseAudio null devices under ALSA file PCMs.

A private PulseAudio server (null sink and null source) gives ALSA devices a real-time clock.
Two ALSA `file` PCMs sit on top of it: a microphone whose samples come from a FIFO that the test
writes in real time (silence, or speech when the test "says" something), and a speaker whose
samples are written to a raw file. PortAudio, and so sounddevice, sees them as ordinary devices.
"""

from __future__ import annotations

import fcntl
import os
import queue
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np

from assistant.bench.echo_rig import room_impulse_response  # noqa: F401  (for the tests)
from assistant.types import AudioChunk

ASSISTANT = str(Path(sys.executable).parent / "assistant")
DEVICE_RATE = 44100  # what PortAudio reports for these devices; checked by test_talk.py


class PulseServer:
    """A PulseAudio daemon of our own, reachable only through a socket in `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "native"
        binary = shutil.which("pulseaudio")
        assert binary, (
            "pulseaudio is missing: scripts/test.sh installs it (apt-get install pulseaudio)"
        )
        environment = {**os.environ, "HOME": str(directory), "XDG_RUNTIME_DIR": str(directory)}
        self.process = subprocess.Popen(
            [binary, "--daemonize=no", "--exit-idle-time=-1", "-n", "--log-target=stderr",
             f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             "--load=module-null-sink sink_name=silent_sink",
             "--load=module-null-source source_name=silent_source"],
            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not self.socket.exists():
            assert self.process.poll() is None, "pulseaudio exited at start"
            assert time.monotonic() < deadline, "pulseaudio did not start"
            time.sleep(0.05)
        subprocess.run(
            ["pactl", "set-default-source", "silent_source"],
            env={**environment, "PULSE_SERVER": f"unix:{self.socket}"}, check=False,
            capture_output=True,
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def write_alsa_config(path: Path, pulse: PulseServer, microphone: Path, speaker: Path) -> Path:
    """An ALSA config declaring `testmic` and `testspeaker` on top of `pulse`."""
    path.write_text(f"""
pcm.rig_clock {{
    type pulse
    server "unix:{pulse.socket}"
}}
pcm.testmic {{
    type file
    slave.pcm "rig_clock"
    file "/dev/null"
    infile "{microphone}"
    format "raw"
    hint {{ show on description "Test microphone" }}
}}
pcm.testspeaker {{
    type file
    slave.pcm "rig_clock"
    file "{speaker}"
    format "raw"
    hint {{ show on description "Test speaker" }}
}}
""")
    return path


def alsa_environment(config: Path) -> dict[str, str]:
    return {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{config}"}


class LiveMicrophone:
    """Feeds the test microphone's FIFO in real time: silence, or what the test says."""

    LEAD = 0.15  # seconds written ahead of real time
    ECHO_LATENCY_S = 0.2  # the room's echo reaches the stream this long after it sounds (more
    # than LEAD: the samples it goes into are not written yet)
    SLACK = 0.1  # seconds more in the pipe than the lead that a reader may be behind for a while
    OVERRUN_AFTER = 0.5  # seconds that it may be, before it loses what is beyond that

    def __init__(self, fifo: Path, rate: int = DEVICE_RATE) -> None:
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        self.fifo, self.rate = fifo, rate
        self._fd = os.open(fifo, os.O_RDWR)  # readers never see end-of-file
        os.set_blocking(self._fd, False)
        self._speech: queue.Queue[np.ndarray] = queue.Queue()
        self._current = np.zeros(0, dtype="<i2")
        self._echo = np.zeros(0, dtype=np.float32)  # the room's echo of the speaker, to mix in
        self._echo_from = 0  # the sample (counted from the first written) `_echo[0]` goes into
        self._echo_lock = threading.Lock()
        self._origin = time.monotonic()  # when the first sample sounds: sample n at n / rate on
        self._stop = threading.Event()
        self.spoken_until = 0.0  # monotonic time the last queued speech ends
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def say(self, audio: AudioChunk) -> float:
        """Queue speech (any rate); returns the monotonic time it will have been played."""
        from assistant.audio.codec import resample

        samples = resample(audio, self.rate).to_int16()
        start = max(self.spoken_until, time.monotonic() + self.LEAD)
        self.spoken_until = start + len(samples) / self.rate
        self._speech.put(samples)
        return self.spoken_until

    def _write(self) -> None:
        # Samples come at the clock's pace, as from a real microphone's converter, and wait in
        # the pipe while the reader is busy. But a pipe holds 64 KiB (0.74 s here): filled while
        # the assistant loads, it stayed full, and everything heard (the user, the room's echo)
        # reached the reader that much late, as no real microphone does. So a reader that stays
        # behind for a while loses the oldest audio, as a device's capture buffer overruns.
        written, behind_since = 0, None
        lead = int(self.LEAD * self.rate) * 2  # bytes
        while not self._stop.is_set():
            due = int((time.monotonic() - self._origin + self.LEAD) * self.rate) - written
            if due > 0:
                try:
                    os.write(self._fd, self._take(due).tobytes())
                    excess = _pipe_fill(self._fd) - lead
                    behind = excess > int(self.SLACK * self.rate) * 2
                    behind_since = (behind_since or time.monotonic()) if behind else None
                    if behind_since and time.monotonic() - behind_since > self.OVERRUN_AFTER:
                        os.read(self._fd, excess - excess % 2)
                        behind_since = None
                except BlockingIOError:
                    pass  # the pipe is full: what was due is lost
                except OSError:
                    return
                written += due
            time.sleep(0.01)

    def add_echo(self, samples: np.ndarray, at: float) -> None:
        """Mix `samples` (float, at the microphone's rate), sounding in the room from monotonic
        time `at`, into what it hears `ECHO_LATENCY_S` later, sample for sample: mixed into
        whatever it wrote next, the echo's delay wandered by up to ±10 ms from block to block
        (two threads' loops), as no room's does."""
        with self._echo_lock:
            index = round((at + self.ECHO_LATENCY_S - self._origin) * self.rate) - self._echo_from
            if index < 0:  # later than the latency: the part already written is lost
                samples, index = samples[-index:], 0
            end = index + len(samples)
            if end > len(self._echo):
                grown = np.zeros(end, dtype=np.float32)
                grown[: len(self._echo)] = self._echo
                self._echo = grown
            self._echo[index:end] += samples

    def _take(self, count: int) -> np.ndarray:
        block = self._take_speech(count).astype(np.float32)
        with self._echo_lock:
            echo, self._echo = self._echo[:count], self._echo[count:]
            self._echo_from += count
        block[: len(echo)] += echo
        return np.clip(block, -32768, 32767).astype("<i2")

    def _take_speech(self, count: int) -> np.ndarray:
        parts = []
        while count > 0:
            if not len(self._current):
                try:
                    self._current = self._speech.get_nowait()
                except queue.Empty:
                    parts.append(np.zeros(count, dtype="<i2"))
                    break
            part, self._current = self._current[:count], self._current[count:]
            parts.append(part)
            count -= len(part)
        return np.concatenate(parts)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._fd)


def _pipe_fill(fd: int) -> int:
    """Bytes written to the pipe `fd` and not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def _convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    """Full convolution by FFT: np.convolve takes ~1 ms per 10 ms of audio with a 0.3 s room, so
    a thread starved by a busy machine never caught up, and the echo fell seconds behind."""
    size = len(signal) + len(response) - 1
    fft = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(signal, fft) * np.fft.rfft(response, fft), fft)[:size]


class EchoPath:
    """The room between the test speaker and the test microphone: what the assistant plays
    (the speaker's raw file, read as it grows) convolved with `response`, scaled by `gain`, and
    mixed into the microphone.

    The file grows when the assistant writes, in bursts (a busy process catches up after a late
    callback); a real speaker sounds at its converter's steady pace. So the file is played out
    at the clock's pace, as a device's buffer is: silence when the writer fell behind (an
    underrun), the rest kept for later when it writes ahead. Mixing the bursts in as they came
    made the room's delay jump by hundreds of milliseconds, as no room does. Nor does a device
    hold half a second the player wrote ahead (what PortAudio reports is less): the buffer
    holds `BUFFER_S`, and what stays beyond it for a while is played over (skipped)."""

    BUFFER_S = 0.06

    def __init__(
        self, speaker: Path, microphone: LiveMicrophone, response: np.ndarray, gain: float
    ) -> None:
        self.speaker, self.microphone, self.rate = speaker, microphone, microphone.rate
        self.response, self.gain = response, gain
        self._tail = np.zeros(len(response) - 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        offset, waiting, ahead_since = 0, np.zeros(0), None
        started, sounded = None, 0  # the converter's clock: since the first sample, and count
        while not self._stop.is_set():
            time.sleep(0.01)
            size = self.speaker.stat().st_size if self.speaker.exists() else 0
            size -= size % 2
            if size < offset:  # opened anew (PortAudio opens devices to probe them): from 0
                offset, waiting = 0, np.zeros(0)
            if size > offset:
                with self.speaker.open("rb") as file:
                    file.seek(offset)
                    data = file.read(size - offset)
                offset += len(data)
                waiting = np.concatenate([waiting, np.frombuffer(data, dtype="<i2")])
                started = started or time.monotonic()
            due = 0 if started is None else int((time.monotonic() - started) * self.rate) - sounded
            if due <= 0:
                continue
            buffered = len(waiting) - int(self.BUFFER_S * self.rate)
            ahead_since = (ahead_since or time.monotonic()) if buffered > due else None
            if ahead_since and time.monotonic() - ahead_since > self.BUFFER_S * 5:
                waiting, ahead_since = waiting[buffered:], None  # the device's buffer is small
            played = np.zeros(due)
            played[: min(due, len(waiting))] = waiting[:due]
            wet = _convolve(played * self.gain, self.response)
            wet[: len(self._tail)] += self._tail
            self._tail = wet[len(played) :].copy()
            self.microphone.add_echo(wet[: len(played)], started + sounded / self.rate)
            waiting, sounded = waiting[due:], sounded + due

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


class AssistantProcess:
    """`assistant ...` in a subprocess; its output lines are collected as they come."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [ASSISTANT, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env=env, bufsize=1,
        )  # fmt: skip
        self.lines: list[str] = []
        self._new_line = threading.Condition()
        self._ended = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("ALSA lib"):
                continue  # alsa-lib's notes about devices it cannot open
            with self._new_line:
                self.lines.append(line.rstrip("\n"))
                self._new_line.notify_all()
        with self._new_line:
            self._ended = True
            self._new_line.notify_all()

    def wait_for(self, pattern: str, *, after: int = 0, timeout: float = 60) -> int:
        """Index of the first line from `after` on matching `pattern`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._new_line:
            while True:
                for index in range(after, len(self.lines)):
                    if re.search(pattern, self.lines[index]):
                        return index
                left = deadline - time.monotonic()
                if self._ended or left <= 0:
                    raise AssertionError(
                        f"no line matching {pattern!r} ({'exited' if self._ended else 'timed out'})"
                        ";\noutput:\n" + "\n".join(self.lines)
                    )
                self._new_line.wait(min(left, 0.5))

    def send(self, command: str) -> None:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def finish(self, timeout: float = 30) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()

    def output(self) -> str:
        return "\n".join(self.lines)
