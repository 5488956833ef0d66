"""The assistant's own tools as the conversation sees them (`conversation.skills.Skills`): a
sentence the local matcher knows is run as a tool call and its result said in words."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..providers import ChatModel
from ..types import ChatMessage
from .builtin import Clock, builtin_tools, local_now
from .matcher import match
from .model_tools import offered, stream_with_tools
from .phrases import failure, phrase
from .registry import Registry, ToolCallError
from .store import ToolStore, ToolStoreError


class LocalSkills:
    """Commands answered by the tools without the language model (`local_commands`), and the
    tools offered to the model (`model_tools`)."""

    def __init__(self, registry: Registry, *, local_commands: bool = True,
                 model_tools: bool = False) -> None:  # fmt: skip
        self.registry = registry
        self.local_commands, self.model_tools = local_commands, model_tools

    @classmethod
    def on(cls, store: ToolStore, clock: Clock = local_now, **switches: bool) -> LocalSkills:
        return cls(builtin_tools(store, clock), **switches)

    def stream_chat(self, chat: ChatModel, messages: Sequence[ChatMessage],
                    language: str | None) -> Iterator[str] | None:  # fmt: skip
        if not self.model_tools:
            return None
        return stream_with_tools(self.registry, chat, messages, language)

    def model_prompt(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        return offered(self.registry, messages) if self.model_tools else list(messages)

    def command(self, text: str, language: str | None = None) -> Callable[[], str] | None:
        found = match(text) if self.local_commands else None
        if found is None:
            return None

        def carry_out() -> str:
            try:
                result = self.registry.call(found.tool, found.arguments)
            except (ToolCallError, ToolStoreError) as error:
                return failure(error, found.language)
            return phrase(found.tool, result, found.language)

        return carry_out

    def answer(self, text: str, language: str | None = None) -> str | None:
        """`command` carried out at once: the spoken answer, or None for no command."""
        action = self.command(text, language)
        return None if action is None else action()
