"""Wyoming's wire format read within limits, and the error events bad input gets.

An event is a JSON header line, then `data_length` bytes of JSON data, then `payload_length`
bytes of payload. The wyoming package's own reader trusts those lengths; this one refuses
oversized parts (a payload that is too big is read and discarded in blocks, so the connection
stays in step and the client can go on).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from wyoming.error import Error
from wyoming.event import Event

MAX_HEADER_BYTES = 64 * 1024  # the header line (asyncio's own StreamReader limit)
MAX_DATA_BYTES = 1024 * 1024  # an event's JSON data
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024  # an audio chunk: 65 s of 16 kHz mono; HA sends 20-60 ms
DISCARD_BLOCK = 64 * 1024  # bytes read at a time when skipping an oversized payload


class ProtocolError(Exception):
    """An event the client should not have sent: answered with an `error` event, the
    connection goes on."""

    def __init__(self, message: str, code: str = "bad-event") -> None:
        super().__init__(message)
        self.code = code


class ConnectionBroken(Exception):
    """The stream cannot be read in step any more (a header line over the limit)."""


def error_event(message: str, code: str) -> Event:
    return Error(text=message, code=code).event()


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event; None when the client has closed the connection. A malformed or oversized
    event raises ProtocolError once its bytes have been consumed."""
    try:
        line = await reader.readline()
    except (asyncio.LimitOverrunError, ValueError):
        raise ConnectionBroken(
            f"an event header is over {MAX_HEADER_BYTES} bytes; closing the connection"
        ) from None
    if not line:
        return None
    header = _json_object(line, "the event header")
    data_length = _length(header, "data_length")
    payload_length = _length(header, "payload_length")
    data_bytes = await _read_or_skip(reader, data_length, MAX_DATA_BYTES, "data")
    payload = await _read_or_skip(reader, payload_length, MAX_PAYLOAD_BYTES, "payload")
    kind = header.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError('every event needs a "type" (a non-empty string)')
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise ProtocolError(f'the "data" of a {kind} event must be a JSON object')
    if data_bytes:
        data = {**data, **_json_object(data_bytes, f"the data of a {kind} event")}
    return Event(type=kind, data=data, payload=payload or None)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProtocolError(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} must be a JSON object")
    return value


def _length(header: dict[str, Any], name: str) -> int:
    value = header.get(name) or 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f'"{name}" must be a whole number of bytes, not {value!r}')
    return value


async def _read_or_skip(reader: asyncio.StreamReader, length: int, limit: int, what: str) -> bytes:
    if length <= limit:
        return await reader.readexactly(length) if length else b""
    left = length
    while left:
        left -= len(await reader.readexactly(min(left, DISCARD_BLOCK)))
    raise ProtocolError(
        f"the event's {what} is {length} bytes; the limit is {limit}", code="too-big"
    )


def field(data: dict[str, Any], name: str, kind: type, event: str, *, required: bool = True):
    """`data[name]` checked to be a `kind`; None when absent and not required."""
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {str: "a string", int: "an integer", dict: "an object", list: "a list"}
        raise ProtocolError(f'{event} needs "{name}" as {names.get(kind, kind.__name__)}')
    return value
