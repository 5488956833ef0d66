"""Barge-in: from each frame's speech probability while the assistant speaks, decide whether the
user is interrupting. Speech must be clearly above the playback's own echo (a stricter threshold)
for `barge_in_ms`; with `barge_in_hold_ms`, playback is held as soon as such speech lasts that
long, and goes on if the speech stops before `barge_in_ms`. Held playback's echo does not stop at
once (the room's delay and reverberation, and an echo canceller that lets the rest of it through
once the speaker falls silent): with `echo_tail_ms`, speech interrupts only once it has gone on
that long after the hold, or longer where the speaker's sound is known to come back later
(`echo_lasts`: what the device still holds and the room's delay). An echo canceller that tells the
user's voice from the echo (audio/double_talk.py) hears a user about 75 ms before the VAD does
over an echo: with `over_echo_hold_ms`, its word holds playback at once, for that long while the
VAD catches up, and only the VAD's speech interrupts."""

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
    over_echo_hold_ms: int = 0  # the echo canceller heard the user over the echo: playback is
    # held at once, and this long after its last word, for the VAD to hear them; 0: not heard


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
        self._over_echo_s = 0.0  # how much longer the canceller's word that the user speaks holds
        self._begun = False  # this speech's onset is known

    def push(
        self,
        probability: float,
        frame_seconds: float,
        speaking: bool,
        start: float = 0.0,
        over_echo: bool = False,
    ) -> list[BargeIn]:
        """The actions for one frame (beginning at monotonic time `start`); `speaking`: the
        assistant's voice is playing (or held); `over_echo`: the echo canceller heard the user
        speak over the speaker's echo in it."""
        settings = self.settings
        listening = speaking and settings.enabled
        if listening and over_echo and settings.hold_ms:
            self._over_echo_s = settings.over_echo_hold_ms / 1000
        else:
            self._over_echo_s = max(0.0, self._over_echo_s - frame_seconds)
        waiting = listening and self._over_echo_s > 0  # for the VAD to hear what the canceller did
        loud = listening and probability >= settings.threshold
        self._quiet_frames = 0 if loud else self._quiet_frames + 1
        bridged = speaking and 1000 * self._quiet_frames * frame_seconds <= settings.gap_ms
        if not loud and not (bridged and self._loud_frames) and not waiting:
            self.reset()
            return [BargeIn.RELEASE]
        self._loud_frames += loud
        self._since_hold = None if self._since_hold is None else self._since_hold + 1
        self.heard_s = self._loud_frames * frame_seconds
        if not self._begun:
            self.onset, self._begun = start, True
        actions = []
        if waiting or (settings.hold_ms and loud and 1000 * self.heard_s >= settings.hold_ms):
            actions.append(BargeIn.HOLD)
            if self._since_hold is None:  # the first hold of this speech
                self._since_hold = 0
        past_echo = (
            self._since_hold is None
            or 1000 * self._since_hold * frame_seconds >= self._echo_tail_ms
        )
        if loud and 1000 * self.heard_s >= settings.interrupt_ms and past_echo:
            actions.append(BargeIn.INTERRUPT)
            self._loud_frames, self._since_hold, self._begun = 0, None, False
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
        self._over_echo_s = 0.0
        self._begun = False
