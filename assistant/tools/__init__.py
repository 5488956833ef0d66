"""The assistant's own tools: the time, timers, alarms, notes and arithmetic, with a registry
the model can call, a local matcher that answers common commands without it, their SQLite store
and the scheduler that rings timers."""

from __future__ import annotations

from collections.abc import Callable

from ..config import Config, language_code
from .registry import Registry, Tool, ToolCallError
from .scheduler import Scheduler
from .skills import LocalSkills
from .store import ToolStore, ToolStoreError, tools_path

__all__ = ["LocalSkills", "Registry", "Scheduler", "Tool", "ToolCallError", "ToolStore",
           "ToolStoreError", "open_store", "scheduler_for", "tools_path"]  # fmt: skip


def open_store(config: Config) -> ToolStore | None:
    """The configured store; None when tools are off. ToolStoreError when it cannot be used."""
    if not config.tools.enabled:
        return None
    return ToolStore.open(tools_path(config.tools))


def scheduler_for(
    config: Config,
    store: ToolStore,
    announce: Callable[[str], None],
    chosen: Callable[[], str | None] = lambda: None,
) -> Scheduler:
    """The scheduler that rings `store`'s timers through `announce`, in the language `chosen()`
    at the time (a browser session's own), else the configured one (stt.language)."""

    def language() -> str:
        return "zh" if language_code(chosen() or config.stt.language) == "zh" else "en"

    return Scheduler(store, announce, missed_after_s=config.tools.missed_after_s,
                     language=language)  # fmt: skip
