"""Fit a conversation into a model's context window by dropping the oldest turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..types import ChatMessage

CountTokens = Callable[[Sequence[ChatMessage]], int]
MIN_KEPT_CHARS = 16


def fit_messages(
    messages: Sequence[ChatMessage], count_tokens: CountTokens, budget: int
) -> list[ChatMessage]:
    """The longest recent part of `messages` whose prompt takes at most `budget` tokens.

    System messages are always kept. The oldest other turns go first, a user turn together
    with the assistant reply after it; the newest message is never dropped. When the newest
    message alone is still too long, its beginning is cut (the end of what was said is kept).
    """
    system = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    while len(turns) > 1 and count_tokens(system + turns) > budget:
        turns = turns[1:]
        while len(turns) > 1 and turns[0].role == "assistant":
            turns = turns[1:]
    while turns and count_tokens(system + turns) > budget:
        last = turns[-1]
        if len(last.content) <= MIN_KEPT_CHARS:
            system = [replace(m, content=m.content[: len(m.content) // 2]) for m in system]
            if not any(m.content for m in system):
                break
            continue
        turns[-1] = replace(last, content=last.content[len(last.content) // 4 :])
    return system + turns
