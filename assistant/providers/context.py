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
REMEMBERED_TALKS = 64  # talks whose last fit is remembered (a `Drops`), to search from it next time


class Drops(dict[ChatMessage, int]):
    """How many of the oldest turns each talk (known by its first turn) dropped at its last fit:
    a talk only grows, so its next fit is searched from there (two prompts counted, not ~12)."""

    def remember(self, first: ChatMessage, needed: int) -> None:
        self.pop(first, None)
        self[first] = needed
        while len(self) > REMEMBERED_TALKS:
            del self[next(iter(self))]


def fit_messages(
    messages: Sequence[ChatMessage],
    count_tokens: CountTokens,
    budget: int,
    drops: Drops | None = None,
) -> list[ChatMessage]:
    """A recent part of `messages` whose prompt takes at most `budget` tokens.

    System messages are always kept, where they are. The oldest other turns go first, a user
    turn together with the assistant reply after it, a page at a time (PAGE_SHARE, at least
    DROP_BLOCK_TURNS); the newest message is never dropped. When the newest message alone is
    still too long, its beginning is cut (the end of what was said is kept).

    `count_tokens` must not grow when messages are left out. A long talk is counted from its
    newest end: a few prompts about the budget's size, not one per turn held (a 1,000-turn talk
    would otherwise render and tokenize its whole history many times at every turn), or from
    where its last fit ended, remembered in `drops`.
    """
    kept = _without_oldest_turns(list(messages), count_tokens, budget, drops)
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
    messages: list[ChatMessage], count_tokens: CountTokens, budget: int, drops: Drops | None
) -> list[ChatMessage]:
    """`messages` whole if they fit, else less as few blocks of the oldest turns as make them fit
    (or all but the newest message). A kept part never begins with an assistant reply."""
    others = [i for i, m in enumerate(messages) if m.role != "system"]
    # how many of the oldest non-system messages may go: up to a user turn, or all but the last
    cuts = [k for k in range(1, len(others)) if messages[others[k]].role == "user"]
    if len(others) > 1 and (not cuts or cuts[-1] != len(others) - 1):
        cuts.append(len(others) - 1)

    def without(k: int) -> list[ChatMessage]:
        dropped = set(others[:k])
        return [m for i, m in enumerate(messages) if i not in dropped]

    candidates = [0, *cuts]  # messages dropped, fewest first; each keeps fewer tokens
    first = messages[others[0]] if others else None
    if drops is not None and first in drops:
        start = drops[first]
    else:
        start = 0 if sum(count_tokens([m]) for m in messages) <= 2 * budget else len(cuts)
    needed = _first_fitting(
        len(candidates), lambda j: count_tokens(without(candidates[j])) <= budget, start
    )
    if drops is not None and first is not None and needed is not None:
        drops.remember(first, needed)
    if needed == 0:
        return messages
    if needed is None:
        return without(cuts[-1]) if cuts else messages
    pages = _page_ends(messages, others, cuts, count_tokens, int(budget * PAGE_SHARE))
    block = cuts[min(-(-needed // DROP_BLOCK_TURNS) * DROP_BLOCK_TURNS, len(cuts)) - 1]
    return without(next((end for end in pages if end >= block), block))


def _first_fitting(count: int, fits: Callable[[int], bool], start: int) -> int | None:
    """The least index below `count` that `fits` (False below some index, True from it on), or
    None. The search begins at `start` and gallops away from it, then halves: from near the
    answer, it takes a few tries, each counting about as much as fits."""
    if count <= 0:
        return None
    start = min(max(start, 0), count - 1)
    step = 1
    if fits(start):
        unfit, fit = -1, start  # unfit: the largest index known not to fit (-1: none known)
        while fit - unfit > 1:
            probe = max(fit - step, unfit + 1)
            if not fits(probe):
                unfit = probe
                break
            fit, step = probe, step * 2
    else:
        unfit = start
        while True:
            probe = min(unfit + step, count - 1)
            if fits(probe):
                fit = probe
                break
            if probe == count - 1:
                return None
            unfit, step = probe, step * 2
    while fit - unfit > 1:
        middle = (unfit + fit) // 2
        if fits(middle):
            fit = middle
        else:
            unfit = middle
    return fit


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
