"""Any OpenAI-compatible endpoint as a stage: transcriptions, chat completions, speech.

For a GPU box on the LAN, vLLM, llama.cpp's server, or another `assistant serve`. Each
request has a timeout; 429 and 5xx answers are retried with exponential backoff (bounded);
an endpoint that cannot be reached is one clear error, not a traceback.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import numpy as np

from ..audio.codec import decode_bytes, riff_chunks, wav_bytes
from ..config import Config
from ..errors import UsageError
from ..types import AudioChunk, ChatMessage, Segment, Transcription, Voice
from . import ChatStream, Usage
from .openai_api import LANGUAGE_CODES, OPENAI_PCM_RATE, OPENAI_VOICES, check_speed
from .openai_client import EndpointClient, EndpointError, endpoint_of
from .store import ModelStore

CHUNK_SECONDS = 0.25  # speech is handed on in pieces of about this length as it arrives


class OpenAICompatSTT:
    """Speech-to-text through POST {base_url}/audio/transcriptions."""

    def __init__(self, client: EndpointClient, model: str, *, language: str | None = None) -> None:
        self._client = client
        self._model = model
        self._language = language
        self._verbose = True  # ask for segments until the endpoint says it cannot give them

    def transcribe(
        self,
        audio: AudioChunk,
        *,
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
    ) -> Transcription:
        fields = {"model": self._model}
        if language or self._language:
            fields["language"] = language or self._language
        if prompt:
            fields["prompt"] = prompt
        if temperature is not None:
            fields["temperature"] = str(temperature)
        upload = {"file": ("audio.wav", wav_bytes(audio), "audio/wav")}
        try:
            payload = self._post(fields, upload)
        except EndpointError as error:
            if not (self._verbose and error.status == 400 and "response_format" in str(error)):
                raise
            self._verbose = False  # e.g. gpt-4o-transcribe: json only
            payload = self._post(fields, upload)
        segments = tuple(
            Segment(
                float(s.get("start", 0)), float(s.get("end", 0)), str(s.get("text", "")).strip()
            )
            for s in payload.get("segments") or ()
            if str(s.get("text", "")).strip()
        )
        return Transcription(
            text=str(payload.get("text", "")).strip(),
            language=_language_code(payload.get("language")) or language or self._language,
            duration=float(payload.get("duration") or audio.seconds),
            segments=segments,
        )

    def _post(self, fields: dict[str, str], upload: dict) -> dict[str, Any]:
        data = {**fields, "response_format": "verbose_json" if self._verbose else "json"}
        response = self._client.open("/audio/transcriptions", data=data, files=upload)
        try:
            content = response.read()
        except httpx.HTTPError as error:
            raise self._client.transport_error(error) from None
        finally:
            response.close()
        try:
            payload = json.loads(content)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise EndpointError(
                f"the speech-to-text endpoint {self._client.url} did not answer a JSON object"
            )
        return payload


def _language_code(language: Any) -> str | None:
    """ "english" -> "en"; a code, or a name not in the table, is kept as it is."""
    if not isinstance(language, str) or not language:
        return None
    return LANGUAGE_CODES.get(language.lower(), language)


class OpenAICompatChat:
    """Chat through POST {base_url}/chat/completions, streamed as server-sent events."""

    def __init__(
        self, client: EndpointClient, model: str, *, max_tokens: int, temperature: float
    ) -> None:
        self._client = client
        self._model = model
        self._max_tokens = max_tokens
        self._temperature = temperature

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatStream:
        if not messages:
            raise UsageError("a chat needs at least one message")
        limit = max_tokens or self._max_tokens
        if limit < 1:
            raise UsageError(f"max_tokens must be at least 1, not {max_tokens}")
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},  # the server's own token counts
            "max_tokens": limit,
            "temperature": self._temperature if temperature is None else temperature,
        }
        if stop:
            body["stop"] = list(stop)
        return ChatStream(lambda report: self._stream(body, report))

    def _stream(self, body: dict[str, Any], report: Callable[[Usage], None]) -> Iterator[str]:
        response = self._client.open("/chat/completions", json=body)
        usage, finish = None, "stop"
        try:  # closing this generator closes the response: the server stops generating
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                event = json.loads(data)
                usage = event.get("usage") or usage  # the last event, when the server counts
                if event.get("error"):
                    raise EndpointError(
                        f"the chat endpoint {self._client.url} failed mid-reply: "
                        f"{_event_error(event['error'])}"
                    )
                for choice in event.get("choices") or ():
                    finish = choice.get("finish_reason") or finish
                    if content := (choice.get("delta") or {}).get("content"):
                        yield content
            if isinstance(usage, dict):  # passed through as the server counted
                report(Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                             finish))  # fmt: skip
        except httpx.HTTPError as error:
            raise self._client.transport_error(error) from None
        except ValueError:
            raise EndpointError(
                f"the chat endpoint {self._client.url} sent an event that is not JSON"
            ) from None
        finally:
            response.close()


def _event_error(error: Any) -> str:
    return str(error.get("message", error)) if isinstance(error, dict) else str(error)


class OpenAICompatTTS:
    """Text-to-speech through POST {base_url}/audio/speech, read as a WAV stream."""

    def __init__(self, client: EndpointClient, model: str, *, voice: str) -> None:
        self._client = client
        self._model = model
        self._voice = voice

    def voices(self) -> list[Voice]:
        names = [self._voice, *(v for v in OPENAI_VOICES if v != self._voice)]
        return [Voice(id=name, language="", sample_rate=OPENAI_PCM_RATE) for name in names]

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        speed: float = 1.0,
        instructions: str | None = None,
    ) -> Iterator[AudioChunk]:
        if not text or not text.strip():
            raise UsageError("there is no text to speak: the input is empty")
        check_speed(speed)
        body: dict[str, Any] = {
            "model": self._model,
            "voice": voice or self._voice,
            "response_format": "wav",
        }
        if speed != 1.0:
            body["speed"] = speed
        if instructions:
            body["instructions"] = instructions
        return self._synthesize(text, body)

    def _synthesize(self, text: str, body: dict[str, Any]) -> Iterator[AudioChunk]:
        response = self._client.open("/audio/speech", json={**body, "input": text})
        try:
            yield from _wav_chunks(response.iter_bytes(), self._client)
        except httpx.HTTPError as error:
            raise self._client.transport_error(error) from None
        finally:
            response.close()


def _wav_chunks(stream: Iterator[bytes], client: EndpointClient) -> Iterator[AudioChunk]:
    """Mono 16-bit chunks of a streamed WAV (sizes may say "until the end"), as they arrive.
    An answer in another format (mp3...) is decoded whole at the end."""
    buffer = bytearray()
    layout: tuple[int, int, int] | None = None  # (rate, channels, data offset)
    other_format = False
    for data in stream:
        buffer += data
        if layout is None and not other_format:
            if len(buffer) >= 12 and buffer[:4] != b"RIFF":
                other_format = True
                continue
            layout = _wav_layout(bytes(buffer), client)
            if layout is None:
                continue
            del buffer[: layout[2]]
        if layout is not None:
            rate, channels, _ = layout
            frame = 2 * channels
            ready = len(buffer) - len(buffer) % frame
            if ready >= CHUNK_SECONDS * rate * frame:
                yield _mono(bytes(buffer[:ready]), rate, channels)
                del buffer[:ready]
    if other_format:
        yield decode_bytes(bytes(buffer), name=f"the audio from {client.url}")
        return
    if layout is None:
        raise EndpointError(f"the {client.kind} endpoint {client.url} did not answer WAV audio")
    rate, channels, _ = layout
    ready = len(buffer) - len(buffer) % (2 * channels)
    if ready:
        yield _mono(bytes(buffer[:ready]), rate, channels)


def _wav_layout(head: bytes, client: EndpointClient) -> tuple[int, int, int] | None:
    """(rate, channels, offset of the samples) once the header is complete, else None."""
    if len(head) < 12:
        return None
    if head[8:12] != b"WAVE":
        raise EndpointError(
            f"the {client.kind} endpoint {client.url} answered a RIFF that is not WAV"
        )
    fmt = None
    for chunk_id, size, offset in riff_chunks(head):
        if chunk_id == b"data":
            if fmt is None:
                raise EndpointError(f"the WAV from {client.url} has no fmt chunk")
            return fmt[0], fmt[1], offset
        if offset + size > len(head):
            return None
        if chunk_id == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, offset)
            if bits != 16:
                raise EndpointError(f"the WAV from {client.url} has {bits}-bit samples, not 16")
            fmt = (rate, channels)
    return None


def _mono(pcm: bytes, rate: int, channels: int) -> AudioChunk:
    if channels == 1:
        return AudioChunk(pcm, rate)
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return AudioChunk(samples.astype("<i2").tobytes(), rate)


def create_stt(config: Config, store: ModelStore) -> OpenAICompatSTT:
    client = EndpointClient(endpoint_of(config.stt, "stt"), "speech-to-text", "stt")
    model = config.stt.model or "whisper-1"  # empty: the endpoint's default (OpenAI's name)
    return OpenAICompatSTT(client, model, language=config.stt.language or None)


def create_chat(config: Config, store: ModelStore) -> OpenAICompatChat:
    llm = config.llm
    client = EndpointClient(endpoint_of(llm, "llm"), "chat", "llm")
    return OpenAICompatChat(
        client,
        llm.model or "gpt-4o-mini",  # empty: the endpoint's default (OpenAI's name)
        max_tokens=llm.max_tokens,
        temperature=llm.temperature,
    )


def create_tts(config: Config, store: ModelStore) -> OpenAICompatTTS:
    client = EndpointClient(endpoint_of(config.tts, "tts"), "text-to-speech", "tts")
    voice = config.tts.voice or OPENAI_VOICES[0]  # empty: the endpoint's default (alloy)
    return OpenAICompatTTS(client, config.tts.model or "tts-1", voice=voice)
