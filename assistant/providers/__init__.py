"""The stage interfaces, shaped like OpenAI's transcription, chat-completion and speech APIs.

Methods are synchronous because the engines are blocking iterators; callers that need
asyncio pull each item on a worker thread. `speak_text` and `close_stream` are the two helpers
every caller of the interfaces shares.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from ..text import speakable_chunks
from ..types import AudioChunk, ChatMessage, Transcription, Voice


@runtime_checkable
class SpeechToText(Protocol):
    def transcribe(
        self,
        audio: AudioChunk,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
    ) -> Transcription:
        """Text of the speech in `audio` (any rate); empty text when there is no speech."""
        ...


@runtime_checkable
class ChatModel(Protocol):
    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> Iterator[str]:
        """Text deltas of the reply. Closing the iterator stops decoding."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    def voices(self) -> list[Voice]:
        """The voices `synthesize` accepts."""
        ...

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        instructions: str | None = None,
    ) -> Iterator[AudioChunk]:
        """Audio for `text`, one speakable chunk (see `speak_text` for longer text)."""
        ...


def close_stream(stream: Iterator) -> None:
    """Close a provider's stream if it can be closed; for a chat stream that stops decoding."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


WARM_UP_TEXT = {"en": "Hello there.", "zh": "你好。"}  # what a voice says once, at load


def speak_text(
    tts: TextToSpeech,
    text: str,
    *,
    voice: str | None = None,
    speed: float = 1.0,
    instructions: str | None = None,
) -> Iterator[AudioChunk]:
    """Audio for any text: cleaned and cut into bounded speakable chunks, each synthesized as
    soon as the one before it is out."""
    for chunk in speakable_chunks(text):
        yield from tts.synthesize(chunk, voice=voice, speed=speed, instructions=instructions)


__all__ = [
    "WARM_UP_TEXT",
    "ChatModel",
    "SpeechToText",
    "TextToSpeech",
    "close_stream",
    "speak_text",
]
