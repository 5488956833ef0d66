"""What a conversation tells its listeners (the terminal, the browser, the history), and the
one set of turn timings every caller records."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..types import AudioChunk, ChatMessage

# the stages of a turn, in order, each in ms since the end of the user's speech
STAGES = ("endpoint", "transcript", "first_token", "first_sentence", "first_audio", "done")


class State(StrEnum):
    """What the user is shown: the engine's turn-taking state, paused and muted folded in."""

    WAITING = "waiting"  # for the wake word
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    PAUSED = "paused"
    MUTED = "muted"


@dataclass(frozen=True)
class TurnTimings:
    """Monotonic clock readings (time.monotonic()) of one turn; None where not reached."""

    speech_end: float | None = None  # the user's last voiced audio (a typed turn: Enter)
    endpoint: float | None = None  # silence long enough: the turn is over
    transcript: float | None = None
    first_token: float | None = None
    first_sentence: float | None = None  # first chunk ready for TTS
    first_audio: float | None = None  # first audio handed to the sink
    done: float | None = None  # the whole reply written and handed to the sink
    barge_in_onset: float | None = None  # the user's speech that interrupted began
    playback_stopped: float | None = None  # the sink fell silent (held, then flushed)
    speculated: float | None = None  # the reply was begun at a pause, before the endpoint

    def latencies_ms(self) -> dict[str, float]:
        """Each stage's time since the end of the user's speech (barge-in: since its onset)."""
        out = {}
        for name in STAGES:
            value = getattr(self, name)
            if value is not None and self.speech_end is not None:
                out[name] = round(1000 * (value - self.speech_end), 1)
        if self.barge_in_onset is not None and self.playback_stopped is not None:
            out["barge_in"] = round(1000 * (self.playback_stopped - self.barge_in_onset), 1)
        return out


@dataclass(frozen=True)
class StateChanged:
    state: State


@dataclass(frozen=True)
class UserSaid:
    text: str
    audio: AudioChunk | None = None  # the utterance as heard (16 kHz)
    ended_at: float = 0.0  # wall clock (time.time()) of the end of the speech


@dataclass(frozen=True)
class AssistantSaying:
    text: str  # a chunk handed to the speaker


@dataclass(frozen=True)
class TurnEnded:
    """One finished reply: the record every caller saves."""

    user: str
    generated: str  # what the model wrote
    spoken: str  # what was actually played
    interrupted: bool
    timings: TurnTimings
    started_at: float  # wall clock (time.time()) of the user's turn end
    ended_at: float
    audio: tuple[AudioChunk, ...] = ()  # the reply as synthesized (all of it, even if cut off)

    def messages(self) -> list[ChatMessage]:
        """The turn as the model's context sees it next time: what was said and heard."""
        said = [ChatMessage("user", self.user)] if self.user else []  # none: an announcement
        return [*said, ChatMessage("assistant", self.spoken)] if self.spoken else said


@dataclass(frozen=True)
class ConversationReset:
    """The user started a new conversation: the history was cleared."""


@dataclass(frozen=True)
class Announced:
    """A timer or alarm rang: `text` is about to be said unprompted (and shown)."""

    text: str


@dataclass(frozen=True)
class Notice:
    message: str  # something the user should know (an engine failed, a device vanished)


ConversationEvent = (
    StateChanged | UserSaid | AssistantSaying | TurnEnded | ConversationReset | Notice | Announced
)
