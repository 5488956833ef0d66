"""Saying "I don't know" instead of inventing (issue #11): with the setting on, a
conversation's prompt begins with example turns where the assistant, asked what only the user
could know, says it does not know; they sit where llama.cpp's cached prefix holds, stay out of
the history, are off by default, and the real default-tier model then refuses to invent what it
was never told, yet still answers from what it was told."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_chinese import Listening

from assistant.bench.questions import QUESTIONS, score
from assistant.config import load_config
from assistant.conversation.events import TurnTimings
from assistant.conversation.examples import (
    COPIES_EXAMPLES,
    DONT_KNOW_EXAMPLES,
    wants_examples,
    with_examples,
)
from assistant.conversation.options import conversation_options
from assistant.conversation.reply import Reply, ReplySettings, Stages, Workers
from assistant.providers.registry import create_chat
from assistant.types import ChatMessage

SYSTEM = ChatMessage("system", "You are a helpful voice assistant.")
QUESTION = {q.id: q for q in QUESTIONS}
EXAMPLES = ReplySettings(dont_know_examples=True)


def test_the_examples_follow_the_first_system_message_so_the_prompt_begins_the_same_each_turn():
    first = [SYSTEM, ChatMessage("user", "My name is Ada.")]
    told = with_examples(first)
    assert told == [SYSTEM, *DONT_KNOW_EXAMPLES, first[1]]
    later = [*first, ChatMessage("assistant", "Hello Ada."), ChatMessage("user", "Who am I?")]
    assert with_examples(later)[: len(told)] == told  # the cached prefix holds
    question = ChatMessage("user", "Hi.")
    assert with_examples([question]) == [*DONT_KNOW_EXAMPLES, question]
    # an English and a Chinese refusal, each one the quality benchmark counts as a refusal
    answers = [m.content for m in DONT_KNOW_EXAMPLES if m.role == "assistant"]
    assert score(QUESTION["en-mother"], answers[0]).correct
    assert score(QUESTION["zh-pin"], answers[1]).correct


def test_the_setting_turns_them_on_and_a_model_that_copies_them_gets_none(config, default_tier):
    # off by default: they also refuse ordinary requests ("Who wrote Romeo and Juliet?")
    assert not conversation_options(default_tier).reply_settings().dont_know_examples
    on = load_config(overrides={"conversation.dont_know_examples": "true"})
    assert on.conversation.dont_know_examples is True
    assert conversation_options(on).reply_settings().dont_know_examples
    # the tiny tier's SmolLM2-135M answered English questions with the Chinese example
    tiny_on = replace(config, conversation=replace(config.conversation, dont_know_examples=True))
    assert config.llm.model in COPIES_EXAMPLES and not wants_examples(tiny_on)
    assert not ReplySettings().dont_know_examples  # a caller that does not read the config


def _answer(chat, history: list[ChatMessage], said: str, settings: ReplySettings):
    workers = Workers()
    try:
        reply = Reply(
            Stages(None, chat, None), workers, said, history=history, sink=None,
            settings=settings, timings=TurnTimings(),
        )  # fmt: skip
        record = reply.run_blocking()
    finally:
        workers.shutdown()
    assert reply.failure is None and record is not None, reply.failure
    return record


@pytest.fixture(scope="module")
def default_chat(default_tier, store):
    """The default tier's model, greedy (as the quality benchmark asks it)."""
    from dataclasses import replace

    config = replace(default_tier, llm=replace(default_tier.llm, temperature=0.0, max_tokens=40))
    return create_chat(config, store)


def test_the_model_gets_the_examples_and_the_history_keeps_only_what_was_said(default_chat):
    model = Listening(default_chat)
    question = QUESTION["en-mother"]
    record = _answer(model, [SYSTEM], question.text, EXAMPLES)
    assert model.asked[0] == [SYSTEM, *DONT_KNOW_EXAMPLES, ChatMessage("user", question.text)]
    assert record.messages()[0] == ChatMessage("user", question.text)  # no example in the history
    # greedy, the default tier says it does not know (without the examples it named someone)
    assert score(question, record.generated).correct, record.generated
    _answer(model, [SYSTEM], question.text, ReplySettings())
    assert model.asked[1] == [SYSTEM, ChatMessage("user", question.text)]


def test_what_the_user_said_is_still_answered(default_chat):
    history = [SYSTEM]
    told = _answer(default_chat, history, "I had pancakes for breakfast.", EXAMPLES)
    history.extend(told.messages())
    record = _answer(default_chat, history, "What did I have for breakfast today?", EXAMPLES)
    assert "pancake" in record.generated.lower(), record.generated
