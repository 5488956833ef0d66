"""Acoustic echo cancellation for open speakers: the microphone's signal, cleaned of what the
speaker plays, before voice activity detection, barge-in and speech-to-text.

The far-end reference is exactly what the speaker plays: the output callback hands each block to
`played` with the time it went out (silence included). Each microphone chunk comes with the time
it arrived, and is paired with the reference that went out at that moment, by the two streams'
clocks (`StreamClock`), not by counting samples: a speaker that falls behind (an underrun: the
device plays silence no callback saw) or a microphone read late would otherwise shift the pairing
a block at a time, until the echo came back before its reference and the canceller lost it. What
remains between them is the room's and the devices' own delay, which WebRTC's AEC3
(pywebrtc-audio) finds and removes. Both run at 16 kHz, the rate the VAD hears."""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

import numpy as np

from ..types import AudioChunk
from .codec import StreamResampler
from .double_talk import DoubleTalk
from .echo_presence import EchoPresence

ECHO_RATE = 16000  # Hz: AEC3 at the VAD's rate
BLOCK = ECHO_RATE // 100  # AEC3 works on 10 ms blocks
HISTORY_S = 10.0  # reference kept for a microphone read late (a busy event loop)
CLOCK_WINDOW_S = 0.2  # a stream's clock: the least delayed of its recent callbacks
REALIGN_S = 0.015  # the pairing moves only when the clocks disagree with it by more than this
WAIT_S = 0.15  # microphone audio held back for a reference not handed over yet, at most


class EchoCanceller(Protocol):
    def played(self, samples: np.ndarray, sample_rate: int, at: float) -> None:
        """int16 samples the speaker takes now (monotonic time `at`; from the audio thread)."""
        ...

    def clean(self, audio: AudioChunk, at: float) -> AudioChunk:
        """Microphone audio that arrived at monotonic time `at`, the speaker's echo removed
        (16 kHz; it may lag the input by a block or two)."""
        ...

    @property
    def echo_delay_s(self) -> float | None:
        """How long after the speaker's sound is heard its echo comes (None: not heard yet)."""
        ...

    @property
    def user_over_echo(self) -> bool:
        """The audio `clean` returned last has the user speaking over the speaker's echo (told
        apart from the echo by the canceller, before a VAD can hear them through it)."""
        ...


class StreamClock:
    """When a continuous stream's first sample went through, read off its callbacks: a callback
    is never early, only late (scheduling), so the earliest of the recent ones is the truth; a
    real gap (an underrun, dropped input) moves it once it is older than the window."""

    def __init__(self) -> None:
        self._seen: deque[tuple[float, float]] = deque()  # (callback time, implied origin)
        self.samples = 0  # samples through so far

    def note(self, at: float, samples: int, rate: int, *, at_end: bool) -> None:
        """A block of `samples` went through at `at` (its end, or else its start)."""
        before = self.samples + (samples if at_end else 0)
        self._seen.append((at, at - before / rate))
        self.samples += samples
        while self._seen[0][0] < at - CLOCK_WINDOW_S:
            self._seen.popleft()

    @property
    def origin(self) -> float | None:
        """Monotonic time of the stream's sample 0 (None before any block)."""
        return min(origin for _, origin in self._seen) if self._seen else None


class WebRtcEchoCanceller:
    """AEC3 (with its high-pass filter) from pywebrtc-audio, fed with the speaker's blocks; the
    microphone passes through untouched while the room shows no echo (`EchoPresence`), and a
    linear filter's residual goes out instead of AEC3's output where a user talks over the echo
    (`DoubleTalk`)."""

    def __init__(
        self, stream_delay_ms: int = 0, *, pass_through: bool = True, double_talk: bool = True
    ) -> None:
        """`pass_through`: the microphone untouched where the room shows no echo; `double_talk`:
        the user's voice over the echo from the linear filter (False: AEC3's output, as the
        benchmark compares)."""
        from pywebrtc_audio import EchoCanceller as Aec3

        self._aec = Aec3(sample_rate=ECHO_RATE, num_channels=1, stream_delay_ms=stream_delay_ms)
        self._lock = threading.Lock()
        self._handed: deque[np.ndarray] = deque()  # played blocks not resampled yet
        self._dropped = 0  # played samples dropped before they were resampled
        self._far_rate = 0
        self._far_clock, self._near_clock = StreamClock(), StreamClock()
        self._far = np.zeros(0, dtype=np.int16)  # the reference at 16 kHz, recent part
        self._far_start = 0  # index (16 kHz, from the first played sample) of `_far[0]`
        self._near = np.zeros(0, dtype=np.int16)  # microphone audio at 16 kHz not cleaned yet
        self._near_start = 0  # index (16 kHz, from the first sample heard) of `_near[0]`
        self._offset: int | None = None  # reference index = microphone index + offset
        self._far_resampler = self._near_resampler = None
        self._presence = EchoPresence(BLOCK, ECHO_RATE)  # whether, and how late, the room echoes
        self._pass_through = pass_through
        self._double_talk = DoubleTalk(BLOCK, ECHO_RATE) if double_talk else None
        self._user_over_echo = False

    @property
    def echo_delay_s(self) -> float | None:
        return self._presence.delay_s

    @property
    def user_over_echo(self) -> bool:
        return self._user_over_echo

    @classmethod
    def load(cls) -> WebRtcEchoCanceller:
        """The canceller, or ImportError when pywebrtc-audio is not installed."""
        return cls()

    def played(self, samples: np.ndarray, sample_rate: int, at: float) -> None:
        with self._lock:
            if sample_rate != self._far_rate:  # a new device: a new stream
                self._far_rate, self._far_clock = sample_rate, StreamClock()
                self._handed.clear()
                self._dropped = 0
                self._far_resampler, self._offset = StreamResampler(sample_rate, ECHO_RATE), None
                self._far, self._far_start = np.zeros(0, dtype=np.int16), 0
            self._handed.append(samples.astype(np.int16, copy=True))
            self._far_clock.note(at, len(samples), sample_rate, at_end=False)
            while len(self._handed) * len(samples) > HISTORY_S * sample_rate:
                self._dropped += len(self._handed.popleft())  # nobody cleans: keep it short

    def _take_played(self) -> float | None:
        """Move what the speaker played into the 16 kHz reference; its clock's origin."""
        with self._lock:
            handed, self._handed = list(self._handed), deque()
            origin, resampler = self._far_clock.origin, self._far_resampler
            dropped, self._dropped = self._dropped, 0
        if dropped:  # the reference goes on after the gap, at its own place
            self._far_start += len(self._far) + round(dropped * ECHO_RATE / self._far_rate)
            self._far = np.zeros(0, dtype=np.int16)
        if resampler is not None and handed:
            pcm = resampler.push(np.concatenate(handed).tobytes())
            self._far = np.concatenate([self._far, np.frombuffer(pcm, dtype="<i2")])
            excess = len(self._far) - int(HISTORY_S * ECHO_RATE)
            if excess > 0:
                self._far, self._far_start = self._far[excess:], self._far_start + excess
        return origin

    def _reference(self, start: int, count: int) -> np.ndarray:
        """Reference samples [start, start + count) at 16 kHz; silence where none was played."""
        far = np.zeros(count, dtype=np.int16)
        first, last = max(start, self._far_start), min(start + count, self._far_end)
        if last > first:
            far[first - start : last - start] = self._far[
                first - self._far_start : last - self._far_start
            ]
        return far

    @property
    def _far_end(self) -> int:
        return self._far_start + len(self._far)

    def clean(self, audio: AudioChunk, at: float) -> AudioChunk:
        if self._near_resampler is None or self._near_resampler.in_rate != audio.sample_rate:
            self._near_resampler = StreamResampler(audio.sample_rate, ECHO_RATE)
        self._near_clock.note(at, audio.samples, audio.sample_rate, at_end=True)
        near = np.frombuffer(self._near_resampler.push(audio.pcm), dtype="<i2")
        self._near = np.concatenate([self._near, near])
        far_origin = self._take_played()
        ready = len(self._near) // BLOCK * BLOCK
        if far_origin is not None:
            near_origin = self._near_clock.origin
            wanted = round((near_origin - far_origin) * ECHO_RATE)
            if self._offset is None or abs(wanted - self._offset) > REALIGN_S * ECHO_RATE:
                if self._offset is not None and self._double_talk is not None:
                    self._double_talk.pairing_moved()
                self._offset = wanted
            handed_over = self._far_end - (self._near_start + self._offset)  # may wait for
            if len(self._near) - handed_over < WAIT_S * ECHO_RATE:
                ready = min(ready, max(0, handed_over) // BLOCK * BLOCK)
        if not ready:
            self._user_over_echo = False
            return AudioChunk(b"", ECHO_RATE)
        near, self._near = self._near[:ready], self._near[ready:]
        far = self._reference(self._near_start + (self._offset or 0), ready)
        self._near_start += ready
        return AudioChunk(self.cancel(near, far).astype("<i2").tobytes(), ECHO_RATE)

    def cancel(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        """Microphone blocks and the reference paired with them (int16, 16 kHz, whole blocks):
        the microphone cleaned of the speaker's sound (`user_over_echo` says whether it has the
        user speaking over the echo)."""
        cleaned = np.asarray(self._aec.process(near.copy(), far), dtype=np.int16)  # AEC3 (and
        # the linear filter) learn the room either way
        self._presence.hear(near, far)
        self._user_over_echo = False
        if self._pass_through and self._presence.echo_free:  # nothing to remove (a fresh AEC3
            if self._double_talk is not None:  # would remove the user), no room to model
                self._double_talk.rest(far)
            return near
        if self._double_talk is not None:
            cleaned = self._double_talk.over(near, far, cleaned, self._presence.delay_s)
            self._user_over_echo = self._double_talk.user_heard
        return cleaned


def load_echo_canceller(enabled: bool) -> EchoCanceller | None:
    """WebRTC AEC3 when `enabled` and pywebrtc-audio loads; None otherwise."""
    if not enabled:
        return None
    try:
        return WebRtcEchoCanceller.load()
    except (ImportError, OSError):
        return None
