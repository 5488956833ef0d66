"""Chat completions with tools offered: the model's reply is either words (streamed as they
come) or function calls, returned as OpenAI's `tool_calls` with finish_reason "tool_calls". A
call that is not valid (bad JSON, an unknown function) gets one retry with the reason; then the
question is answered without the tools, so a client never receives a broken call."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from ..providers import Usage, usage_of
from ..tools.hermes import MalformedCall, ToolCall, looks_like_call, parse_calls
from ..types import ChatMessage
from . import wire
from .errors import to_api_error
from .tool_offer import ToolOffer, tool_calls_json
from .workers import Job, ModelWorker

log = logging.getLogger("assistant.server")
Watching = Callable[[Request, Job, Awaitable[Any]], Awaitable[Any]]
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ToolCompletion:
    """One request's completion with `offer`'s tools."""

    def __init__(
        self, request: Request, chat: Any, worker: ModelWorker, params: wire.ChatRequest,
        offer: ToolOffer, watching: Watching,
    ) -> None:  # fmt: skip
        self._request, self._chat, self._worker = request, chat, worker
        self._params, self._offer, self._watching = params, offer, watching
        self.include_usage = params.include_usage  # stream_options.include_usage
        self.offered = offer.messages(params.messages)
        self._streams: list[Any] = []  # every model call of this request, for its usage

    def start(self, messages: Sequence[ChatMessage]) -> Job[str]:
        params = self._params

        def produce() -> Any:
            stream = self._chat.stream_chat(
                messages, max_tokens=params.max_tokens, temperature=params.temperature,
                stop=params.stop or None)  # fmt: skip
            self._streams.append(stream)
            return stream

        return self._worker.submit(produce)

    def usage(self) -> Usage | None:
        """The tokens of every model call this request made (a retry included); None from an
        engine that does not count."""
        counted = [usage_of(stream) for stream in self._streams]
        known = [usage for usage in counted if usage is not None]
        if not known or len(known) < len(counted):
            return None
        return Usage(
            sum(usage.prompt_tokens for usage in known),
            sum(usage.completion_tokens for usage in known),
            known[-1].finish_reason,
        )

    def finish(self, calls: list[ToolCall]) -> str:
        """finish_reason: "tool_calls", else the last model call's own ("stop" or "length")."""
        usage = self.usage()
        return "tool_calls" if calls else usage.finish_reason if usage else "stop"

    async def text(self, messages: Sequence[ChatMessage]) -> str:
        job = self.start(messages)
        return "".join(await self._watching(self._request, job, job.collect()))

    async def settle(self, text: str) -> tuple[str, list[ToolCall]]:
        """A reply that began as a call: its calls, or, when it is not a valid call after one
        retry, a plain answer (text, no calls)."""
        try:
            return "", parse_calls(text, self._offer.names)
        except MalformedCall as error:
            log.info("tool call not valid, retrying: %s", error)
            retry = [*self.offered, ChatMessage("assistant", text), ChatMessage(
                "user", f"That function call is not valid: {error}. Call one of the functions "
                f"offered ({', '.join(self._offer.names)}) with valid JSON arguments, or "
                "answer in plain words.")]  # fmt: skip
            again = await self.text(retry)
        if looks_like_call(again):
            try:
                return "", parse_calls(again, self._offer.names)
            except MalformedCall as error:
                log.info("tool call not valid twice, answering without tools: %s", error)
                return await self.text(self._params.messages), []
        return again.strip(), []


async def tool_completion(
    request: Request, chat: Any, worker: ModelWorker, params: wire.ChatRequest,
    offer: ToolOffer, model: str, watching: Watching,
) -> Response:  # fmt: skip
    completion = ToolCompletion(request, chat, worker, params, offer, watching)
    reply_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not params.stream:
        text = await completion.text(completion.offered)
        calls: list[ToolCall] = []
        if looks_like_call(text):
            text, calls = await completion.settle(text)
        body = wire.completion_body(reply_id, created, model, text.strip(),
                                    completion.finish(calls), completion.usage())  # fmt: skip
        if calls:
            body["choices"][0]["message"].update(content=None, tool_calls=tool_calls_json(calls))
        return JSONResponse(body)
    job = completion.start(completion.offered)
    first = await watching(request, job, job.first())
    events = _events(completion, job, first, reply_id, created, model)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


async def _events(completion: ToolCompletion, job: Job[str], first: str | None, reply_id: str,
                  created: int, model: str) -> AsyncIterator[str]:  # fmt: skip
    include_usage = completion.include_usage

    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        return wire.chunk_event(reply_id, created, model, delta, finish, with_usage=include_usage)

    try:
        yield event({"role": "assistant", "content": ""})
        head = first or ""
        decided = looks_like_call(head)
        if decided is None:  # read until the beginning says call or words
            async for delta in job:
                head += delta
                if (decided := looks_like_call(head)) is not None:
                    break
        if decided:  # a call: all of it is needed before it can be checked
            head += "".join([delta async for delta in job])
            text, calls = await completion.settle(head)
            if calls:
                yield event({"tool_calls": tool_calls_json(calls, streamed=True)})
            else:
                yield event({"content": text})
            yield event({}, completion.finish(calls))
        else:  # words: stream them as they come
            if head.strip():
                yield event({"content": head.lstrip()})
            async for delta in job:
                yield event({"content": delta})
            yield event({}, completion.finish([]))
        if include_usage:
            yield wire.usage_event(reply_id, created, model, completion.usage())
        yield wire.DONE_EVENT
    except Exception as error:  # after the headers: an error event, as OpenAI sends it
        yield wire.error_event(to_api_error(error))
    finally:
        job.cancel()
