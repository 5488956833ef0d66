"""The assistant's own tools as the conversation sees them (`conversation.skills.Skills`): a
sentence the local matcher knows is run as a tool call and its result said in words."""

from __future__ import annotations

from .builtin import Clock, builtin_tools, local_now
from .matcher import match
from .phrases import failure, phrase
from .registry import Registry, ToolCallError
from .store import ToolStore, ToolStoreError


class LocalSkills:
    """Commands answered by the tools, without the language model."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    @classmethod
    def on(cls, store: ToolStore, clock: Clock = local_now) -> LocalSkills:
        return cls(builtin_tools(store, clock))

    def answer(self, text: str, language: str | None = None) -> str | None:
        command = match(text)
        if command is None:
            return None
        try:
            result = self.registry.call(command.tool, command.arguments)
        except (ToolCallError, ToolStoreError) as error:
            return failure(error, command.language)
        return phrase(command.tool, result, command.language)
