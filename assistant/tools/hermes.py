"""Tool calls in the text a model writes, in the format Qwen2.5's chat template (and the Hermes
models before it) teaches: the tools listed as JSON inside <tools></tools> in the system prompt,
each call written as <tool_call>{"name": ..., "arguments": {...}}</tool_call>, each result given
back as <tool_response>...</tool_response>. Plain text in and out, so any chat model can be
offered tools, locally or behind an OpenAI-compatible endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_SYSTEM = "You are a helpful assistant."
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")
CALL_START = "<tool_call>"


class MalformedCall(ValueError):
    """Text that was meant as a tool call but is not one; the message says what is wrong."""


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    def arguments_json(self) -> str:
        return json.dumps(self.arguments, ensure_ascii=False)


def system_text(system: str | None, specs: Sequence[Mapping[str, Any]], *,
                required: bool = False) -> str:  # fmt: skip
    """The system prompt with the tools offered (OpenAI `tools` entries), as Qwen2.5 renders it."""
    listed = "\n".join(json.dumps(spec, ensure_ascii=False) for spec in specs)
    text = (
        f"{system or DEFAULT_SYSTEM}\n\n# Tools\n\nYou may call one or more functions to assist "
        "with the user query.\n\nYou are provided with function signatures within <tools></tools> "
        f"XML tags:\n<tools>\n{listed}\n</tools>\n\nFor each function call, return a json object "
        "with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )
    if required:
        text += "\n\nYou must answer with a function call."
    return text


def call_text(calls: Sequence[ToolCall]) -> str:
    """An assistant turn that made `calls`, as the model writes it."""
    return "\n".join(
        f'<tool_call>\n{{"name": {json.dumps(c.name)}, "arguments": {c.arguments_json()}}}\n'
        "</tool_call>"
        for c in calls
    )


def response_text(results: Sequence[str]) -> str:
    """Tool results given back to the model (as a user turn, as Qwen's template does)."""
    return "\n".join(f"<tool_response>\n{result}\n</tool_response>" for result in results)


def looks_like_call(text: str) -> bool | None:
    """Whether a reply's beginning is a tool call: True, False, or None (too early to say)."""
    start = text.lstrip()
    if not start:
        return None
    for opening in (CALL_START, "```json", '{"name"'):
        if start.startswith(opening):
            return True
        if opening.startswith(start):
            return None
    return False


def _balanced(body: str) -> str:
    """A call whose last braces the model left off (small models often do), closed."""
    missing = body.count("{") - body.count("}")
    return body + "}" * missing if 0 < missing <= 2 and body.startswith("{") else body


def parse_calls(text: str, known: Sequence[str]) -> list[ToolCall]:
    """The calls in a reply that `looks_like_call`; MalformedCall when one is not valid JSON
    of a known function's name and an arguments object."""
    bodies = _CALL.findall(text) or [text.strip()]
    calls = []
    for body in bodies:
        body = _balanced(_FENCE.sub("", body.strip()))
        try:
            raw = json.loads(body)
        except json.JSONDecodeError as error:
            raise MalformedCall(f"the call is not valid JSON ({error.msg}): {body[:80]}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise MalformedCall('a call must be a JSON object with a "name"')
        if raw["name"] not in known:
            raise MalformedCall(f"there is no function '{raw['name']}'")
        arguments = raw.get("arguments", raw.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError:
                raise MalformedCall("the arguments are not a JSON object") from None
        if not isinstance(arguments, dict):
            raise MalformedCall("the arguments are not a JSON object")
        calls.append(ToolCall(raw["name"], arguments))
    return calls
