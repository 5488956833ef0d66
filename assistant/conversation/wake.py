"""The wake-word gate of a kiosk: asleep, only the wake word is listened for; once it is heard
(a short earcon plays) the conversation goes on as usual, and after each reply the user has a
follow-up window to go on without saying it again. `WakeGate.admit` is the engine's gate: what
of the microphone's audio is heard, and when to wake and fall asleep."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..audio.codec import StreamResampler
from ..types import AudioChunk
from .turn_state import TurnState

LISTEN_AFTER_WAKE_S = 5.0  # at least this long to begin speaking after the wake word
EARCON_RATE = 16000  # Hz
EARCON_NOTES = ((880.0, 0.07), (1320.0, 0.09))  # (Hz, seconds): a short rising chime
EARCON_LEVEL = 0.25  # of full scale


class WakeWordDetector(Protocol):
    phrase: str  # what the user says, e.g. "Hey Jarvis"
    sample_rate: int  # Hz

    def detect(self, pcm: bytes) -> int | None:
        """int16 mono audio at `sample_rate`, in order: the byte offset just after the wake
        word when it was heard in `pcm`, else None."""
        ...

    def reset(self) -> None: ...


class WakeGate:
    """Asleep or awake; awake until a follow-up window passes with nothing said. The window is
    counted in microphone audio, not on the clock, so audio that queued up while the machine
    was busy is judged by when it was said."""

    def __init__(self, detector: WakeWordDetector, follow_up_s: float) -> None:
        self.detector = detector
        self.follow_up_s = follow_up_s  # after each reply: go on without the wake word
        self._resampler: StreamResampler | None = None
        self.awake = False
        self._left = 0.0  # seconds of the window still open

    @property
    def phrase(self) -> str:
        return self.detector.phrase

    def admit(
        self, audio: AudioChunk, turn: TurnState, *, idle: bool, announcing: bool = False
    ) -> tuple[AudioChunk | None, TurnState, bool]:
        """What of `audio` the engine hears (None: nothing), the turn state after it, and
        whether the wake word was just heard (the chime plays). Waiting: only the wake word is
        listened for; once heard, LISTENING and what follows it is heard. `announcing` while
        asleep: nothing is heard, but the wake word wakes the gate (awake once it has been said).
        Listening and `idle` (no reply, nobody speaking): back to WAITING when the follow-up
        window passes unused."""
        if announcing:
            return None, turn, not self.awake and self.listen(audio) is not None
        if turn == TurnState.WAITING:
            if (heard := self.listen(audio)) is None:
                return None, turn, False
            return heard, TurnState.LISTENING, True
        if turn == TurnState.LISTENING and idle and self.unused(audio):
            self.sleep()
            return None, TurnState.WAITING, False
        return audio, turn, False

    def listen(self, audio: AudioChunk) -> AudioChunk | None:
        """Asleep: None, or the audio after the wake word when it is heard in `audio` (awake from
        then on, with time to begin speaking)."""
        rate = self.detector.sample_rate
        if self._resampler is None or self._resampler.in_rate != audio.sample_rate:
            self._resampler = StreamResampler(audio.sample_rate, rate)
        pcm = self._resampler.push(audio.pcm)
        offset = self.detector.detect(pcm)
        if offset is None:
            return None
        self.awake = True
        self.detector.reset()
        self._left = max(self.follow_up_s, LISTEN_AFTER_WAKE_S)
        return AudioChunk(pcm[offset:], rate)

    def replied(self) -> None:
        """A reply ended (to a typed turn too): the follow-up window opens now."""
        self.awake = True
        self._left = self.follow_up_s

    def unused(self, audio: AudioChunk) -> bool:
        """Awake, with `audio` heard and nothing said in it (the caller knows): True when the
        window has now passed."""
        self._left -= audio.seconds
        return self.awake and self._left <= 0

    def sleep(self) -> None:
        self.awake = False
        self.detector.reset()
        self._resampler = None


def earcon() -> AudioChunk:
    """The short chime that says "I heard the wake word; go on"."""
    parts = []
    for frequency, seconds in EARCON_NOTES:
        t = np.arange(int(EARCON_RATE * seconds)) / EARCON_RATE
        fade = np.minimum(1.0, np.minimum(t, seconds - t) / 0.01)  # 10 ms in and out: no clicks
        parts.append(np.sin(2 * np.pi * frequency * t) * fade)
    samples = np.concatenate(parts) * EARCON_LEVEL * 32767
    return AudioChunk(samples.astype("<i2").tobytes(), EARCON_RATE)
