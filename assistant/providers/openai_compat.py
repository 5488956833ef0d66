"""Any OpenAI-compatible endpoint as a stage: transcriptions, chat completions, speech.

For a GPU box on the LAN, vLLM, llama.cpp's server, or another `assistant serve`. Each
request has a timeout; 429 and 5xx answers are retried with exponential backoff (bounded);
an endpoint that cannot be reached is one clear error, not a traceback.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import struct
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np

from ..audio import decode_bytes, wav_bytes
from ..config import Config
from ..errors import AssistantError, UsageError
from ..models import ModelStore
from ..text import speakable_chunks
from ..types import AudioChunk, ChatMessage, Segment, Transcription, Voice

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_SPEECH_INPUT = 4096  # characters per speech request, as OpenAI's endpoint takes
OPENAI_VOICES = ("alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer")
OPENAI_PCM_RATE = 24000  # Hz, what OpenAI's voices speak at
MIN_SPEED, MAX_SPEED = 0.25, 4.0
LANGUAGE_NAMES = {  # OpenAI's verbose_json names the language
    "en": "english",
    "de": "german",
    "es": "spanish",
    "fr": "french",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
    "uk": "ukrainian",
    "zh": "chinese",
}
_LANGUAGE_CODES = {name: code for code, name in LANGUAGE_NAMES.items()}
CHUNK_SECONDS = 0.25  # speech is handed on in pieces of about this length as it arrives


class EndpointError(AssistantError):
    """An OpenAI-compatible endpoint that cannot be reached, timed out, or refused a request."""

    remote = True  # the server answers 502 when a stage it forwards to fails

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Endpoint:
    """Where a stage's endpoint is and how to talk to it."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1 (a URL with no path gets /v1)
    api_key: str = ""
    timeout_s: float = 60.0  # per request (connect, and each read)
    max_retries: int = 3  # for 429 and 5xx answers
    backoff_s: float = 0.5  # first wait; doubled each retry
    max_backoff_s: float = 8.0


class EndpointClient:
    """One endpoint's HTTP client for one kind of stage."""

    def __init__(self, endpoint: Endpoint, kind: str, section: str) -> None:
        url = endpoint.base_url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"{section}.base_url must be an http(s) URL such as "
                f"http://127.0.0.1:8000/v1, not {endpoint.base_url!r}"
            )
        self.url = url if parts.path else f"{url}/v1"
        self.endpoint = endpoint
        self.kind = kind
        self.section = section
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(endpoint.timeout_s, connect=min(endpoint.timeout_s, 10.0)),
        )

    def close(self) -> None:
        self._http.close()

    def open(self, path: str, **request: Any) -> httpx.Response:
        """POST and return the streaming response (the caller closes it); raises EndpointError."""
        for attempt in range(self.endpoint.max_retries + 1):
            try:
                response = self._http.send(
                    self._http.build_request("POST", path, **request), stream=True
                )
            except httpx.HTTPError as error:
                raise self.transport_error(error) from None
            if response.status_code < 400:
                return response
            with contextlib.suppress(httpx.HTTPError):  # for the error's message
                response.read()
            response.close()
            if response.status_code in RETRY_STATUSES and attempt < self.endpoint.max_retries:
                time.sleep(self._backoff(attempt, response.headers.get("retry-after")))
                continue
            raise self.status_error(response)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        wait = self.endpoint.backoff_s * 2**attempt * random.uniform(0.8, 1.2)
        with contextlib.suppress(ValueError):  # Retry-After in seconds; a date is ignored
            wait = max(wait, float(retry_after or 0))
        return min(wait, self.endpoint.max_backoff_s)

    def transport_error(self, error: httpx.HTTPError) -> EndpointError:
        if isinstance(error, httpx.ConnectError):
            reason = re.sub(r"^\[Errno -?\d+\]\s*", "", str(error)) or type(error).__name__
            return EndpointError(
                f"cannot reach the {self.kind} endpoint {self.url}: "
                f"{reason[0].lower()}{reason[1:]}; is the server running?"
            )
        if isinstance(error, httpx.TimeoutException):
            return EndpointError(
                f"the {self.kind} endpoint {self.url} did not answer within "
                f"{self.endpoint.timeout_s:g} s ({self.section}.timeout_s)"
            )
        return EndpointError(f"the {self.kind} endpoint {self.url} failed: {error}")

    def status_error(self, response: httpx.Response) -> EndpointError:
        status = response.status_code
        message = _error_message(response)
        hint = f"; check {self.section}.api_key" if status in (401, 403) else ""
        return EndpointError(
            f"the {self.kind} endpoint {self.url} answered {status}: {message}{hint}", status
        )


def _error_message(response: httpx.Response) -> str:
    """The message of an OpenAI-shaped error body, or the start of whatever body it is."""
    try:
        text = response.text
    except httpx.ResponseNotRead:
        return response.reason_phrase
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    return text.strip()[:300] or response.reason_phrase


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
    return _LANGUAGE_CODES.get(language.lower(), language)


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
    ) -> Iterator[str]:
        if not messages:
            raise UsageError("a chat needs at least one message")
        limit = max_tokens or self._max_tokens
        if limit < 1:
            raise UsageError(f"max_tokens must be at least 1, not {max_tokens}")
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "max_tokens": limit,
            "temperature": self._temperature if temperature is None else temperature,
        }
        if stop:
            body["stop"] = list(stop)
        return self._stream(body)

    def _stream(self, body: dict[str, Any]) -> Iterator[str]:
        response = self._client.open("/chat/completions", json=body)
        try:  # closing this generator closes the response: the server stops generating
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                event = json.loads(data)
                if event.get("error"):
                    raise EndpointError(
                        f"the chat endpoint {self._client.url} failed mid-reply: "
                        f"{_event_error(event['error'])}"
                    )
                for choice in event.get("choices") or ():
                    if content := (choice.get("delta") or {}).get("content"):
                        yield content
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
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise UsageError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, not {speed}")
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
        for piece in _pieces(text, MAX_SPEECH_INPUT):
            response = self._client.open("/audio/speech", json={**body, "input": piece})
            try:
                yield from _wav_chunks(response.iter_bytes(), self._client)
            except httpx.HTTPError as error:
                raise self._client.transport_error(error) from None
            finally:
                response.close()


def _pieces(text: str, limit: int) -> Iterator[str]:
    """`text` as is when short enough, else sentences joined into pieces under `limit`."""
    if len(text) <= limit:
        yield text
        return
    piece = ""
    for sentence in speakable_chunks(text):
        if piece and len(piece) + 1 + len(sentence) > limit:
            yield piece
            piece = ""
        piece = f"{piece} {sentence}" if piece else sentence
    if piece:
        yield piece


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
    offset, fmt = 12, None
    while offset + 8 <= len(head):
        chunk_id, size = struct.unpack_from("<4sI", head, offset)
        if chunk_id == b"data":
            if fmt is None:
                raise EndpointError(f"the WAV from {client.url} has no fmt chunk")
            return fmt[0], fmt[1], offset + 8
        if offset + 8 + size > len(head):
            return None
        if chunk_id == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, offset + 8)
            if bits != 16:
                raise EndpointError(f"the WAV from {client.url} has {bits}-bit samples, not 16")
            fmt = (rate, channels)
        offset += 8 + size + (size & 1)
    return None


def _mono(pcm: bytes, rate: int, channels: int) -> AudioChunk:
    if channels == 1:
        return AudioChunk(pcm, rate)
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, channels).mean(axis=1)
    return AudioChunk(samples.astype("<i2").tobytes(), rate)


def _endpoint(section: Any, name: str) -> Endpoint:
    if not section.base_url:
        raise UsageError(
            f"{name}.provider is 'openai' but {name}.base_url is empty; set it, e.g. "
            f"--set {name}.base_url=http://127.0.0.1:8000/v1"
        )
    if section.timeout_s <= 0:
        raise UsageError(f"{name}.timeout_s must be more than 0, not {section.timeout_s}")
    return Endpoint(section.base_url, section.api_key, section.timeout_s)


def create_stt(config: Config, store: ModelStore) -> OpenAICompatSTT:
    client = EndpointClient(_endpoint(config.stt, "stt"), "speech-to-text", "stt")
    return OpenAICompatSTT(client, config.stt.model, language=config.stt.language or None)


def create_chat(config: Config, store: ModelStore) -> OpenAICompatChat:
    llm = config.llm
    client = EndpointClient(_endpoint(llm, "llm"), "chat", "llm")
    return OpenAICompatChat(
        client, llm.model, max_tokens=llm.max_tokens, temperature=llm.temperature
    )


def create_tts(config: Config, store: ModelStore) -> OpenAICompatTTS:
    client = EndpointClient(_endpoint(config.tts, "tts"), "text-to-speech", "tts")
    return OpenAICompatTTS(client, config.tts.model or "tts-1", voice=config.tts.voice)
