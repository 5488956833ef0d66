"""What the assistant says unprompted (a timer or alarm rang): queued until nobody has the turn,
then said as a reply of its own. Waiting for the wake word counts as nobody having the turn: the
announcement is said at once, and the engine goes back to waiting for the wake word afterwards
(a ringing timer must not open the conversation to the whole room)."""

from __future__ import annotations

from collections import deque

from .skills import Announcement
from .turn_state import FREE, TurnState


class AnnouncementQueue:
    """Announcements in the order they came, each said once."""

    def __init__(self) -> None:
        self._texts: deque[str] = deque()

    def __bool__(self) -> bool:
        return bool(self._texts)

    def add(self, text: str) -> None:
        self._texts.append(text)

    def next_due(self, turn: TurnState, *, busy: bool, in_speech: bool) -> Announcement | None:
        """The next announcement when it may be said now (no reply under way, nobody
        speaking, the turn free), taken off the queue; else None."""
        if self._texts and turn in FREE and not (busy or in_speech):
            return Announcement(self._texts.popleft())
        return None
