"""Save one conversation's turns as each one finishes (for chat, reply, talk and the server)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Literal

from ..audio.codec import concat
from ..conversation.events import ConversationEvent, ConversationReset, TurnEnded, UserSaid
from ..types import ChatMessage
from .keep_audio import NO_AUDIO, AudioKeeping
from .records import EMPTY, History, TurnRecord


class Recorder:
    """Saves one conversation's turns as each one finishes; the conversation begins at its
    first saved turn, so a session where nothing was said leaves nothing behind."""

    def __init__(
        self,
        history: History,
        *,
        stt_model: str = "",
        llm_model: str = "",
        voice: str = "",
        meta: Mapping[str, str] = EMPTY,
    ) -> None:
        self.history = history
        self.stt_model, self.llm_model, self.voice = stt_model, llm_model, voice
        self.meta = meta
        self.conversation_id: int | None = None
        self.context: list[ChatMessage] = []  # the earlier turns of a resumed conversation

    def resume(self, conversation_id: int | None = None) -> list[ChatMessage]:
        """Continue `conversation_id` (default: the last one); its context, [] if there is none."""
        if conversation_id is None:
            conversation_id = self.history.last_conversation_id()
            if conversation_id is None:
                return []
        self.context = self.history.context_messages(conversation_id)
        self.conversation_id = conversation_id
        return self.context

    def new_conversation(self) -> None:
        self.conversation_id = None
        self.context = []

    def record(
        self,
        role: Literal["user", "assistant"],
        text: str,
        *,
        generated: str | None = None,
        interrupted: bool = False,
        started_at: float | None = None,
        ended_at: float | None = None,
        latencies: Mapping[str, float] = EMPTY,
    ) -> int:
        """Save a finished turn now; its id, or 0 when it was not saved."""
        if self.conversation_id is None:
            self.conversation_id = self.history.start_conversation(meta=self.meta) or None
            if self.conversation_id is None:
                return 0
        now = time.time()
        user = role == "user"
        return self.history.add_turn(
            self.conversation_id,
            TurnRecord(
                role,
                text,
                generated="" if user else (text if generated is None else generated),
                interrupted=interrupted,
                started_at=now if started_at is None else started_at,
                ended_at=now if ended_at is None else ended_at,
                latencies=dict(latencies),
                stt_model=self.stt_model if user else "",
                llm_model="" if user else self.llm_model,
                voice="" if user else self.voice,
            ),
        )


def recording(recorder: Recorder, keeper: AudioKeeping = NO_AUDIO):
    """An event listener for a voice conversation that saves each turn as it ends.

    The user's words are saved as soon as they are transcribed; the assistant's turn when it
    ends, with what was generated, what was actually heard, and the stage latencies. Returns
    the id of the assistant's turn it saved (for feedback on it), else None.
    """

    def on_event(event: ConversationEvent) -> int | None:
        if isinstance(event, UserSaid):
            turn = recorder.record("user", event.text, started_at=event.ended_at,
                                   ended_at=event.ended_at)  # fmt: skip
            if event.audio is not None:
                keeper.keep(recorder.conversation_id or 0, turn, "user", event.audio)
        elif isinstance(event, TurnEnded) and (event.spoken or event.generated):
            turn = recorder.record(
                "assistant", event.spoken, generated=event.generated,
                interrupted=event.interrupted, started_at=event.started_at,
                ended_at=event.ended_at, latencies=event.timings.latencies_ms(),
            )  # fmt: skip
            if event.audio:
                keeper.keep(recorder.conversation_id or 0, turn, "assistant", concat(event.audio))
            return turn or None
        elif isinstance(event, ConversationReset):
            recorder.new_conversation()
        return None

    return on_event
