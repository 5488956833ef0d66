"""OpenAI `tools` and `tool_choice` on /v1/chat/completions, read and checked: the tools the
client offers, the messages that carry earlier calls and their results (rewritten as the text
the model reads, see tools.hermes), and the `tool_calls` parts of a response."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..tools.hermes import ToolCall, call_text, response_text, system_text
from ..types import ChatMessage
from .errors import bad_request

CHOICES = ("none", "auto", "required")


@dataclass(frozen=True)
class ToolOffer:
    """The functions the model may call for one request."""

    specs: tuple[dict[str, Any], ...]
    required: bool = False  # tool_choice "required", or one named function

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec["function"]["name"] for spec in self.specs)

    def messages(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """`messages` with the tools offered in the system prompt."""
        rest = list(messages)
        system = rest.pop(0).content if rest and rest[0].role == "system" else None
        offered = system_text(system, self.specs, required=self.required)
        return [ChatMessage("system", offered), *rest]


def read_tools(body: Any) -> tuple[Any, ToolOffer | None]:
    """The body with tool messages rewritten as plain ones, and the offer (None when no tools
    are offered or tool_choice is "none"). A 400 names what is wrong."""
    if not isinstance(body, dict):
        return body, None
    tools, choice = body.get("tools"), body.get("tool_choice", "auto")
    body = {k: v for k, v in body.items() if k not in ("tools", "tool_choice",
                                                        "parallel_tool_calls")}  # fmt: skip
    if isinstance(body.get("messages"), list):
        body["messages"] = [_plain(m, i) for i, m in enumerate(body["messages"])]
    if tools is None:
        if choice not in (None, "none", "auto"):
            raise bad_request("'tool_choice' needs 'tools' to choose from", "tool_choice")
        return body, None
    if not isinstance(tools, list) or not tools:
        raise bad_request("'tools' must be a non-empty array of function tools", "tools")
    specs = tuple(_spec(tool, i) for i, tool in enumerate(tools))
    if choice == "none":
        return body, None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" \
            else None  # fmt: skip
        chosen = tuple(s for s in specs if s["function"]["name"] == name)
        if not chosen:
            raise bad_request(f"'tool_choice' names no offered function ({name!r})",
                              "tool_choice")  # fmt: skip
        return body, ToolOffer(chosen, required=True)
    if choice not in CHOICES:
        raise bad_request(
            f"'tool_choice' must be one of {', '.join(CHOICES)} or "
            '{"type": "function", "function": {"name": ...}}',
            "tool_choice",
        )
    return body, ToolOffer(specs, required=choice == "required")


def _spec(tool: Any, index: int) -> dict[str, Any]:
    param = f"tools[{index}]"
    function = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(tool, dict) or tool.get("type") != "function" or \
            not isinstance(function, dict):  # fmt: skip
        raise bad_request(f'{param} must be {{"type": "function", "function": {{...}}}}', param)
    name = function.get("name")
    if not isinstance(name, str) or not name or len(name) > 64:
        raise bad_request(f"{param}.function.name must be a name of 1 to 64 characters",
                          f"{param}.function.name")  # fmt: skip
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict):
        raise bad_request(f"{param}.function.parameters must be a JSON schema object",
                          f"{param}.function.parameters")  # fmt: skip
    spec = {"name": name, "description": str(function.get("description", "")),
            "parameters": parameters}  # fmt: skip
    return {"type": "function", "function": spec}


def _plain(message: Any, index: int) -> Any:
    """A tool result, or an assistant turn that made calls, as the text the model reads."""
    if not isinstance(message, dict):
        return message
    if message.get("role") == "tool":
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            raise bad_request(f"messages.[{index}].content of a tool message must be a string",
                              f"messages.[{index}].content")  # fmt: skip
        return {"role": "user", "content": response_text([content])}
    calls = message.get("tool_calls")
    if message.get("role") == "assistant" and calls:
        return {"role": "assistant",
                "content": "\n".join(filter(None, [message.get("content") or "",
                                                   call_text(_calls(calls, index))]))}  # fmt: skip
    return message


def _calls(raw: Any, index: int) -> list[ToolCall]:
    param = f"messages.[{index}].tool_calls"
    if not isinstance(raw, list):
        raise bad_request(f"{param} must be an array", param)
    calls = []
    for call in raw:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"{param}: each call needs function.name and .arguments", param)
        arguments = function.get("arguments") or "{}"
        calls.append(ToolCall(function["name"], _arguments(arguments, param)))
    return calls


def _arguments(arguments: Any, param: str) -> dict[str, Any]:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = json.loads(arguments)
    except (TypeError, json.JSONDecodeError):
        raise bad_request(f"{param}: function.arguments must be a JSON object's text",
                          param) from None  # fmt: skip
    if not isinstance(parsed, dict):
        raise bad_request(f"{param}: function.arguments must be a JSON object's text", param)
    return parsed


def tool_calls_json(calls: Sequence[ToolCall], *, streamed: bool = False) -> list[dict[str, Any]]:
    """The `tool_calls` of a message (or, streamed, of one delta, each with its index)."""
    out = []
    for index, call in enumerate(calls):
        item = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json()},
        }
        out.append({"index": index, **item} if streamed else item)
    return out
