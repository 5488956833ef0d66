"""The assistant's tools offered to the model in a reply (tools.model_tools): a call is run and
said in the tools' words, a malformed call is retried once and then apologised for, words stream
as they come, and JSON is never said. A scripted model: a real one cannot be made to fail on cue,
and how well the real ones call the tools is measured by `assistant bench --tools`."""

from __future__ import annotations

from collections.abc import Iterator

from assistant.tools import ToolStore
from assistant.tools.builtin import builtin_tools
from assistant.tools.model_tools import stream_with_tools
from assistant.types import ChatMessage

QUESTION = [ChatMessage("system", "Be brief."), ChatMessage("user", "Eggs, four minutes please.")]


class ScriptedChat:
    def __init__(self, *replies: str) -> None:
        self.replies, self.prompts, self.closed = list(replies), [], 0

    def stream_chat(self, messages, **options) -> Iterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        try:
            yield from (reply[i : i + 3] for i in range(0, len(reply), 3))
        finally:
            self.closed += 1


def said(tmp_path, *replies: str) -> tuple[str, ScriptedChat, ToolStore]:
    store = ToolStore.open(tmp_path / "tools.db")
    chat = ScriptedChat(*replies)
    text = "".join(stream_with_tools(builtin_tools(store), chat, QUESTION, "en"))
    return text, chat, store


def test_a_call_is_run_and_said_in_words(tmp_path):
    text, chat, store = said(tmp_path, '<tool_call>\n{"name": "start_timer", "arguments": '
                             '{"seconds": 240, "label": "eggs"}}\n</tool_call>')  # fmt: skip
    assert text == "OK, eggs timer set for 4 minutes."
    assert [t.label for t in store.timers()] == ["eggs"]
    assert "<tools>" in chat.prompts[0][0].content and "start_timer" in chat.prompts[0][0].content


def test_a_malformed_call_is_retried_once_then_apologised_for(tmp_path):
    text, chat, store = said(tmp_path, '{"name": "start_timer", "arguments": {"seconds": "2',
                             '{"name": "start_timer", "arguments": {"seconds": 240}}')  # fmt: skip
    assert text == "OK, timer set for 4 minutes."
    assert "not valid" in chat.prompts[1][-1].content
    text, chat, store = said(tmp_path / "again", '{"name": "boil_eggs", "arguments": {}}',
                             '{"name": "start_timer", "arguments": {"seconds": -5}}')  # fmt: skip
    assert text == "Sorry, I couldn't do that." and store.timers() == []
    assert chat.closed == 2


def test_words_are_said_as_they_come(tmp_path):
    text, chat, _ = said(tmp_path, "Four minutes is right for soft eggs.")
    assert text == "Four minutes is right for soft eggs." and len(chat.prompts) == 1
