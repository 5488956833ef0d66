"""Acoustic echo cancellation for open speakers: the microphone's signal, cleaned of what the
speaker plays, before voice activity detection, barge-in and speech-to-text.

The far-end reference is exactly what the speaker plays: the output callback hands each block to
`played` as it goes to the device (silence included, so the two streams keep their timing). Each
microphone chunk then takes the same duration of reference, and WebRTC's AEC3 (pywebrtc-audio)
finds the delay between them and removes the echo. Both run at 16 kHz, the rate the VAD hears."""

from __future__ import annotations

import threading
from collections import deque
from typing import Protocol

import numpy as np

from ..types import AudioChunk
from .codec import StreamResampler

ECHO_RATE = 16000  # Hz: AEC3 at the VAD's rate
BLOCK = ECHO_RATE // 100  # AEC3 works on 10 ms blocks
MAX_REFERENCE_S = 1.0  # reference kept waiting for the microphone; older is dropped


class EchoCanceller(Protocol):
    def played(self, samples: np.ndarray, sample_rate: int) -> None:
        """int16 samples the speaker is playing now (called from the audio thread)."""
        ...

    def clean(self, audio: AudioChunk) -> AudioChunk:
        """Microphone audio with the speaker's echo removed (16 kHz)."""
        ...


class WebRtcEchoCanceller:
    """AEC3 (with its high-pass filter) from pywebrtc-audio, fed with the speaker's blocks."""

    def __init__(self, stream_delay_ms: int = 0) -> None:
        from pywebrtc_audio import EchoCanceller as Aec3

        self._aec = Aec3(sample_rate=ECHO_RATE, num_channels=1, stream_delay_ms=stream_delay_ms)
        self._lock = threading.Lock()
        self._reference: deque[np.ndarray] = deque()  # at `_far_rate`
        self._reference_samples = 0
        self._far_rate = 0
        self._owed = 0.0  # reference samples due to the microphone but not yet played
        self._near = self._far = None  # StreamResamplers to 16 kHz, made at the first chunk
        self._near_rest = np.zeros(0, dtype=np.int16)
        self._far_rest = np.zeros(0, dtype=np.int16)

    @classmethod
    def load(cls) -> WebRtcEchoCanceller:
        """The canceller, or ImportError when pywebrtc-audio is not installed."""
        return cls()

    def played(self, samples: np.ndarray, sample_rate: int) -> None:
        with self._lock:
            self._far_rate = sample_rate
            self._reference.append(samples.astype(np.int16, copy=True))
            self._reference_samples += len(samples)
            while self._reference_samples > MAX_REFERENCE_S * sample_rate:
                self._reference_samples -= len(self._reference.popleft())

    def _take_reference(self, seconds: float) -> np.ndarray:
        """The reference for `seconds` of microphone audio (silence where none was played)."""
        with self._lock:
            rate = self._far_rate or ECHO_RATE
            self._owed += seconds * rate
            wanted = int(self._owed)
            self._owed -= wanted
            parts, count = [], 0
            while count < wanted and self._reference:
                head = self._reference[0]
                part = head[: wanted - count]
                if len(part) == len(head):
                    self._reference.popleft()
                else:
                    self._reference[0] = head[len(part) :]
                self._reference_samples -= len(part)
                parts.append(part)
                count += len(part)
        parts.append(np.zeros(wanted - count, dtype=np.int16))
        far = np.concatenate(parts)
        if self._far is None or self._far.in_rate != rate:
            self._far = StreamResampler(rate, ECHO_RATE)
        return np.frombuffer(self._far.push(far.tobytes()), dtype="<i2")

    def clean(self, audio: AudioChunk) -> AudioChunk:
        if self._near is None or self._near.in_rate != audio.sample_rate:
            self._near = StreamResampler(audio.sample_rate, ECHO_RATE)
        near = np.frombuffer(self._near.push(audio.pcm), dtype="<i2")
        far = self._take_reference(audio.seconds)
        near = np.concatenate([self._near_rest, near])
        far = np.concatenate([self._far_rest, far])
        if len(far) > len(near) + ECHO_RATE // 10:  # the two clocks drift: keep them together
            far = far[len(far) - len(near) :]
        used = min(len(near), len(far)) // BLOCK * BLOCK
        self._near_rest, self._far_rest = near[used:], far[used:]
        if not used:
            return AudioChunk(b"", ECHO_RATE)
        cleaned = self._aec.process(near[:used].copy(), far[:used].copy())
        return AudioChunk(np.asarray(cleaned, dtype="<i2").tobytes(), ECHO_RATE)


def load_echo_canceller(enabled: bool) -> EchoCanceller | None:
    """WebRTC AEC3 when `enabled` and pywebrtc-audio loads; None otherwise."""
    if not enabled:
        return None
    try:
        return WebRtcEchoCanceller.load()
    except (ImportError, OSError):
        return None
