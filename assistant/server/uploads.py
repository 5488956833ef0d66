"""Request bodies read with a size limit, and multipart forms parsed in memory.

Uploaded audio never touches the disk (Starlette's own form parser spools big files to
a temporary file), and a body over the limit is drained and answered 413, so the client
reads the error instead of a broken pipe.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header
from starlette.requests import Request

from .errors import ApiError, bad_request

MAX_UPLOAD = 25 * 1024 * 1024  # bytes of audio, as OpenAI's transcription endpoint
FORM_OVERHEAD = 64 * 1024  # bytes for the form's other fields and boundaries
MAX_JSON = 8 * 1024 * 1024  # bytes of a JSON request body
DRAIN_LIMIT = 4  # bodies up to this many times the limit are read to the end before the 413


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True)
class Form:
    fields: dict[str, str]
    files: dict[str, Upload]


async def read_body(request: Request, limit: int, what: str, timeout_s: float) -> bytes:
    """The whole body; 413 when it is larger than `limit` bytes, 408 when it is too slow."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_body(request, limit, what)
    except TimeoutError:
        raise ApiError(
            408,
            f"{what} did not arrive within server.timeout_s ({timeout_s:g} s)",
            code="timeout",
        ) from None


async def _read_body(request: Request, limit: int, what: str) -> bytes:
    too_large = ApiError(
        413,
        f"{what} is larger than the maximum of {limit // (1024 * 1024)} MB",
        code="request_too_large",
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit * DRAIN_LIMIT:
        raise too_large
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
        elif size > limit * DRAIN_LIMIT:
            break
    if size > limit:
        raise too_large
    return b"".join(parts)


async def read_json(request: Request, timeout_s: float) -> Any:
    _require_type(request, ("application/json",), "a JSON body (Content-Type: application/json)")
    body = await read_body(request, MAX_JSON, "the request body", timeout_s)
    try:
        return parse_json(body)
    except ValueError as error:
        raise bad_request(f"the request body is not valid JSON: {error}") from None


def parse_json(data: str | bytes) -> Any:
    """json.loads for what a client sent; ValueError (with a message) for anything that is not
    JSON a request can be: not UTF-8, nested too deeply, text with lone surrogates."""
    try:
        value = json.loads(data)
    except RecursionError:  # json's parser recurses once per level of nesting
        raise ValueError("nested too deeply") from None
    if ("\\u" if isinstance(data, str) else b"\\u") in data:
        try:  # an escaped lone surrogate ("\ud800") decodes, then fails wherever it is encoded
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff)") from None
    return value


async def read_form(request: Request, timeout_s: float) -> Form:
    """A multipart/form-data body, kept in memory; 413 past MAX_UPLOAD."""
    media_type = _require_type(request, ("multipart/form-data",), "a multipart/form-data upload")
    _, options = parse_options_header(request.headers["content-type"])
    boundary = options.get(b"boundary")
    if not boundary:
        raise bad_request(f"the {media_type} Content-Type has no boundary")
    body = await read_body(request, MAX_UPLOAD + FORM_OVERHEAD, "the upload", timeout_s)
    form = _parse_multipart(body, boundary)
    for upload in form.files.values():
        if len(upload.data) > MAX_UPLOAD:
            raise ApiError(
                413,
                f"{upload.filename} is larger than the maximum of {MAX_UPLOAD // (1024 * 1024)} MB",
                param="file",
                code="file_too_large",
            )
    return form


def _require_type(request: Request, allowed: tuple[str, ...], description: str) -> str:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in allowed:
        raise ApiError(
            415,
            f"this endpoint takes {description}, not {media_type or 'a body with no Content-Type'}",
            code="unsupported_media_type",
        )
    return media_type


def _parse_multipart(body: bytes, boundary: bytes) -> Form:
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    part: dict[str, Any] = {}
    header: list[bytes] = [b"", b""]

    def on_part_begin() -> None:
        part.clear()
        part.update(headers={}, data=[])

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header[0] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header[1] += data[start:end]

    def on_header_end() -> None:
        part["headers"][header[0].decode("latin-1").lower()] = header[1]
        header[:] = [b"", b""]

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["data"].append(data[start:end])

    def on_part_end() -> None:
        _, options = parse_options_header(part["headers"].get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        data = b"".join(part["data"])
        if b"filename" in options:
            filename = options[b"filename"].decode("utf-8", "replace") or name
            files[name] = Upload(filename, data)
        else:
            fields[name] = data.decode("utf-8", "replace")

    callbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as error:
        raise bad_request(f"the multipart form cannot be parsed: {error}") from None
    return Form(fields, files)
