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

    `count_tokens` must not grow when messages are left out. A long talk is counted from its
    newest end: a few prompts about the budget's size, not one per turn held (a 1,000-turn talk
    would otherwise render and tokenize its whole history many times at every turn).
    """
    kept = _without_oldest_turns(list(messages), count_tokens, budget)
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
    short = sum(count_tokens([m]) for m in messages) <= 2 * budget
    needed = _first_fitting(
        len(candidates), lambda j: count_tokens(without(candidates[j])) <= budget, short
    )
    if needed == 0:
        return messages
    if needed is None:
        return without(cuts[-1]) if cuts else messages
    pages = _page_ends(messages, others, cuts, count_tokens, int(budget * PAGE_SHARE))
    block = cuts[min(-(-needed // DROP_BLOCK_TURNS) * DROP_BLOCK_TURNS, len(cuts)) - 1]
    return without(next((end for end in pages if end >= block), block))


def _first_fitting(count: int, fits: Callable[[int], bool], short: bool) -> int | None:
    """The least index below `count` that `fits` (False below some index, True from it on), or
    None. A `short` list is tried whole first; a long one is searched from its end, galloping
    towards the start, so most tries count only about as much as fits."""
    if short and count and fits(0):
        return 0
    newest = count - 1
    if newest < 0 or not fits(newest):
        return None
    unfit, fit, step = (0 if short else -1), newest, 1  # unfit: the largest index known not to
    while fit - unfit > 1:
        probe = max(fit - step, unfit + 1)
        if not fits(probe):
            unfit = probe
            break
        fit, step = probe, step * 2
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
