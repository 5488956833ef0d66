"""One voice turn: transcribe the user, stream the model's reply, speak it sentence by sentence."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from .audio import concat
from .providers import ChatModel, SpeechToText, TextToSpeech
from .text import speakable_chunks
from .types import AudioChunk, ChatMessage, Transcription


@dataclass(frozen=True)
class TurnResult:
    transcript: Transcription
    reply: str  # what the model wrote; empty when no speech was heard
    audio: AudioChunk | None  # the spoken reply; None when there was nothing to answer


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
    transcript = stt.transcribe(audio)
    on_transcript(transcript)
    if not transcript.text:
        return TurnResult(transcript, "", None)
    deltas: list[str] = []
    stream = chat.stream_chat([*history, ChatMessage("user", transcript.text)])
    chunks = speak_stream(_recording(stream, deltas), tts, speech)
    spoken = concat(chunks)
    return TurnResult(transcript, "".join(deltas).strip(), spoken if spoken.pcm else None)


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
        close = getattr(stream, "close", None)
        if close:
            close()
