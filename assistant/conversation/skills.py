"""What the conversation asks of the assistant's own tools, as an interface (the tools live in a
higher layer and are passed in): answer a command without the model, and what is said unprompted
when a timer rings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..providers import ChatModel
from ..types import ChatMessage


class Skills(Protocol):
    def command(self, text: str, language: str | None) -> Callable[[], str] | None:
        """When `text` is a command handled locally ("set a timer for ten minutes"): the action
        that carries it out and returns the spoken answer (run only once the turn is known to
        be over); None when it is not one (the language model answers it)."""
        ...

    def stream_chat(
        self, chat: ChatModel, messages: Sequence[ChatMessage], language: str | None
    ) -> Iterator[str] | None:
        """The model's reply with the tools offered to it (calls run, only words out); None
        when the model is not offered tools (the reply is the model's plain stream)."""
        ...

    def model_prompt(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """`messages` as `stream_chat` asks the model with them: the tools offered in the system
        prompt where they are, else unchanged."""
        ...


@dataclass(frozen=True)
class Announcement:
    """Something the assistant says unprompted (a timer or alarm rang): spoken through the same
    reply path, recorded as an assistant turn with no user turn before it."""

    text: str
