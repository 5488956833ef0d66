"""One voice turn from a file (`assistant reply`): the question's audio in, the spoken answer
out, made by the same `Reply` as the hands-free engine's answers."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..providers import ChatModel, SpeechToText, TextToSpeech
from ..types import AudioChunk, ChatMessage
from .events import ConversationEvent, TurnEnded, TurnTimings
from .reply import Reply, ReplySettings, Stages, Workers
from .sinks import CollectingSink
from .skills import Skills


@dataclass(frozen=True)
class TurnResult:
    heard: str  # the transcript; empty when no speech was heard
    record: TurnEnded | None  # None when there was nothing to answer
    audio: AudioChunk | None  # the spoken reply; None when nothing was spoken


def voice_turn(
    audio: AudioChunk,
    stt: SpeechToText,
    chat: ChatModel,
    tts: TextToSpeech,
    *,
    history: Sequence[ChatMessage] = (),
    settings: ReplySettings | None = None,
    on_event: Callable[[ConversationEvent], None] = lambda event: None,
    skills: Skills | None = None,
) -> TurnResult:
    """Answer `audio` aloud. Silence gives an empty transcript and no model call; an engine's
    failure is raised."""
    sink = CollectingSink()
    workers = Workers()
    now = time.monotonic()  # the file is whole: the user's speech has ended
    reply = Reply(
        Stages(stt, chat, tts, skills), workers, audio,
        history=list(history), sink=sink, settings=settings or ReplySettings(),
        timings=TurnTimings(speech_end=now, endpoint=now), on_event=on_event,
    )  # fmt: skip
    try:
        record = reply.run_blocking()
    finally:
        workers.shutdown(wait=True)
    if reply.failure is not None:
        raise reply.failure
    spoken = sink.audio() if sink.chunks else None
    return TurnResult(reply.heard_text, record, spoken)
