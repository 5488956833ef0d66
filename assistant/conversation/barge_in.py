"""Barge-in: from each frame's speech probability while the assistant speaks, decide whether the
user is interrupting. Speech must be clearly above the playback's own echo (a stricter threshold)
for `barge_in_ms`; with `barge_in_hold_ms`, playback is held as soon as such speech lasts that
long, and goes on if the speech stops before `barge_in_ms`. Held playback's echo does not stop at
once (the room's delay and reverberation, and an echo canceller that lets the rest of it through
once the speaker falls silent): with `echo_tail_ms`, speech interrupts only once it has gone on
that long after the hold, or longer where the speaker's sound is known to come back later
(`echo_lasts`: what the device still holds and the room's delay)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROOM_TAIL_MS = 200  # after the last of the echo arrives: the room's reverberation and the VAD's
# lag (in the live test rig the held reply's echo came back for 0.5 s after the hold, the device
# holding 60 ms and the echo's delay 0.26 s: with 300 ms allowed it interrupted the reply)


class BargeIn(StrEnum):
    HOLD = "hold"  # pause playback: this may be an interruption
    RELEASE = "release"  # it was not: playback goes on
    INTERRUPT = "interrupt"  # it is: stop the reply


@dataclass(frozen=True)
class BargeInSettings:
    enabled: bool = True
    interrupt_ms: int = 300  # voiced time during playback that interrupts
    threshold: float = 0.8  # stricter than listening: the assistant's own echo is quieter
    hold_ms: int = 0  # voiced time during playback that holds it until `interrupt_ms`; 0: never
    gap_ms: int = 0  # a quieter gap this short does not end the speech (an echo canceller's
    # output of a voice over the speaker comes in bursts); 0: the first quiet frame ends it
    echo_tail_ms: int = 0  # after a hold, speech must go on this long before it interrupts


class BargeInGuard:
    """A pure state machine: push one frame at a time, get what to do."""

    def __init__(self, settings: BargeInSettings) -> None:
        self.settings = settings
        self._loud_frames = 0  # frames above the threshold while speaking, gaps bridged
        self._quiet_frames = 0  # consecutive frames below it since the last loud one
        self.heard_s = 0.0  # how long the loud speech had lasted at the last push
        self.onset: float | None = None  # monotonic time that speech began: its first frame's
        self._since_hold: int | None = None  # frames pushed since this speech held playback
        self._echo_tail_ms = settings.echo_tail_ms  # this hold's allowance for the echo

    def push(
        self, probability: float, frame_seconds: float, speaking: bool, start: float = 0.0
    ) -> list[BargeIn]:
        """The actions for one frame (beginning at monotonic time `start`); `speaking`: the
        assistant's voice is playing (or held)."""
        settings = self.settings
        loud = speaking and settings.enabled and probability >= settings.threshold
        self._quiet_frames = 0 if loud else self._quiet_frames + 1
        bridged = speaking and 1000 * self._quiet_frames * frame_seconds <= settings.gap_ms
        if not loud and not (bridged and self._loud_frames):
            self.reset()
            return [BargeIn.RELEASE]
        self._loud_frames += loud
        self._since_hold = None if self._since_hold is None else self._since_hold + 1
        self.heard_s = self._loud_frames * frame_seconds
        if self._loud_frames == 1 and loud:
            self.onset = start
        if not loud:
            return []  # a gap within the speech: nothing changes
        actions = []
        if settings.hold_ms and 1000 * self.heard_s >= settings.hold_ms:
            actions.append(BargeIn.HOLD)
            if self._since_hold is None:  # the first hold of this speech
                self._since_hold = 0
        past_echo = (
            self._since_hold is None
            or 1000 * self._since_hold * frame_seconds >= self._echo_tail_ms
        )
        if 1000 * self.heard_s >= settings.interrupt_ms and past_echo:
            actions.append(BargeIn.INTERRUPT)
            self._loud_frames, self._since_hold = 0, None
        return actions

    def echo_lasts(self, seconds: float) -> None:
        """Playback was just held, and what was played before still comes back into the
        microphone for `seconds` (then the room's tail, `ROOM_TAIL_MS`): this speech interrupts
        only once it has gone on past that, or past `echo_tail_ms` if longer (never where that
        is 0: no echo canceller, a strict threshold instead)."""
        if self.settings.echo_tail_ms:
            tail = 1000 * seconds + ROOM_TAIL_MS
            self._echo_tail_ms = max(self.settings.echo_tail_ms, round(tail))

    def reset(self) -> None:
        self._loud_frames = self._quiet_frames = 0
        self.heard_s = 0.0
        self._since_hold = None
        self._echo_tail_ms = self.settings.echo_tail_ms
