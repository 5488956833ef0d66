"""Tests for assistant.providers.context.fit_messages: trimming a conversation to a token budget."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assistant.providers.context import (
    DROP_BLOCK_TURNS,
    MIN_KEPT_CHARS,
    PAGE_SHARE,
    REMEMBERED_TALKS,
    Drops,
    _first_fitting,
    fit_messages,
)
from assistant.types import ChatMessage

SYSTEM = ChatMessage("system", "be brief")
CONVERSATION = [
    SYSTEM,
    ChatMessage("user", "one two three"),
    ChatMessage("assistant", "four five"),
    ChatMessage("user", "six seven eight nine"),
    ChatMessage("assistant", "ten"),
    ChatMessage("user", "eleven twelve"),
]


def count_words(messages: Sequence[ChatMessage]) -> int:
    """A stand-in tokenizer: one token per word plus four per message."""
    return sum(len(message.content.split()) + 4 for message in messages)


def count_chars(messages: Sequence[ChatMessage]) -> int:
    return sum(len(message.content) + 4 for message in messages)


def test_counter_sanity():
    assert count_words(CONVERSATION) == 38


def test_keeps_everything_under_budget():
    assert fit_messages(CONVERSATION, count_words, 38) == CONVERSATION
    assert fit_messages(CONVERSATION, count_words, 1000) == CONVERSATION


def test_returns_a_new_list():
    result = fit_messages(CONVERSATION, count_words, 1000)
    result.pop()
    assert len(CONVERSATION) == 6


def test_empty_conversation():
    assert fit_messages([], count_words, 10) == []


def test_drops_oldest_turns_first_with_their_replies_in_blocks():
    # 38 tokens; one turn ("one two three" and its reply "four five") would do, but turns go
    # DROP_BLOCK_TURNS at a time (here: all but the newest)
    assert DROP_BLOCK_TURNS >= 2
    assert fit_messages(CONVERSATION, count_words, 37) == [SYSTEM, CONVERSATION[-1]]


def test_kept_turns_never_start_with_assistant():
    for budget in range(1, 40):
        turns = [m for m in fit_messages(CONVERSATION, count_words, budget) if m.role != "system"]
        assert turns[0].role == "user", budget


def test_keeps_system_message_and_newest_turn_when_tight():
    assert fit_messages(CONVERSATION, count_words, 12) == [SYSTEM, CONVERSATION[-1]]


def test_system_messages_are_kept_where_they_are():
    # e.g. the line telling the model the language, just before the question
    messages = [ChatMessage("user", "hello there"), SYSTEM, ChatMessage("user", "again")]
    assert fit_messages(messages, count_words, 1000) == messages
    told = [*CONVERSATION[:-1], ChatMessage("system", "Answer in French."), CONVERSATION[-1]]
    assert fit_messages(told, count_words, 30) == [SYSTEM, *told[-2:]]


def test_never_drops_the_newest_message():
    for budget in range(1, 40):
        assert fit_messages(CONVERSATION, count_words, budget)[-1] == CONVERSATION[-1], budget


def test_newest_assistant_message_is_kept():
    messages = [*CONVERSATION[:-1]]  # ends with the assistant's "ten"
    result = fit_messages(messages, count_words, 10)
    assert result[-1] == ChatMessage("assistant", "ten")


@pytest.mark.parametrize("budget", range(12, 39))
def test_kept_turns_are_the_most_recent_ones(budget):
    result = fit_messages(CONVERSATION, count_words, budget)
    assert result[0] == SYSTEM
    kept = result[1:]
    assert kept == CONVERSATION[len(CONVERSATION) - len(kept) :]
    assert count_words(result) <= budget


def test_the_prompt_beginning_changes_once_per_block_of_turns_as_a_talk_grows():
    """llama.cpp reuses its cache for the prompt's unchanged beginning: as a conversation
    outgrows the window, the first kept turn moves once every DROP_BLOCK_TURNS turns."""
    talk = [SYSTEM]
    firsts = []
    for n in range(40):
        talk += [ChatMessage("user", f"question {n} a b c"), ChatMessage("assistant", "an answer")]
        fitted = fit_messages(talk, count_words, 120)
        assert count_words(fitted) <= 120 and fitted[-1] == talk[-1]
        firsts.append(fitted[1].content)
    changes = sum(1 for a, b in itertools.pairwise(firsts) if a != b)
    assert 0 < changes <= len(firsts) // DROP_BLOCK_TURNS + 1, firsts


def test_huge_last_message_is_shortened_keeping_its_end():
    words = [f"w{i}" for i in range(1000)]
    huge = ChatMessage("user", " ".join(words))
    messages = [SYSTEM, ChatMessage("user", "hi"), ChatMessage("assistant", "hello"), huge]
    result = fit_messages(messages, count_words, 100)
    assert result[0] == SYSTEM
    assert len(result) == 2
    assert result[1].role == "user"
    assert huge.content.endswith(result[1].content)
    assert result[1].content.endswith("w998 w999")
    assert len(result[1].content) < len(huge.content)
    assert count_words(result) <= 100


def test_shortened_message_keeps_as_much_as_fits_within_a_quarter():
    huge = ChatMessage("user", "x" * 4000)
    result = fit_messages([SYSTEM, huge], count_chars, 1012)
    kept = result[-1].content
    assert count_chars(result) <= 1012
    assert len(kept) > 1000 * 3 // 4  # each cut drops a quarter, so no cut overshoots by more


def test_system_message_is_not_shortened_when_last_message_can_be():
    huge = ChatMessage("user", "x" * 400)
    result = fit_messages([SYSTEM, huge], count_chars, count_chars([SYSTEM]) + 4 + 50)
    assert result[0] == SYSTEM


@pytest.mark.parametrize("counter", [count_words, count_chars], ids=["words", "chars"])
@pytest.mark.parametrize(
    "last",
    ["eleven twelve", " ".join(f"w{i}" for i in range(300)), "x" * 500],
    ids=["short", "many-words", "one-long-word"],
)
def test_result_always_fits_when_budget_allows_system_and_an_empty_turn(counter, last):
    system = ChatMessage("system", "you are a helpful assistant that answers briefly")
    messages = [
        system,
        ChatMessage("user", "one two three"),
        ChatMessage("assistant", "four five"),
        ChatMessage("user", last),
    ]
    floor = counter([system, ChatMessage("user", "")])
    for budget in range(floor, counter(messages) + 2):
        result = fit_messages(messages, counter, budget)
        assert counter(result) <= budget, budget
        assert result[-1].role == "user", budget
        assert last.endswith(result[-1].content), budget


def test_short_last_message_is_not_cut_below_min_kept_chars():
    last = ChatMessage("user", "x" * MIN_KEPT_CHARS)
    system = ChatMessage("system", "s" * 40)
    result = fit_messages([system, last], count_chars, count_chars([system, last]) - 10)
    assert result[-1] == last
    assert len(result[0].content) < 40  # the system message gives way instead
    assert count_chars(result) <= count_chars([system, last]) - 10


def test_gives_up_when_even_an_empty_system_message_does_not_fit():
    last = ChatMessage("user", "short")
    result = fit_messages([SYSTEM, last], count_chars, 3)
    assert result == [ChatMessage("system", ""), last]


def test_a_long_talk_drops_a_page_at_a_time_and_keeps_at_least_half_a_page():
    """With short turns, the kept beginning moves once per PAGE_SHARE of the budget (llama.cpp
    re-reads the kept prompt then), not once per DROP_BLOCK_TURNS, and a drop never leaves
    less than about half a page of the conversation."""
    budget, talk, firsts, kept = 400, [SYSTEM], [], []
    for n in range(120):
        talk += [ChatMessage("user", f"question {n} a b c"), ChatMessage("assistant", "an answer")]
        fitted = fit_messages(talk, count_words, budget)
        assert count_words(fitted) <= budget and fitted[-1] == talk[-1]
        firsts.append(fitted[1].content)
        kept.append(count_words(fitted[1:]))
    changes = sum(1 for a, b in itertools.pairwise(firsts) if a != b)
    grown = count_words(talk[1:]) - budget
    assert 0 < changes <= grown // int(budget * PAGE_SHARE) + 1, firsts
    assert changes < len(firsts) // DROP_BLOCK_TURNS // 2  # far fewer than 4-turn blocks
    assert min(kept[len(kept) // 2 :]) >= budget * PAGE_SHARE / 2, kept


@given(count=st.integers(0, 3000), threshold=st.integers(0, 3001), start=st.integers(-2, 3002))
def test_the_search_finds_the_least_index_that_fits(count, threshold, start):
    tried = []

    def fits(index: int) -> bool:
        assert 0 <= index < count
        tried.append(index)
        return index >= threshold

    expected = threshold if threshold < count else None
    assert _first_fitting(count, fits, start) == expected
    assert len(tried) <= 2 * max(count, 1).bit_length() + 3, tried


def test_a_long_talk_is_counted_from_its_newest_end():
    """At turn 1,000 of a talk, fitting it counts a few prompts about the budget's size (single
    messages are counted once each and remembered by the model's provider), not the history."""
    budget, talk = 400, [SYSTEM]
    for n in range(1000):
        talk += [ChatMessage("user", f"question {n} a b c"), ChatMessage("assistant", "an answer")]
    counted = []

    def count_prompts(messages: Sequence[ChatMessage]) -> int:
        if len(messages) > 1:
            counted.append(count_words(messages))
        return count_words(messages)

    fitted = fit_messages(talk, count_prompts, budget)
    assert count_words(fitted) <= budget and fitted[-1] == talk[-1]
    assert len(counted) <= 24 and sum(counted) <= 16 * budget, counted


def test_a_talk_is_fitted_from_where_its_last_fit_began():
    """With the last fit remembered, each turn of a long talk counts two or three prompts (the
    remembered start, the one before it), and the result is the same as searching afresh."""
    budget, talk, drops, counted = 400, [SYSTEM], Drops(), []

    def count_prompts(messages: Sequence[ChatMessage]) -> int:
        if len(messages) > 1:
            counted.append(len(messages))
        return count_words(messages)

    for n in range(300):
        talk += [ChatMessage("user", f"question {n} a b c"), ChatMessage("assistant", "an answer")]
        counted.clear()
        remembered = fit_messages(talk, count_prompts, budget, drops)
        assert remembered == fit_messages(talk, count_words, budget), n
        if n > 100:
            assert len(counted) <= 4, (n, counted)
    assert list(drops) == [talk[1]]


def test_only_the_latest_talks_are_remembered():
    drops = Drops()
    for n in range(REMEMBERED_TALKS + 10):
        drops.remember(ChatMessage("user", f"talk {n}"), n)
    drops.remember(ChatMessage("user", "talk 20"), 99)  # used again: the newest
    assert len(drops) == REMEMBERED_TALKS
    assert ChatMessage("user", "talk 0") not in drops
    assert list(drops.items())[-1] == (ChatMessage("user", "talk 20"), 99)
