"""OpenAI's wire formats: request bodies checked into dataclasses, and response bodies."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..providers import Usage
from ..providers.openai_api import LANGUAGE_NAMES, MAX_SPEECH_INPUT, MAX_SPEED, MIN_SPEED
from ..types import ChatMessage, Transcription
from .errors import ApiError, bad_request

TRANSCRIPT_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
MAX_STOP_SEQUENCES = 4
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class TranscriptionRequest:
    model: str
    language: str | None
    prompt: str | None
    temperature: float | None
    response_format: str


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: str
    instructions: str | None
    speed: float | None  # None: the server's tts.speed
    response_format: str


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    stream: bool
    max_tokens: int | None
    temperature: float | None
    stop: tuple[str, ...]
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the usage


# --- requests


def transcription_request(fields: Mapping[str, str]) -> TranscriptionRequest:
    """From the multipart form's text fields (the file is read apart)."""
    response_format = fields.get("response_format") or "json"
    _one_of(response_format, TRANSCRIPT_FORMATS, "response_format")
    if _flag(fields.get("stream", "false"), "stream"):
        raise bad_request("streamed transcription is not supported; omit 'stream'", "stream")
    temperature = fields.get("temperature")
    return TranscriptionRequest(
        model=_required_text(fields, "model"),
        language=fields.get("language") or None,
        prompt=fields.get("prompt") or None,
        temperature=None if not temperature else _float(temperature, "temperature", 0.0, 1.0),
        response_format=response_format,
    )


def speech_request(body: Any, formats: Sequence[str]) -> SpeechRequest:
    body = _object(body)
    text = _required_text(body, "input")
    if not text.strip():
        raise bad_request("'input' is empty: there is no text to speak", "input")
    if len(text) > MAX_SPEECH_INPUT:
        raise bad_request(
            f"'input' is {len(text)} characters; the maximum is {MAX_SPEECH_INPUT}", "input"
        )
    response_format = _optional(body, "response_format", str) or (
        "mp3" if "mp3" in formats else formats[0]
    )
    _one_of(response_format, formats, "response_format")
    speed = _optional(body, "speed", float)
    return SpeechRequest(
        model=_required_text(body, "model"),
        input=text,
        voice=_required_text(body, "voice"),
        instructions=_optional(body, "instructions", str) or None,
        speed=None if speed is None else _float(speed, "speed", MIN_SPEED, MAX_SPEED),
        response_format=response_format,
    )


def chat_request(body: Any) -> ChatRequest:
    body = _object(body)
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise bad_request("'messages' must be a non-empty array of messages", "messages")
    n = _optional(body, "n", int)
    if n not in (None, 1):
        raise bad_request("only n = 1 is supported", "n")
    max_tokens = _optional(body, "max_completion_tokens", int)
    max_tokens = _optional(body, "max_tokens", int) if max_tokens is None else max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"max_tokens must be at least 1, not {max_tokens}", "max_tokens")
    temperature = _optional(body, "temperature", float)
    return ChatRequest(
        model=_required_text(body, "model"),
        messages=tuple(_message(m, i) for i, m in enumerate(raw_messages)),
        stream=bool(_optional(body, "stream", bool)),
        max_tokens=max_tokens,
        temperature=None if temperature is None else _float(temperature, "temperature", 0.0, 2.0),
        stop=_stop(body.get("stop")),
        include_usage=_include_usage(body.get("stream_options")),
    )


def _include_usage(options: Any) -> bool:
    if options is None:
        return False
    if not isinstance(options, dict):
        raise bad_request("'stream_options' must be an object", "stream_options")
    return bool(_optional(options, "include_usage", bool))


def _message(raw: Any, index: int) -> ChatMessage:
    param = f"messages.[{index}]"
    if not isinstance(raw, dict):
        raise bad_request(f"{param} must be an object with 'role' and 'content'", param)
    role = raw.get("role")
    if role not in ROLES:
        raise bad_request(
            f"{param}.role must be one of {', '.join(ROLES)}, not {role!r}", f"{param}.role"
        )
    content = raw.get("content")
    if isinstance(content, list):  # content parts: only text ones can be answered
        kinds = {part.get("type") for part in content if isinstance(part, dict)}
        if len(kinds) != len(content) or kinds - {"text"}:
            raise bad_request(f"{param}.content: only text parts are supported", f"{param}.content")
        content = "".join(str(part.get("text", "")) for part in content)
    if content is None and role == "assistant":
        content = ""
    if not isinstance(content, str):
        raise bad_request(f"{param}.content must be a string", f"{param}.content")
    return ChatMessage(ROLES[role], content)


def _stop(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise bad_request("'stop' must be a string or an array of strings", "stop")
    if len(stops) > MAX_STOP_SEQUENCES:
        raise bad_request(f"'stop' may hold at most {MAX_STOP_SEQUENCES} sequences", "stop")
    return tuple(s for s in stops if s)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


def _required_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise bad_request(f"you must provide a '{name}' parameter", name, "missing_required")
    if not isinstance(value, str):
        raise bad_request(f"'{name}' must be a string", name)
    return value


def _optional(body: Mapping[str, Any], name: str, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return None
    valid = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        valid = True
    if not valid:
        names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
        raise bad_request(f"'{name}' must be {names[kind]}, not {json.dumps(value)}", name)
    return value


def _float(value: Any, name: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of 400 digits
        raise bad_request(f"'{name}' must be a number, not {value!r}", name) from None
    if math.isnan(number) or not low <= number <= high:
        raise bad_request(f"'{name}' must be between {low:g} and {high:g}, not {value}", name)
    return number


def _flag(value: str, name: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0", ""):
        return False
    raise bad_request(f"'{name}' must be true or false, not {value!r}", name)


def _one_of(value: str, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise bad_request(f"'{name}' must be one of {', '.join(allowed)}, not {value!r}", name)


# --- responses


def transcription_body(result: Transcription, response_format: str) -> tuple[Any, str]:
    """(body, media type): a dict for the JSON formats, text for the others."""
    if response_format == "json":
        return {"text": result.text}, "application/json"
    if response_format == "text":
        return result.text + "\n", "text/plain"
    if response_format == "srt":
        cues = (
            f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
            for i, s in enumerate(result.segments, 1)
        )
        return "\n".join(cues) + "\n", "text/plain"
    if response_format == "vtt":
        cues = (
            f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in result.segments
        )
        return "WEBVTT\n\n" + "\n".join(cues) + "\n", "text/vtt"
    language = result.language or ""
    return {
        "task": "transcribe",
        "language": LANGUAGE_NAMES.get(language, language),
        "duration": round(result.duration, 3),
        "text": result.text,
        "segments": [
            {
                "id": i,
                "seek": 0,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": 0.0,
                "compression_ratio": 0.0,
                "no_speech_prob": 0.0,
            }
            for i, s in enumerate(result.segments)
        ],
    }, "application/json"


def _clock(seconds: float, separator: str) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def completion_body(
    id: str,
    created: int,
    model: str,
    text: str,
    finish_reason: str,
    usage: Usage | None = None,
) -> dict[str, Any]:
    body = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)
    return body


def usage_body(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def chunk_event(
    id: str,
    created: int,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
    *,
    with_usage: bool = False,
) -> str:
    """One server-sent event of a streamed completion (`usage: null` in it `with_usage`)."""
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return _chunk(id, created, model, [choice], {"usage": None} if with_usage else {})


def usage_event(id: str, created: int, model: str, usage: Usage | None) -> str:
    """The last event of a stream asked with stream_options.include_usage: no choices, the
    usage (null from an engine that cannot count)."""
    return _chunk(id, created, model, [], {"usage": usage_body(usage) if usage else None})


def _chunk(id: str, created: int, model: str, choices: list, extra: dict[str, Any]) -> str:
    chunk = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        **extra,
    }
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"


def error_event(error: ApiError) -> str:
    """An error that happens after a stream has begun, as OpenAI sends it."""
    return f"data: {json.dumps(error.body(), ensure_ascii=False)}\n\n"


DONE_EVENT = "data: [DONE]\n\n"
