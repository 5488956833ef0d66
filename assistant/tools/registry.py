"""The tool registry: each tool's name, description (for the model), JSON-schema parameters and
function, the OpenAI `tools` list made from them, and calls checked against the schema."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
          "object": dict, "array": list}  # fmt: skip


class ToolCallError(ValueError):
    """A call that does not fit its tool (unknown name, bad JSON, wrong or missing argument),
    or a tool that could not do what was asked; the message says which."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: Mapping[str, Any]  # a JSON schema of type "object"
    function: Callable[..., dict[str, Any]]  # keyword arguments as the schema names them

    def spec(self) -> dict[str, Any]:
        """The tool as OpenAI's `tools` list has it."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": dict(self.parameters)}}  # fmt: skip


class Registry:
    """Tools by name."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools = {tool.name: tool for tool in tools}

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def schema(self, name: str) -> Mapping[str, Any]:
        """The parameters' JSON schema of tool `name`."""
        return self._tools[name].parameters

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self._tools.values()]

    def call(self, name: str, arguments: Mapping[str, Any] | str) -> dict[str, Any]:
        """Run a tool with `arguments` (a mapping or a JSON object's text), once they are checked
        against its schema. ToolCallError when they do not fit or the tool fails."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolCallError(f"there is no tool '{name}'; the tools are {', '.join(self.names)}")
        checked = check_arguments(tool.parameters, parse_arguments(arguments))
        return tool.function(**checked)


def parse_arguments(arguments: Mapping[str, Any] | str) -> dict[str, Any]:
    """A call's arguments as a dict; ToolCallError for text that is not a JSON object."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as error:
            raise ToolCallError(f"the arguments are not valid JSON ({error.msg})") from None
    if not isinstance(arguments, Mapping):
        raise ToolCallError("the arguments must be a JSON object")
    return dict(arguments)


def check_arguments(schema: Mapping[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """`arguments` checked against an object schema (required, known names, types, enums,
    minimum); numbers given as text are taken as numbers."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", ()) if arguments.get(name) is None]
    if missing:
        raise ToolCallError(f"missing argument(s): {', '.join(missing)}")
    checked = {}
    for name, value in arguments.items():
        if name not in properties:
            raise ToolCallError(f"unknown argument '{name}'; known: {', '.join(properties)}")
        if value is not None:
            checked[name] = _checked_value(name, properties[name], value)
    return checked


def _checked_value(name: str, schema: Mapping[str, Any], value: Any) -> Any:
    kind = schema.get("type")
    if kind in ("number", "integer") and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ToolCallError(f"argument '{name}' must be a number, got {value!r}") from None
    if kind == "integer" and isinstance(value, float) and value.is_integer():
        value = int(value)
    expected = _TYPES.get(kind or "")
    if expected and (not isinstance(value, expected) or
                     (kind != "boolean" and isinstance(value, bool))):  # fmt: skip
        raise ToolCallError(f"argument '{name}' must be of type {kind}, got {value!r}")
    if "enum" in schema and value not in schema["enum"]:
        raise ToolCallError(f"argument '{name}' must be one of {schema['enum']}, got {value!r}")
    if "minimum" in schema and value < schema["minimum"]:
        raise ToolCallError(f"argument '{name}' must be at least {schema['minimum']}")
    return value
