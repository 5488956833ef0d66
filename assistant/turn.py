"""One voice turn: transcribe the user, stream the model's reply, speak it sentence by sentence."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .audio import concat
from .providers import ChatModel, SpeechToText, TextToSpeech, close_stream
from .text import speakable_chunks
from .types import AudioChunk, ChatMessage, Transcription


@dataclass(frozen=True)
class TurnResult:
    transcript: Transcription
    reply: str  # what the model wrote; empty when no speech was heard
    audio: AudioChunk | None  # the spoken reply; None when there was nothing to answer
    # ms since the end of the user's speech: stt, first_token, first_audio, total
    latencies: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SpeechOptions:
    voice: str | None = None
    speed: float = 1.0


def voice_turn(
    audio: AudioChunk,
    stt: SpeechToText,
    chat: ChatModel,
    tts: TextToSpeech,
    *,
    history: Sequence[ChatMessage] = (),
    speech: SpeechOptions = SpeechOptions(),
    on_transcript: Callable[[Transcription], None] = lambda t: None,
) -> TurnResult:
    """Answer `audio` aloud. Silence gives an empty transcript and no model call."""
    started = time.perf_counter()
    transcript = stt.transcribe(audio)
    latencies = {"stt": _ms_since(started)}
    on_transcript(transcript)
    if not transcript.text:
        return TurnResult(transcript, "", None, latencies)
    deltas: list[str] = []
    stream = chat.stream_chat([*history, ChatMessage("user", transcript.text)])
    stream = _timed(stream, latencies, "first_token", started)
    chunks = _timed(
        speak_stream(_recording(stream, deltas), tts, speech), latencies, "first_audio", started
    )
    spoken = concat(chunks)
    latencies["total"] = _ms_since(started)
    return TurnResult(
        transcript, "".join(deltas).strip(), spoken if spoken.pcm else None, latencies
    )


def speak_stream(
    deltas: Iterator[str], tts: TextToSpeech, speech: SpeechOptions
) -> Iterator[AudioChunk]:
    """Audio for a stream of text deltas, each sentence synthesized as soon as it is complete."""
    for sentence in speakable_chunks(deltas):
        yield from tts.synthesize(sentence, voice=speech.voice, speed=speech.speed)


def _recording(stream: Iterator[str], into: list[str]) -> Iterator[str]:
    try:
        for delta in stream:
            into.append(delta)
            yield delta
    finally:
        close_stream(stream)


T = TypeVar("T")


def _timed(items: Iterator[T], latencies: dict[str, float], key: str, since: float) -> Iterator[T]:
    """`items`, noting in latencies[key] the ms from `since` to the first item."""
    try:
        for item in items:
            latencies.setdefault(key, _ms_since(since))
            yield item
    finally:
        close_stream(items)


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
