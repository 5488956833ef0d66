"""The stage interfaces, shaped like OpenAI's transcription, chat-completion and speech APIs.

Methods are synchronous because the engines are blocking iterators; callers that need
asyncio pull each item on a worker thread. `speak_text`, `close_stream` and `turn_transcriber`
are the helpers the callers of the interfaces share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol, runtime_checkable

from ..errors import UnknownNameError
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


class TranscriptionStopped(Exception):
    """A transcription given up part way: its caller no longer wants it."""


@runtime_checkable
class TurnSpeechToText(SpeechToText, Protocol):
    """A speech-to-text engine with a faster way to hear one live turn (conversation.reply)."""

    def transcribe_turn(
        self, audio: AudioChunk, stopped: Callable[[], bool], *, language: str | None = None
    ) -> Transcription:
        """`transcribe` for a live turn: no segment times are worked out (a turn needs only its
        words), and it raises TranscriptionStopped at its next step once `stopped()` holds (a
        reply begun at a pause and dropped frees the engine for the next one sooner)."""
        ...


def turn_transcriber(
    stt: SpeechToText, language: str | None, stopped: Callable[[], bool] = lambda: False
) -> Callable[[AudioChunk], Transcription]:
    """How to hear one live turn (a conversation's, a Wyoming satellite's) in `language` (None:
    as heard): the engine's own way where it has one, given up once `stopped()` holds; else
    `transcribe`."""
    if isinstance(stt, TurnSpeechToText):
        return partial(stt.transcribe_turn, stopped=stopped, language=language)
    return partial(stt.transcribe, language=language)


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
class ReadsAhead(ChatModel, Protocol):
    """A chat model that keeps what it has read (llama.cpp's cache), so it can read the start of
    its next prompt before it is asked."""

    def read_ahead(self, messages: Sequence[ChatMessage]) -> None:
        """Read the prompt of `messages` up to the words of the last one (a user message whose
        words are not known yet): a request that begins so then reads only what follows."""
        ...


@runtime_checkable
class ReadsTurnEnds(ChatModel, Protocol):
    """A chat model that, reading a prompt, can say how likely the user's words so far end their
    turn (llama.cpp: the probability of the message's end after them)."""

    def turn_end_probability(self, messages: Sequence[ChatMessage]) -> float | None:
        """Read the prompt of `messages` (a request with them then begins at once) and return how
        likely the last (user) message ends where its words end; None when it cannot say."""
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


@dataclass(frozen=True)
class Usage:
    """One chat reply's exact token counts, as OpenAI's `usage` reports them."""

    prompt_tokens: int  # the rendered prompt (chat template included)
    completion_tokens: int  # tokens the model wrote (a stop sequence's included)
    finish_reason: str  # "stop": the model ended (or met a stop sequence); "length": max_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatStream:
    """A chat reply's text deltas (closing it stops decoding) and, once they have all been read,
    the reply's `usage` (None before that, or when the engine cannot count)."""

    def __init__(self, deltas: Callable[[Callable[[Usage], None]], Iterator[str]]) -> None:
        """`deltas(report)` makes the delta iterator, which calls `report` as it ends."""
        self.usage: Usage | None = None
        self._deltas = deltas(self._report)

    def _report(self, usage: Usage) -> None:
        self.usage = usage

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        close_stream(self._deltas)


def usage_of(stream: Iterator[str]) -> Usage | None:
    """A finished chat stream's usage; None from an engine that does not count."""
    return getattr(stream, "usage", None)


def close_stream(stream: Iterator) -> None:
    """Close a provider's stream if it can be closed; for a chat stream that stops decoding."""
    close = getattr(stream, "close", None)
    if close is not None:
        close()


WARM_UP_TEXT = {"en": "Hello there.", "zh": "你好。"}  # what a voice says once, at load


def warm_up_text(language: str) -> str:
    """What a voice says once at load in `language` (English for a language with none)."""
    return WARM_UP_TEXT.get(language, WARM_UP_TEXT["en"])


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


def speaks_by_clause(tts: TextToSpeech | None, voice: str | None) -> bool:
    """True when `voice` (None: the default) is one whose engine makes each call's audio at once
    and slowly (`speaks_by_clause`, Kokoro): its chunks then end at clauses too."""
    engine_of = getattr(tts, "engine_of", None)
    try:
        engine = engine_of(voice or tts.default_voice) if engine_of is not None else tts
    except UnknownNameError:
        return False
    return bool(getattr(engine, "speaks_by_clause", False))


__all__ = [
    "WARM_UP_TEXT",
    "ChatModel",
    "ChatStream",
    "SpeechToText",
    "TextToSpeech",
    "TranscriptionStopped",
    "TurnSpeechToText",
    "Usage",
    "close_stream",
    "speak_text",
    "speaks_by_clause",
    "usage_of",
    "warm_up_text",
]
