"""The assistant's own tools offered to the language model in a voice reply: the model's words
stream out as usual; a reply that is a tool call is run (checked against the tool's schema) and
its result said in the tools' own words (`phrases`: exact, and no second pass of the model). A
call that is not valid gets one retry with the reason; then a plain apology. JSON is never
spoken: what the model writes is only said when it does not begin like a call."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from ..providers import ChatModel, close_stream
from ..types import ChatMessage
from .hermes import MalformedCall, ToolCall, looks_like_call, parse_calls, system_text
from .phrases import phrase
from .registry import Registry, ToolCallError
from .store import ToolStoreError

log = logging.getLogger("assistant.tools")
APOLOGY = {"en": "Sorry, I couldn't do that.", "zh": "抱歉，我没能做到。"}


def offered(registry: Registry, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """`messages` with the tools in the system prompt."""
    rest = list(messages)
    system = rest.pop(0).content if rest and rest[0].role == "system" else None
    return [ChatMessage("system", system_text(system, registry.specs())), *rest]


def stream_with_tools(registry: Registry, chat: ChatModel, messages: Sequence[ChatMessage],
                      language: str | None) -> Iterator[str]:  # fmt: skip
    """The model's reply with `registry`'s tools offered: words only (see the module)."""
    language = "zh" if language == "zh" else "en"
    prompt = offered(registry, messages)
    for attempt in range(2):
        stream = chat.stream_chat(prompt)
        try:
            head, decided = "", None
            for delta in stream:
                head += delta
                if (decided := looks_like_call(head)) is not None:
                    break
            if not decided:  # words: say them as they come
                yield head
                yield from stream
                return
            head += "".join(stream)
        finally:
            close_stream(stream)
        try:
            calls = parse_calls(head, registry.names)
            results = [_run(registry, call) for call in calls]
        except (MalformedCall, ToolCallError) as error:
            log.info("the model's tool call was not valid (%s): %s", error, head[:200])
            if attempt == 0:
                prompt = [*prompt, ChatMessage("assistant", head), ChatMessage(
                    "user", f"That function call is not valid: {error}. Try again, or answer "
                    "in plain words.")]  # fmt: skip
                continue
            yield APOLOGY[language]
            return
        pairs = zip(calls, results, strict=True)
        yield " ".join(phrase(call.name, result, language) for call, result in pairs)
        return


def _run(registry: Registry, call: ToolCall) -> dict[str, Any]:
    try:
        return registry.call(call.name, call.arguments)
    except ToolStoreError as error:
        raise ToolCallError(str(error)) from None
