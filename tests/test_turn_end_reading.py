"""The end of turn read from the words by the reply's own language model
(providers/llama_turn_end.py, `LlamaCppChat.turn_end_probability`) on the real smallest model,
and Mandarin on the default tier's: words that lead on are unlikely to end the turn, a finished
question likely; the reading is made in the pass that reads the reply's prompt, so the reply
then reads nothing more."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant.config import DEFAULT_SYSTEM_PROMPT
from assistant.providers import ReadsTurnEnds
from assistant.providers.llama_turn_end import (
    bare_length,
    end_tokens,
    marked_probability,
    split_probability,
)
from assistant.providers.registry import create_chat
from assistant.types import ChatMessage

SYSTEM = ChatMessage("system", DEFAULT_SYSTEM_PROMPT)
GOING_ON = ("I'd like to", "Can you remind me to...", "How many?", "Could you", "I need to know.")
FINISHED = ("What time is it in Tokyo?", "What's the weather like tomorrow?")
UNFINISHED_BELOW = 0.03  # the default (config.py)


@pytest.fixture(scope="module")
def chat(config, store):
    short = replace(config.llm, max_tokens=12, temperature=0.0)
    return create_chat(replace(config, llm=short), store)


def _said(words: str) -> list[ChatMessage]:
    return [SYSTEM, ChatMessage("user", words)]


def test_words_that_lead_on_read_as_unfinished_and_a_question_as_finished(chat):
    assert isinstance(chat, ReadsTurnEnds)
    going_on = {words: chat.turn_end_probability(_said(words)) for words in GOING_ON}
    finished = {words: chat.turn_end_probability(_said(words)) for words in FINISHED}
    assert all(p is not None and p < UNFINISHED_BELOW for p in going_on.values()), going_on
    assert all(p is not None and p > 4 * UNFINISHED_BELOW for p in finished.values()), finished


def test_the_reading_is_the_words_own_and_costs_the_reply_no_pass(chat, monkeypatch):
    """The probability read inside the prompt's pass is the one a pass of the words alone gives,
    and the reply then samples at once: the same words as without the reading, nothing read
    again (a spy counts the tokens each of llama.cpp's evaluations reads)."""
    messages = _said("What time is it in Tokyo?")
    plain = "".join(chat.stream_chat(messages))
    llm, tokens = chat.llama, chat.prompt_tokens(messages)
    words = chat.prompt_tokens(_said("What time is it in Tokyo"))
    mark = next(i for i, (a, b) in enumerate(zip(tokens, words, strict=False)) if a != b) - 1
    ends = end_tokens(llm, chat.prompt_tokens(_said("Hi")))
    llm.reset()
    alone = split_probability(llm, tokens, mark, ends)  # public calls: two passes
    llm.reset()
    marked = marked_probability(llm, tokens, mark, ends)  # this llama-cpp-python's internals
    assert marked == pytest.approx(alone, abs=1e-3)
    llm.reset()
    assert chat.turn_end_probability(messages) == pytest.approx(marked, abs=1e-6)
    assert llm.n_tokens == len(tokens)  # the whole prompt is read
    sizes: list[int] = []
    evaluate = llm.eval
    monkeypatch.setattr(llm, "eval", lambda part: (sizes.append(len(part)), evaluate(part)))
    assert "".join(chat.stream_chat(messages)) == plain
    assert sizes[0] == 0  # the prompt was all there: the first token was sampled at once


def test_the_end_tokens_are_the_templates_end_of_message_and_sentence_marks(chat):
    llm = chat.llama
    ends = set(end_tokens(llm, chat.prompt_tokens(_said("Hi"))).tolist())
    im_end = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
    assert len(im_end) == 1 and im_end[0] in ends  # SmolLM2's ChatML
    for mark in (".", "?", "!"):
        assert llm.tokenize(mark.encode(), add_bos=False, special=False)[0] in ends


def test_nothing_to_read_says_none(chat):
    assert chat.turn_end_probability(_said("?!...")) is None  # no words, only marks
    assert chat.turn_end_probability([SYSTEM]) is None  # no user message last
    reply = [*_said("Hello."), ChatMessage("assistant", "Hi there.")]
    assert chat.turn_end_probability(reply) is None
    assert bare_length("I'd like to... ") == len("I'd like to")
    assert bare_length("我想知道，") == len("我想知道")


def test_mandarin_words_are_read_by_the_default_tier_model(default_tier, store):
    chat = create_chat(default_tier, store)
    going_on = [chat.turn_end_probability(_said(w)) for w in ("我想知道", "请帮我设置一个")]
    finished = [chat.turn_end_probability(_said(w)) for w in ("今天天气怎么样？", "现在几点了？")]
    assert all(p is not None and p < UNFINISHED_BELOW for p in going_on), going_on
    assert all(p is not None and p > 4 * UNFINISHED_BELOW for p in finished), finished


def test_words_read_in_an_earlier_batch_than_the_prompts_end_read_the_same(chat):
    """A prompt longer than llama.cpp's batch whose words end in one batch and the template's
    tail in the next: the words' row is kept from its own batch."""
    llm, words = chat.llama, "Tell me what happened"
    while True:
        messages = _said(words + "?")
        tokens = chat.prompt_tokens(messages)
        bare = chat.prompt_tokens(_said(words))
        mark = next(i for i, (a, b) in enumerate(zip(tokens, bare, strict=False)) if a != b) - 1
        if 0 <= mark < llm.n_batch <= len(tokens) - 1:
            break
        assert mark < llm.n_batch, "no length put the batch's end after the words"
        words += " and then"
    ends = end_tokens(llm, chat.prompt_tokens(_said("Hi")))
    llm.reset()
    alone = split_probability(llm, tokens, mark, ends)
    llm.reset()
    assert marked_probability(llm, tokens, mark, ends) == pytest.approx(alone, abs=1e-3)
    assert llm.n_tokens == len(tokens)
