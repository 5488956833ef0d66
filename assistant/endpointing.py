"""Turn-taking as a pure state machine: speech probabilities per frame in, speech events out."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .types import AudioChunk


@dataclass(frozen=True)
class EndpointSettings:
    sample_rate: int = 16000  # Hz
    frame_samples: int = 512
    threshold: float = 0.5  # speech probability that starts or continues speech
    min_speech_ms: int = 250  # voiced time before speech counts as started
    silence_ms: int = 500  # silence that ends the turn
    pre_roll_ms: int = 300  # audio kept from before the start, so the first word is whole
    max_utterance_s: float = 30.0  # a turn is ended after this long, whatever is heard


@dataclass(frozen=True)
class SpeechStarted:
    at: float  # seconds of stream time at which the voiced run began


@dataclass(frozen=True)
class SpeechEnded:
    audio: AudioChunk  # the utterance, with its pre-roll and a short tail
    started_at: float  # stream seconds
    speech_end: float  # stream seconds: end of the last voiced frame
    endpoint_at: float  # stream seconds: when the silence was long enough


Event = SpeechStarted | SpeechEnded


class Endpointer:
    """Feed frames (int16 PCM bytes) with their speech probability; get SpeechStarted/Ended."""

    def __init__(self, settings: EndpointSettings = EndpointSettings()) -> None:
        self.settings = settings
        frame_ms = 1000 * settings.frame_samples / settings.sample_rate
        self._frame_seconds = frame_ms / 1000
        self._start_frames = max(1, round(settings.min_speech_ms / frame_ms))
        self._end_frames = max(1, round(settings.silence_ms / frame_ms))
        self._max_frames = round(settings.max_utterance_s / self._frame_seconds)
        self._pre_roll: deque[bytes] = deque(maxlen=max(1, round(settings.pre_roll_ms / frame_ms)))
        self._negative = max(settings.threshold - 0.15, 0.05)  # hysteresis, as Silero recommends
        self._frames_seen = 0
        self.reset()

    def reset(self) -> None:
        """Forget any utterance in progress (the stream clock keeps running)."""
        self._candidate: list[bytes] = []
        self._voiced = 0
        self._started = False
        self._utterance: list[bytes] = []
        self._silent = 0
        self._start_time = 0.0
        self._last_voiced_end = 0.0

    @property
    def in_speech(self) -> bool:
        """True between SpeechStarted and SpeechEnded."""
        return self._started

    @property
    def now(self) -> float:
        return self._frames_seen * self._frame_seconds

    def push(self, frame: bytes, probability: float) -> list[Event]:
        self._frames_seen += 1
        end_of_frame = self.now
        if not self._started:
            return self._while_idle(frame, probability, end_of_frame)
        return self._while_speaking(frame, probability, end_of_frame)

    def _while_idle(self, frame: bytes, probability: float, end_of_frame: float) -> list[Event]:
        if probability >= self.settings.threshold:
            if not self._candidate:
                self._start_time = end_of_frame - self._frame_seconds
            self._candidate.append(frame)
            self._voiced += 1
            self._silent = 0
            self._last_voiced_end = end_of_frame
            if self._voiced >= self._start_frames:
                self._started = True
                self._utterance = [*self._pre_roll, *self._candidate]
                self._pre_roll.clear()
                return [SpeechStarted(self._start_time)]
            return []
        if self._candidate:
            self._candidate.append(frame)
            self._silent += 1
            if self._silent >= self._end_frames:  # a short noise, not speech
                for kept in self._candidate:
                    self._pre_roll.append(kept)
                self._candidate, self._voiced, self._silent = [], 0, 0
            return []
        self._pre_roll.append(frame)
        return []

    def _while_speaking(self, frame: bytes, probability: float, end_of_frame: float) -> list[Event]:
        self._utterance.append(frame)
        if probability >= self._negative:
            self._silent = 0
            self._voiced += probability >= self.settings.threshold
            self._last_voiced_end = end_of_frame
        else:
            self._silent += 1
        too_long = len(self._utterance) >= self._max_frames
        if self._silent < self._end_frames and not too_long:
            return []
        tail = max(0, len(self._utterance) - self._silent + round(0.2 / self._frame_seconds))
        ended = SpeechEnded(
            audio=AudioChunk(b"".join(self._utterance[:tail]), self.settings.sample_rate),
            started_at=self._start_time,
            speech_end=self._last_voiced_end,
            endpoint_at=end_of_frame,
        )
        self.reset()
        return [ended]
