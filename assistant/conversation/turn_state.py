"""Who has the turn in a hands-free conversation: the engine's states, the transitions it may
make between them (any other raises), and what the user is shown for each."""

from __future__ import annotations

from enum import StrEnum

from .events import State


class TurnState(StrEnum):
    """Who has the turn. Paused and muted are switches on top of it (see `State`)."""

    WAITING = "waiting"  # for the wake word: nothing else is heard
    LISTENING = "listening"  # the user's turn
    SPECULATING = "speculating"  # a short pause: a reply is being prepared, not yet said
    THINKING = "thinking"  # the user's turn is over: transcribing, writing, synthesizing
    SPEAKING = "speaking"  # the reply is playing
    HELD = "held"  # playback held: the user may be interrupting


TRANSITIONS: dict[TurnState, frozenset[TurnState]] = {
    TurnState.WAITING: frozenset({TurnState.LISTENING, TurnState.THINKING}),  # typed: THINKING
    TurnState.LISTENING: frozenset({TurnState.SPECULATING, TurnState.THINKING, TurnState.WAITING}),
    TurnState.SPECULATING: frozenset({TurnState.LISTENING, TurnState.THINKING}),
    # back to WAITING: after an announcement said while waiting for the wake word
    TurnState.THINKING: frozenset({TurnState.LISTENING, TurnState.SPEAKING, TurnState.WAITING}),
    TurnState.SPEAKING: frozenset(
        {TurnState.LISTENING, TurnState.HELD, TurnState.THINKING, TurnState.WAITING}
    ),
    TurnState.HELD: frozenset({TurnState.LISTENING, TurnState.SPEAKING, TurnState.THINKING}),
}
FREE = frozenset({TurnState.LISTENING, TurnState.WAITING})  # nobody has the turn
MUTED = frozenset({TurnState.WAITING, TurnState.LISTENING, TurnState.SPECULATING})  # shown muted
SHOWN = {  # what the user is shown for each turn state
    TurnState.WAITING: State.WAITING,
    TurnState.LISTENING: State.LISTENING,
    TurnState.SPECULATING: State.LISTENING,
    TurnState.THINKING: State.THINKING,
    TurnState.SPEAKING: State.SPEAKING,
    TurnState.HELD: State.SPEAKING,
}


def shown(turn: TurnState, *, paused: bool, muted: bool) -> State:
    """What the user is shown: paused over everything; muted while the microphone would be heard."""
    if paused:
        return State.PAUSED
    return State.MUTED if muted and turn in MUTED else SHOWN[turn]
