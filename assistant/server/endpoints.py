"""The OpenAI endpoints: transcriptions, speech, chat completions, models, health."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..audio.codec import decode_bytes
from ..config import Config, voice_map
from ..conversation.language import typed_language, voice_for
from ..providers import speak_text, usage_of
from ..providers.instructions import SpeechStyle, read_instructions
from ..providers.loading import Engines
from ..types import AudioChunk
from . import encoding, wire
from .aliases import Aliases
from .errors import ApiError, bad_request, to_api_error
from .tool_completions import tool_completion
from .tool_offer import read_tools
from .uploads import read_form, read_json
from .workers import Job, ModelWorker

T = TypeVar("T")
log = logging.getLogger("assistant.server")
STT_RATE = 16000  # Hz: uploads are decoded straight to Whisper's rate
STAGES = {"stt": "speech-to-text", "chat": "chat", "tts": "text-to-speech"}


@dataclass
class Service:
    """What the handlers share: the engines, a worker per engine, the names they answer to."""

    config: Config
    engines: Engines
    catalog: Aliases
    formats: tuple[str, ...]  # speech response formats this machine can encode
    workers: dict[str, ModelWorker] = field(default_factory=dict)
    started: int = field(default_factory=lambda: int(time.time()))

    @classmethod
    def create(cls, config: Config, engines: Engines) -> Service:
        server = config.server
        workers = {
            stage: ModelWorker(stage, queue_size=server.queue_size, timeout_s=server.timeout_s)
            for stage in STAGES
            if getattr(engines, stage) is not None
        }
        catalog = Aliases.build(config, engines.tts)
        return cls(config, engines, catalog, encoding.available_formats(), workers)

    def start(self) -> None:
        for worker in self.workers.values():
            worker.start()

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()

    def stage(self, name: str) -> tuple[Any, ModelWorker]:
        """The engine for a stage and its worker; 503 when this server has none."""
        if name not in self.workers:
            raise ApiError(503, f"this server has no {STAGES[name]} model", type="server_error")
        return getattr(self.engines, name), self.workers[name]


def service_of(request: Request) -> Service:
    return request.app.state.service


async def health(request: Request) -> JSONResponse:
    workers = service_of(request).workers
    return JSONResponse(
        {"status": "ok", "workers": {name: w.status() for name, w in workers.items()}}
    )


async def list_models(request: Request) -> JSONResponse:
    service = service_of(request)
    data = [_model(name, alias_of, service.started) for name, alias_of in service.catalog.models()]
    return JSONResponse({"object": "list", "data": data})


async def get_model(request: Request) -> JSONResponse:
    service = service_of(request)
    name = request.path_params["model"]
    for known, alias_of in service.catalog.models():
        if known == name:
            return JSONResponse(_model(known, alias_of, service.started))
    valid = ", ".join(n for n, _ in service.catalog.models())
    raise ApiError(
        404,
        f"The model '{name}' does not exist. Valid models: {valid}",
        code="model_not_found",
        param="model",
    )


def _model(name: str, alias_of: str | None, created: int) -> dict[str, Any]:
    return {
        "id": name,
        "object": "model",
        "created": created,
        "owned_by": "local",
        "alias_of": alias_of,
    }


async def transcriptions(request: Request) -> Response:
    service = service_of(request)
    stt, worker = service.stage("stt")
    form = await read_form(request, service.config.server.timeout_s)
    upload = form.files.get("file")
    if upload is None:
        raise bad_request("you must provide a 'file' (the audio, as a multipart upload)", "file")
    params = wire.transcription_request(form.fields)
    service.catalog.stt.resolve(params.model)
    audio = await run_in_threadpool(decode_bytes, upload.data, STT_RATE, upload.filename)
    job = worker.submit(
        lambda: (
            stt.transcribe(
                audio,
                language=params.language,
                prompt=params.prompt,
                temperature=params.temperature,
            ),
        )
    )
    (result,) = await _watching(request, job, job.collect())
    body, media_type = wire.transcription_body(result, params.response_format)
    if isinstance(body, dict):
        return JSONResponse(body)
    return Response(body, media_type=media_type)


async def speech(request: Request) -> Response:
    service = service_of(request)
    tts, worker = service.stage("tts")
    body = await read_json(request, service.config.server.timeout_s)
    params = wire.speech_request(body, service.formats)
    service.catalog.tts.resolve(params.model)
    voice = service.catalog.voices.resolve(params.voice)
    if params.voice not in service.catalog.voices.local:  # OpenAI's name: a voice for the text
        by_language = dict(voice_map(service.config.tts.voices_by_language))
        voice = voice_for(tts.voices(), voice, typed_language(params.input), by_language) or voice
    style = read_instructions(params.instructions)
    if style.ignored:
        log.info("speech instructions not followed (no such control here): %s", style.ignored)
    job = worker.submit(
        lambda: speak_text(
            tts,
            params.input,
            voice=voice,
            speed=params.speed or service.config.tts.speed,
            instructions=params.instructions,
        )
    )
    first = await _watching(request, job, job.first())
    if first is None:
        raise bad_request("'input' has nothing speakable in it (only symbols or markup)", "input")
    audio = _encoded(job, first, encoding.encoder(params.response_format))
    media_type = encoding.MEDIA_TYPES[params.response_format]
    headers = {"X-Voice": voice, **_instruction_headers(style)}
    return StreamingResponse(audio, media_type=media_type, headers=headers)


def _instruction_headers(style: SpeechStyle) -> dict[str, str]:
    """What was done with `instructions`: the phrases followed, and those no engine here can."""
    headers = {}
    for name, phrases in (("Applied", style.applied), ("Ignored", style.ignored)):
        if phrases:
            headers[f"X-Instructions-{name}"] = quote("; ".join(phrases), safe=" ,;:'!?-")
    return headers


async def _encoded(
    job: Job[AudioChunk], first: AudioChunk, encoder: encoding.Encoder
) -> AsyncIterator[bytes]:
    """The speech as it is synthesized. A failure after the headers aborts the connection, so
    the client sees a broken transfer rather than audio that merely stops."""
    try:
        yield encoder.feed(first)
        async for chunk in job:
            if data := encoder.feed(chunk):
                yield data
        yield encoder.finish()
    except Exception as error:
        log.warning("speech stream aborted: %s", error)
        raise
    finally:
        job.cancel()  # the client went away, or we are done: free the voice for the next request


async def chat_completions(request: Request) -> Response:
    service = service_of(request)
    chat, worker = service.stage("chat")
    body, offer = read_tools(await read_json(request, service.config.server.timeout_s))
    params = wire.chat_request(body)
    model = service.catalog.chat.resolve(params.model)
    if offer is not None:  # the client's functions offered to the model
        return await tool_completion(request, chat, worker, params, offer, model, _watching)
    streams: list[Iterator[str]] = []  # the model's stream, for its usage once it has ended

    def produce() -> Iterator[str]:
        stream = chat.stream_chat(
            params.messages,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            stop=params.stop or None,
        )
        streams.append(stream)
        return stream

    job = worker.submit(produce)
    reply = _Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model)
    # An engine that cannot count: deltas are about one token each, so as many as the limit
    # means it was reached.
    limit = params.max_tokens or service.config.llm.max_tokens
    if not params.stream:
        deltas = await _watching(request, job, job.collect())
        usage = usage_of(streams[0]) if streams else None
        finish = usage.finish_reason if usage else "length" if len(deltas) >= limit else "stop"
        body = wire.completion_body(reply.id, reply.created, model, "".join(deltas), finish, usage)
        return JSONResponse(body)
    first = await _watching(request, job, job.first())  # errors so far still get their status
    return StreamingResponse(
        _events(job, first, reply, limit, streams, include_usage=params.include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@dataclass(frozen=True)
class _Reply:
    id: str
    created: int
    model: str


async def _events(
    job: Job[str],
    first: str | None,
    reply: _Reply,
    limit: int,
    streams: list[Iterator[str]],
    *,
    include_usage: bool,
) -> AsyncIterator[str]:
    """The completion's chunks; with stream_options.include_usage every chunk carries
    `usage: null`, and a last one, with no choices, the usage."""

    def event(delta: dict[str, str], finish: str | None = None) -> str:
        return wire.chunk_event(
            reply.id, reply.created, reply.model, delta, finish, with_usage=include_usage
        )

    count = 0
    try:
        yield event({"role": "assistant", "content": ""})
        if first is not None:
            count += 1
            yield event({"content": first})
        async for delta in job:
            count += 1
            yield event({"content": delta})
        usage = usage_of(streams[0]) if streams else None
        yield event({}, usage.finish_reason if usage else "length" if count >= limit else "stop")
        if include_usage:
            yield wire.usage_event(reply.id, reply.created, reply.model, usage)
        yield wire.DONE_EVENT
    except Exception as error:  # after the headers: an error event, as OpenAI sends it
        yield wire.error_event(to_api_error(error))
    finally:
        job.cancel()  # a client that went away stops the decoding here


async def _watching(request: Request, job: Job, work: Awaitable[T]) -> T:
    """Await `work`; a client that disconnects meanwhile cancels `job`."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        job.cancel()

    watcher = asyncio.create_task(watch())
    try:
        return await work
    except BaseException:
        job.cancel()
        raise
    finally:
        watcher.cancel()
