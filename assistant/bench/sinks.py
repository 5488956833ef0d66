"""Audio sinks for the end-to-end runs: they note when playback starts and stops."""

from __future__ import annotations

import time

from ..types import AudioChunk


class FirstAudioSink:
    """Takes the assistant's audio as fast as it comes (nothing waits on playback) and notes the
    monotonic time of the first `play()` since `arm()`."""

    def __init__(self) -> None:
        self.first_play: float | None = None
        self.audio_seconds = 0.0

    def arm(self) -> None:
        self.first_play, self.audio_seconds = None, 0.0

    def play(self, chunk: AudioChunk) -> None:
        if self.first_play is None:
            self.first_play = time.monotonic()
        self.audio_seconds += chunk.seconds

    def clear(self) -> None:
        pass

    def pending_seconds(self) -> float:
        return 0.0

    def set_paused(self, paused: bool) -> None:
        pass


class SpeakerSink:
    """Plays in real time, like a speaker: what is queued drains as the clock runs. Notes when
    playback first went silent (held or flushed) after `watch()`."""

    def __init__(self) -> None:
        self._end: float | None = None  # monotonic time the queue runs dry
        self._held: float | None = None  # pending seconds while paused
        self.first_play: float | None = None
        self.silenced_at: float | None = None  # first pause or clear since watch()
        self.cleared_at: float | None = None
        self._watching = False

    def watch(self) -> None:
        self.silenced_at = self.cleared_at = None
        self._watching = True

    def play(self, chunk: AudioChunk) -> None:
        now = time.monotonic()
        self.first_play = self.first_play or now
        if self._held is not None:
            self._held += chunk.seconds
        else:
            self._end = max(self._end or now, now) + chunk.seconds

    def clear(self) -> None:
        now = time.monotonic()
        if self._watching:
            self.cleared_at = self.cleared_at or now
            self.silenced_at = self.silenced_at or now
        self._end = None
        self._held = 0.0 if self._held is not None else None

    def pending_seconds(self) -> float:
        if self._held is not None:
            return self._held
        return max(0.0, (self._end or 0) - time.monotonic())

    def set_paused(self, paused: bool) -> None:
        if paused and self._held is None:
            if self._watching and self.pending_seconds() > 0:
                self.silenced_at = self.silenced_at or time.monotonic()
            self._held = self.pending_seconds()
        elif not paused and self._held is not None:
            self._end, self._held = time.monotonic() + self._held, None
