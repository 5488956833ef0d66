"""Fit a conversation into a model's context window by dropping the oldest turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..types import ChatMessage

CountTokens = Callable[[Sequence[ChatMessage]], int]
MIN_KEPT_CHARS = 16
# The oldest turns are dropped at least this many at a time, so the prompt's beginning (llama.cpp's
# cached prefix) stays the same for several turns instead of changing at every one.
DROP_BLOCK_TURNS = 4
# ... and in pages of at least this share of the budget (counted from the conversation's first
# turn, so a page's end never moves as the talk grows): each drop then frees room for many turns,
# and llama.cpp re-reads the kept prompt once per page instead of once per DROP_BLOCK_TURNS.
PAGE_SHARE = 0.5


def fit_messages(
    messages: Sequence[ChatMessage], count_tokens: CountTokens, budget: int
) -> list[ChatMessage]:
    """A recent part of `messages` whose prompt takes at most `budget` tokens.

    System messages are always kept, where they are. The oldest other turns go first, a user
    turn together with the assistant reply after it, a page at a time (PAGE_SHARE, at least
    DROP_BLOCK_TURNS); the newest message is never dropped. When the newest message alone is
    still too long, its beginning is cut (the end of what was said is kept).
    """
    kept = list(messages)
    if count_tokens(kept) > budget:
        kept = _without_oldest_turns(kept, count_tokens, budget)
    while count_tokens(kept) > budget:
        last = kept[-1]
        if last.role == "system":
            break
        if len(last.content) <= MIN_KEPT_CHARS:
            system = [m for m in kept if m.role == "system" and m.content]
            if not system:
                break
            kept = [replace(m, content=m.content[: len(m.content) // 2])
                    if m.role == "system" else m for m in kept]  # fmt: skip
            continue
        kept[-1] = replace(last, content=last.content[len(last.content) // 4 :])
    return kept


def _without_oldest_turns(
    messages: list[ChatMessage], count_tokens: CountTokens, budget: int
) -> list[ChatMessage]:
    """`messages` less as few blocks of the oldest turns as make them fit (or all but the
    newest message). A kept part never begins with an assistant reply."""
    others = [i for i, m in enumerate(messages) if m.role != "system"]
    # how many of the oldest non-system messages may go: up to a user turn, or all but the last
    cuts = [k for k in range(1, len(others)) if messages[others[k]].role == "user"]
    if len(others) > 1 and (not cuts or cuts[-1] != len(others) - 1):
        cuts.append(len(others) - 1)

    def without(k: int) -> list[ChatMessage]:
        dropped = set(others[:k])
        return [m for i, m in enumerate(messages) if i not in dropped]

    pages = _page_ends(messages, others, cuts, count_tokens, int(budget * PAGE_SHARE))
    for needed, cut in enumerate(cuts, start=1):
        if count_tokens(without(cut)) <= budget:
            block = cuts[min(-(-needed // DROP_BLOCK_TURNS) * DROP_BLOCK_TURNS, len(cuts)) - 1]
            return without(next((end for end in pages if end >= block), block))
    return without(cuts[-1]) if cuts else messages


def _page_ends(
    messages: list[ChatMessage],
    others: list[int],
    cuts: list[int],
    count_tokens: CountTokens,
    page_tokens: int,
) -> list[int]:
    """The cuts that end a page: the first user turn after at least `page_tokens` tokens (each
    message counted alone) since the last page's end. The newest message is in no page."""
    ends, filled, at = [], 0, 0
    for cut in cuts[:-1] if cuts and cuts[-1] == len(others) - 1 else cuts:
        filled += sum(count_tokens([messages[i]]) for i in others[at:cut])
        at = cut
        if filled >= page_tokens:
            ends.append(cut)
            filled = 0
    return ends
