"""Reading the next turn's prompt ahead (conversation/prompt.py, `LlamaCppChat.read_ahead`) on the
real smallest model: once a reply has been said, llama.cpp holds the next turn's prompt up to the
user's words, so the next turn evaluates only its own words and the few tokens after them."""

from __future__ import annotations

import io
import threading
from dataclasses import replace

import pytest
from test_conversation import Harness, ScriptedSTT, run
from test_providers import _common_prefix
from wyoming.asr import Transcript
from wyoming.handle import Handled

from assistant.cli.chat import run_chat
from assistant.conversation.events import State, TurnEnded
from assistant.conversation.prompt import NEXT_WORDS, read_ahead
from assistant.conversation.watchdog import Workers
from assistant.history.store import SQLiteHistory
from assistant.providers.registry import create_chat
from assistant.tools.skills import LocalSkills
from assistant.tools.store import ToolStore
from assistant.types import ChatMessage
from assistant.wyoming.handle import Conversations

SYSTEM = ChatMessage("system", "Answer in one short sentence.")


@pytest.fixture(scope="module")
def chat(config, store):
    """The smallest model, its replies short and the same every run (a conversation plays them
    in real time)."""
    short = replace(config.llm, max_tokens=16, temperature=0.0)
    return create_chat(replace(config, llm=short), store)


def _own_tokens(chat, history: list[ChatMessage], words: str) -> int:
    """Tokens of the prompt for `words` after `history` from the user's words on."""
    prompt = chat.prompt_tokens([*history, ChatMessage("user", words)])
    other = chat.prompt_tokens([*history, ChatMessage("user", "Something else entirely.")])
    return len(prompt) - _common_prefix(prompt, other)


def _evaluations(chat, monkeypatch) -> list[int]:
    """From now on, how many tokens each of llama.cpp's evaluations reads (a spy)."""
    sizes: list[int] = []
    evaluate = chat.llama.eval

    def counted(tokens):
        sizes.append(len(tokens))
        return evaluate(tokens)

    monkeypatch.setattr(chat.llama, "eval", counted)
    return sizes


def test_after_reading_ahead_a_turn_reads_only_its_own_words(chat, monkeypatch):
    history = [SYSTEM, ChatMessage("user", "What colour is grass?")]
    answer = "".join(chat.stream_chat(history, temperature=0, max_tokens=16)).strip()
    history.append(ChatMessage("assistant", answer))

    assert read_ahead(chat, [*history, ChatMessage("user", NEXT_WORDS)])
    cached = list(chat.llama._input_ids[: chat.tokens_in_context])
    following = chat.prompt_tokens([*history, ChatMessage("user", "And the sky?")])
    own = _own_tokens(chat, history, "And the sky?")
    assert cached == following[: len(following) - own]  # all of it up to the words, no more

    sizes = _evaluations(chat, monkeypatch)
    "".join(chat.stream_chat([*history, ChatMessage("user", "And the sky?")], max_tokens=1))
    assert sizes[0] == own  # the words and "<|im_end|> <|im_start|>assistant" only


def test_reading_ahead_what_is_cached_already_reads_nothing_new(chat, monkeypatch):
    history = [SYSTEM, ChatMessage("user", "Hello.")]
    read_ahead(chat, history)
    sizes = _evaluations(chat, monkeypatch)
    read_ahead(chat, history)
    assert sum(sizes) <= 1  # at most its last token again (llama-cpp-python's versions differ)


def test_nothing_is_read_ahead_while_a_reply_holds_the_model(chat, monkeypatch):
    """A stream begun and not finished holds the model; its next token can only come on the
    thread the read-ahead would wait on, so the read-ahead gives way at once (it waited: the
    two blocked each other, as when a cancelled reply went on, see test_watchdog)."""
    history = [SYSTEM, ChatMessage("user", "What colour is grass?")]
    stream = chat.stream_chat(history, temperature=0, max_tokens=8)
    first = next(stream)
    sizes = _evaluations(chat, monkeypatch)
    reading = threading.Thread(target=read_ahead, args=(chat, [*history, ChatMessage("user", "x")]))
    reading.start()
    reading.join(10)
    assert not reading.is_alive() and sizes == []
    assert (first + "".join(stream)).strip()  # the reply goes on where it was
    assert read_ahead(chat, [*history, ChatMessage("user", NEXT_WORDS)]) and sizes


def test_a_conversation_reads_the_next_turn_ahead_once_a_reply_is_said(chat, monkeypatch):
    async def scenario():
        h = Harness(ScriptedSTT("What colour is grass?", "And the sky?"), chat)
        await h.say()
        await h.until(lambda: h.of(TurnEnded) and h.conversation.state == State.LISTENING)
        await h.conversation.wait_idle()  # the reply, and the model's work after it
        history = list(h.conversation.history)
        sizes = _evaluations(chat, monkeypatch)
        await h.say()
        await h.until(lambda: len(h.of(TurnEnded)) == 2 and h.conversation.state == State.LISTENING)
        assert [turn.user for turn in h.of(TurnEnded)] == ["What colour is grass?", "And the sky?"]
        assert sizes[0] == _own_tokens(chat, history, "And the sky?")
        await h.conversation.close()

    run(scenario())


def test_the_typed_chat_reads_the_next_turn_ahead_too(chat, monkeypatch):
    sizes = _evaluations(chat, monkeypatch)
    shown = io.StringIO()
    run_chat(chat, SYSTEM.content, stdin=io.StringIO("What colour is grass?\nAnd the sky?\n"),
             stdout=shown)  # fmt: skip
    answer = shown.getvalue().split("assistant> ")[1].strip()
    history = [
        SYSTEM,
        ChatMessage("user", "What colour is grass?"),
        ChatMessage("assistant", answer),
    ]
    read = [n for n in sizes if n > 1]  # prompts (and what was read ahead), not decoded tokens
    assert read[-1] == _own_tokens(chat, history, "And the sky?")


def test_the_wyoming_conversation_agent_reads_the_next_turn_ahead_too(chat, monkeypatch, tmp_path):
    """Home Assistant's Assist pipeline hands each turn over as a transcript; between two turns
    of one conversation the model reads the next prompt ahead (real SQLite history)."""

    async def scenario():
        workers = Workers()
        history = SQLiteHistory.open(tmp_path / "history.db")
        agent = Conversations(chat, workers, system_prompt=SYSTEM.content, history=history,
                              llm_model="tiny")  # fmt: skip
        context = {"conversation_id": "kitchen"}
        first = await agent.answer(Transcript("What colour is grass?", context=context).event())
        await workers.drained("llm")  # the read-ahead, done while nobody waits
        answer = Handled.from_event(first).text
        told = [SYSTEM, ChatMessage("user", "What colour is grass?")]
        sizes = _evaluations(chat, monkeypatch)
        second = await agent.answer(Transcript("And the sky?", context=context).event())
        assert second.type == "handled", second
        own = _own_tokens(chat, [*told, ChatMessage("assistant", answer)], "And the sky?")
        assert sizes[0] == own
        workers.shutdown()
        history.close()

    run(scenario())


@pytest.mark.parametrize("model_tools", [False, True])
def test_the_prompt_read_ahead_offers_the_tools_where_replies_do(tmp_path, model_tools):
    skills = LocalSkills.on(ToolStore.open(tmp_path / "tools.db"), model_tools=model_tools)
    prompt = skills.model_prompt([SYSTEM, ChatMessage("user", NEXT_WORDS)])
    assert prompt[-1] == ChatMessage("user", NEXT_WORDS)
    assert ("<tools>" in prompt[0].content) == model_tools
    assert prompt[0].content.startswith(SYSTEM.content)
