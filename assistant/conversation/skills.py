"""What the conversation asks of the assistant's own tools, as an interface (the tools live in a
higher layer and are passed in): answer a command without the model, and what is said unprompted
when a timer rings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Skills(Protocol):
    def answer(self, text: str, language: str | None) -> str | None:
        """The spoken answer to `text` when it is a command handled locally ("set a timer for
        ten minutes"); None when it is not one (the language model answers it)."""
        ...


@dataclass(frozen=True)
class Announcement:
    """Something the assistant says unprompted (a timer or alarm rang): spoken through the same
    reply path, recorded as an assistant turn with no user turn before it."""

    text: str
