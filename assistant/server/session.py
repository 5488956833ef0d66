"""The browser's voice session: a WebSocket that drives the same conversation engine as `talk`.

Protocol (one WebSocket per conversation, at /v1/session):
- browser -> server, text (JSON):
    {"type": "hello", "sample_rate": 48000}          before any audio: the microphone's rate
    {"type": "control", "action": "pause" | "resume" | "mute" | "unmute" | "interrupt" | "new"}
    {"type": "text", "text": "..."}                   a typed turn (no microphone)
    {"type": "voice", "voice": "en_US-joe-medium"}    the voice of the next sentences
    {"type": "settings", "wake_word": "hey_jarvis" | "off", "language": "zh" | "en" | "auto"}
                                                      this session's own, from the next turn
                                                      (either key; answered with `settings`)
    {"type": "played", "epoch": 3, "seconds": 1.25}   playback progress since the last clear
- browser -> server, binary: microphone audio, int16 little-endian mono at the hello's rate.
- server -> browser, text (JSON): ready, state, user, assistant, turn, reset, notice, error,
  clear {"epoch"}, pause, resume, announcement {"text"} (a timer or alarm rang), settings
  {"wake_word", "wake_phrase", "language"}. With a wake word (conversation.wake_word, or the
  session's own), ready carries its phrase ("wake_word": "Hey Jarvis") and the state is
  "waiting" until it is heard. Ready also offers the choices: "wake_words" [{"name",
  "phrase"}] (the downloaded ones) and "languages" ["auto", "en", "zh"...] (heard by the
  speech-to-text model and spoken by an installed voice), with the session's "language". A
  turn saved in the history carries its id ("turn_id"), for feedback (POST
  /v1/history/turns/ID/feedback).
- server -> browser, binary: reply audio, an 8-byte header (uint32 LE sample rate, uint32 LE
  epoch) then int16 little-endian mono samples.
Frames over MAX_FRAME_BYTES close the socket (1009); malformed ones get an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..conversation.engine import Conversation
from ..conversation.events import (
    Announced,
    AssistantSaying,
    ConversationEvent,
    ConversationReset,
    Notice,
    StateChanged,
    TurnEnded,
    UserSaid,
)
from ..history.records import History
from ..types import AudioChunk
from .session_settings import SessionChoices, SettingsError
from .uploads import parse_json

MAX_FRAME_BYTES = 256 * 1024  # a 20 ms microphone frame at 48 kHz is 1920 bytes
MAX_TEXT_CHARS = 4000
RATES = range(8000, 192001)
CONTROLS = ("pause", "resume", "mute", "unmute", "interrupt", "new")


class ProtocolError(Exception):
    """A frame the browser should not have sent; reported to it, the session goes on."""


class BrowserSink:
    """An AudioSink whose speaker is the browser: audio goes out as binary frames, and the
    browser says how much it has played, so pending audio (and what was heard) is exact."""

    def __init__(self, send: Callable[[str | bytes], None]) -> None:
        self._send = send
        self.epoch = 0
        self._queued = 0.0  # seconds sent since the last clear
        self._played = 0.0  # seconds the browser reports played since the last clear

    def play(self, chunk: AudioChunk) -> None:
        self._queued += chunk.seconds
        self._send(struct.pack("<II", chunk.sample_rate, self.epoch) + chunk.pcm)

    def clear(self) -> None:
        self.epoch += 1
        self._queued = self._played = 0.0
        self._send(json.dumps({"type": "clear", "epoch": self.epoch}))

    def pending_seconds(self) -> float:
        return max(0.0, self._queued - self._played)

    def set_paused(self, paused: bool) -> None:
        self._send(json.dumps({"type": "pause" if paused else "resume"}))

    def played(self, epoch: int, seconds: float) -> None:
        if epoch == self.epoch:
            self._played = max(self._played, min(seconds, self._queued))


@dataclass(frozen=True)
class SessionParts:
    """What a session needs from the server: engines, a VAD of its own, settings, history."""

    make_conversation: Callable[[BrowserSink, Callable[[ConversationEvent], None]], Conversation]
    voices: list[str]
    record: Callable[
        [History], Callable[[ConversationEvent], int | None]
    ]  # a history listener per session: the id of an assistant turn it saved
    choices: SessionChoices  # the wake words and languages a session may pick
    voice_labels: dict[str, str] = field(default_factory=dict)  # id -> "Name: character (en)"


def event_message(event: ConversationEvent) -> dict[str, Any] | None:
    match event:
        case StateChanged(state):
            return {"type": "state", "state": state.value}
        case UserSaid(text):
            return {"type": "user", "text": text}
        case AssistantSaying(text):
            return {"type": "assistant", "text": text}
        case TurnEnded():
            return {"type": "turn", "interrupted": event.interrupted, "spoken": event.spoken,
                    "latencies": event.timings.latencies_ms()}  # fmt: skip
        case ConversationReset():
            return {"type": "reset"}
        case Notice(message):
            return {"type": "notice", "message": message}
        case Announced(text):  # a timer or alarm rang
            return {"type": "announcement", "text": text}
    return None


async def run_session(websocket: WebSocket, parts: SessionParts, history: History) -> None:
    """Serve one browser until it closes the socket (or sends something too big)."""
    await websocket.accept()
    outbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
    sink = BrowserSink(outbox.put_nowait)
    record = parts.record(history)

    def on_event(event: ConversationEvent) -> None:
        saved = record(event)
        if (message := event_message(event)) is not None:
            if saved and isinstance(event, TurnEnded):
                message["turn_id"] = saved  # the page's thumbs up/down rate this turn
            outbox.put_nowait(json.dumps(message))

    conversation = parts.make_conversation(sink, on_event)
    writer = asyncio.get_running_loop().create_task(_write(websocket, outbox))
    outbox.put_nowait(json.dumps({
        "type": "ready", "state": conversation.state.value, "voices": parts.voices,
        "voice_labels": parts.voice_labels, "voice": conversation.options.voice,
        "max_frame_bytes": MAX_FRAME_BYTES, "wake_word": conversation.wake_phrase,
        "language": parts.choices.current(conversation)["language"], **parts.choices.offered(),
    }))  # fmt: skip
    rate: int | None = None
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            try:
                if message.get("bytes") is not None:
                    _audio(conversation, message["bytes"], rate)
                elif message.get("text") is not None:
                    rate = _command(conversation, sink, message["text"], rate, parts, outbox)
            except ProtocolError as error:
                outbox.put_nowait(json.dumps({"type": "error", "message": str(error)}))
    except _TooBig as error:
        with contextlib.suppress(RuntimeError):
            await websocket.close(code=1009, reason=str(error))
    except WebSocketDisconnect:
        pass
    finally:
        await conversation.close()
        outbox.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await asyncio.wait_for(writer, 2)


class _TooBig(Exception):
    pass


async def _write(websocket: WebSocket, outbox: asyncio.Queue) -> None:
    while (item := await outbox.get()) is not None:
        try:
            if isinstance(item, bytes):
                await websocket.send_bytes(item)
            else:
                await websocket.send_text(item)
        except (WebSocketDisconnect, RuntimeError):
            return  # the browser went away; the reader side ends the session


def _audio(conversation: Conversation, data: bytes, rate: int | None) -> None:
    if len(data) > MAX_FRAME_BYTES:
        raise _TooBig(f"audio frame of {len(data)} bytes is over {MAX_FRAME_BYTES}")
    if rate is None:
        raise ProtocolError('send {"type": "hello", "sample_rate": N} before any audio')
    if len(data) % 2:
        raise ProtocolError("audio frames must be whole int16 samples (an even byte count)")
    conversation.feed(AudioChunk(data, rate))


def _command(
    conversation: Conversation,
    sink: BrowserSink,
    text: str,
    rate: int | None,
    parts: SessionParts,
    outbox: asyncio.Queue,
) -> int | None:
    if len(text) > MAX_FRAME_BYTES:
        raise _TooBig(f"message of {len(text)} characters is over {MAX_FRAME_BYTES}")
    try:
        message = parse_json(text)
    except ValueError as error:
        raise ProtocolError(f"not JSON: {getattr(error, 'msg', error)}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError('messages are JSON objects with a "type"')
    kind = message["type"]
    if kind == "hello":
        new_rate = message.get("sample_rate")
        if not isinstance(new_rate, int) or new_rate not in RATES:
            raise ProtocolError("hello needs an integer sample_rate between 8000 and 192000")
        return new_rate
    if kind == "played":
        epoch, seconds = message.get("epoch"), _seconds(message.get("seconds"))
        if not isinstance(epoch, int) or seconds is None:
            raise ProtocolError("played needs an integer epoch and a number of seconds")
        sink.played(epoch, seconds)
    elif kind == "control":
        _control(conversation, message.get("action"))
    elif kind == "text":
        typed = message.get("text")
        if not isinstance(typed, str) or not typed.strip() or len(typed) > MAX_TEXT_CHARS:
            raise ProtocolError(f"text needs 1 to {MAX_TEXT_CHARS} characters")
        conversation.submit_text(typed)
    elif kind == "voice":
        _choose_voice(conversation, message.get("voice"), parts.voices)
    elif kind == "settings":
        try:
            parts.choices.apply(conversation, message)
        except SettingsError as error:
            raise ProtocolError(str(error)) from None
        outbox.put_nowait(json.dumps(parts.choices.current(conversation)))
    else:
        raise ProtocolError(f"unknown message type '{kind}'")
    return rate


def _seconds(value: Any) -> float | None:
    """A finite number of seconds, or None (a string, NaN, 1e400, an integer of 400 digits)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _control(conversation: Conversation, action: Any) -> None:
    if action not in CONTROLS:
        raise ProtocolError(f"control action must be one of {', '.join(CONTROLS)}")
    {
        "pause": conversation.pause, "resume": conversation.resume, "mute": conversation.mute,
        "unmute": conversation.unmute, "interrupt": conversation.interrupt,
        "new": conversation.new_conversation,
    }[action]()  # fmt: skip


def _choose_voice(conversation: Conversation, voice: Any, known: list[str]) -> None:
    if voice not in known:
        raise ProtocolError(f"unknown voice '{voice}'. Available: {', '.join(known)}")
    conversation.change(voice=voice)
