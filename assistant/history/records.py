"""What the history holds: saved turns and conversations as frozen records, the `History`
interface that the SQLite store and the disabled store both fit, and the errors."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Protocol

from ..errors import AssistantError, UsageError
from ..types import ChatMessage

EMPTY: Mapping[str, str] = MappingProxyType({})


class HistoryError(AssistantError):
    """The history database cannot be opened, read or written."""


class NotFoundError(UsageError):
    """No conversation or turn has the id given."""


@dataclass(frozen=True)
class TurnRecord:
    """One finished turn, as it is saved."""

    role: Literal["user", "assistant"]
    text: str  # what the user said, or what the assistant actually spoke
    generated: str = ""  # assistant: all the model wrote (more than text when interrupted)
    interrupted: bool = False
    started_at: float = field(default_factory=time.time)  # epoch seconds
    ended_at: float = field(default_factory=time.time)  # epoch seconds
    # milliseconds per stage, from the end of the user's speech: stt, first_token, first_audio...
    latencies: Mapping[str, float] = field(default_factory=dict)
    stt_model: str = ""
    llm_model: str = ""
    voice: str = ""

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"a saved turn's role is 'user' or 'assistant', not {self.role!r}")


@dataclass(frozen=True)
class Feedback:
    rating: int  # +1 thumbs up, -1 thumbs down
    comment: str
    created_at: float  # epoch seconds


@dataclass(frozen=True)
class Turn:
    id: int
    conversation_id: int
    record: TurnRecord
    feedback: Feedback | None = None


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    title: str  # the title given, or the start of the first user turn
    started_at: float  # epoch seconds
    updated_at: float  # epoch seconds
    turns: int


@dataclass(frozen=True)
class SavedConversation:
    id: int
    title: str
    started_at: float
    updated_at: float
    meta: Mapping[str, str]
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    turn_id: int
    role: str
    text: str  # the turn's text (or what was generated, when only that matched)
    started_at: float


class History(Protocol):
    """Where conversations are saved; `SQLiteHistory` and `DisabledHistory` both fit."""

    @property
    def enabled(self) -> bool: ...
    def start_conversation(self, *, title: str = "", meta: Mapping[str, str] = EMPTY) -> int: ...
    def add_turn(self, conversation_id: int, turn: TurnRecord) -> int: ...
    def set_feedback(self, turn_id: int, rating: int, comment: str = "") -> None: ...
    def conversations(self, limit: int = 50) -> list[ConversationSummary]: ...
    def conversation(self, conversation_id: int) -> SavedConversation: ...
    def last_conversation_id(self) -> int | None: ...
    def context_messages(self, conversation_id: int) -> list[ChatMessage]: ...
    def search(self, text: str, limit: int = 50) -> list[SearchHit]: ...
    def delete(self, conversation_id: int) -> None: ...
    def delete_all(self) -> int: ...
    def close(self) -> None: ...


def context_of(conversation: SavedConversation) -> list[ChatMessage]:
    """User turns and the assistant's spoken words, oldest first (unspoken text is left out)."""
    return [
        ChatMessage(turn.record.role, turn.record.text)
        for turn in conversation.turns
        if turn.record.text
    ]
