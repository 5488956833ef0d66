"""The conversation agent: a `transcript` (what the user said, as Home Assistant's Assist
pipeline hands it over) answered with `handled` and the assistant's reply text. Each
`context.conversation_id` keeps its own conversation (Home Assistant opens a connection per
request, so they live in the server, not in a connection); every answer is made by the one
`Reply`, and saved in the history like the browser's conversations."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from wyoming.event import Event
from wyoming.handle import Handled, NotHandled

from ..conversation.events import TurnTimings
from ..conversation.reply import Reply, ReplySettings, Stages, Workers
from ..history.recorder import Recorder, recording
from ..history.records import History
from ..providers import ChatModel
from ..types import ChatMessage
from .protocol import ProtocolError
from .protocol import field as checked

MAX_CONVERSATIONS = 64  # kept in memory; the least recently used goes first
MAX_TEXT_CHARS = 4000  # one transcript (as the browser's typed turn)
MAX_ID_CHARS = 200  # a conversation id


@dataclass
class _Conversation:
    messages: list[ChatMessage]  # the system prompt, then what was said and answered
    recorder: Recorder
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one answer at a time


class Conversations:
    """The conversations of every client, by id, and the answers to their transcripts."""

    def __init__(
        self,
        chat: ChatModel | None,
        workers: Workers,
        *,
        system_prompt: str,
        history: History,
        llm_model: str,
        settings: ReplySettings | None = None,
    ) -> None:
        self._chat, self._workers, self._settings = chat, workers, settings or ReplySettings()
        self._system_prompt, self._history, self._llm_model = system_prompt, history, llm_model
        self._open: OrderedDict[str, _Conversation] = OrderedDict()

    async def answer(self, event: Event) -> Event:
        """`transcript` -> `handled` with the reply (or `not-handled` when the model failed)."""
        if self._chat is None:
            raise ProtocolError("this server has no language model", code="no-handle")
        text = checked(event.data, "text", str, "transcript").strip()
        if not text or len(text) > MAX_TEXT_CHARS:
            raise ProtocolError(f"transcript needs 1 to {MAX_TEXT_CHARS} characters of text")
        context = checked(event.data, "context", dict, "transcript", required=False) or {}
        conversation_id = _conversation_id(context)
        conversation = self._conversation(conversation_id)
        reply_context = {**context, "conversation_id": conversation_id}
        async with conversation.lock:
            now = time.monotonic()
            reply = Reply(
                Stages(None, self._chat, None), self._workers, text,
                history=conversation.messages, sink=None, settings=self._settings,
                timings=TurnTimings(speech_end=now, endpoint=now),
                on_event=recording(conversation.recorder),
            )  # fmt: skip
            record = await reply.run()
        if reply.failure is not None or record is None:
            why = reply.failure or "nothing to answer"
            return NotHandled(f"the assistant could not answer: {why}", reply_context).event()
        reply.remember_in(conversation.messages)  # and the model reads the next prompt ahead
        return Handled(record.generated, reply_context).event()

    def _conversation(self, conversation_id: str) -> _Conversation:
        conversation = self._open.get(conversation_id)
        if conversation is None:
            recorder = Recorder(self._history, llm_model=self._llm_model,
                                meta={"source": "wyoming"})  # fmt: skip
            messages = [ChatMessage("system", self._system_prompt)]
            conversation = self._open[conversation_id] = _Conversation(messages, recorder)
            while len(self._open) > MAX_CONVERSATIONS:
                self._open.popitem(last=False)
        self._open.move_to_end(conversation_id)
        return conversation


def _conversation_id(context: dict[str, Any]) -> str:
    """The client's conversation id, or a new one (sent back in `handled`'s context)."""
    given = context.get("conversation_id")
    if given is None:
        return uuid.uuid4().hex
    if not isinstance(given, str | int) or isinstance(given, bool):
        raise ProtocolError("context.conversation_id must be a string")
    given = str(given)
    if not given or len(given) > MAX_ID_CHARS:
        raise ProtocolError(f"context.conversation_id must be 1 to {MAX_ID_CHARS} characters")
    return given
