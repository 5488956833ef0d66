"""`assistant timers` and `assistant notes`: the timers, alarms and lists the assistant keeps
(set by voice or here), and opening the tools for the commands that talk."""

from __future__ import annotations

from datetime import datetime

import click

from ..config import Config
from ..errors import UsageError
from ..tools import LocalSkills, ToolStore, open_store
from ..tools.numbers import parse_duration, say_duration
from ..tools.registry import ToolCallError
from ..tools.store import ToolStoreError
from .context import config_of


def tool_store(config: Config) -> ToolStore | None:
    """The timers and notes for a conversation; None when tools are off or the store cannot be
    opened (said once on stderr: the conversation goes on without them)."""
    try:
        return open_store(config)
    except ToolStoreError as error:
        click.echo(f"warning: {error}. Timers and notes are off this time.", err=True)
        return None


def local_skills(config: Config, store: ToolStore | None) -> LocalSkills | None:
    """The tools for a conversation: commands answered without the model, and (with
    tools.model_tools) offered to it; None when tools are off or both switches are."""
    tools = config.tools
    if store is None or not (tools.local_commands or tools.model_tools):
        return None
    return LocalSkills.on(store, local_commands=tools.local_commands,
                          model_tools=tools.model_tools)  # fmt: skip


def _store(ctx: click.Context) -> ToolStore:
    store = open_store(config_of(ctx))
    if store is None:
        raise UsageError("tools are off (tools.enabled = false)")
    ctx.call_on_close(store.close)
    return store


def _calling(store: ToolStore, name: str, **arguments) -> dict:
    try:
        return LocalSkills.on(store).registry.call(name, arguments)
    except ToolCallError as error:
        raise UsageError(str(error)) from None


@click.group()
def timers() -> None:
    """Timers and alarms (set by voice, or here); they ring in `talk` and the browser page.

    Kept in tools.path, by default $XDG_DATA_HOME/assistant/tools.db, so they survive a restart.
    """


@timers.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also those rung, missed or cancelled.")
@click.pass_context
def list_timers(ctx: click.Context, show_all: bool) -> None:
    """ID, kind, when it rings, time left, name."""
    found = _store(ctx).timers(pending_only=not show_all)
    if not found:
        click.echo("no timers or alarms", err=True)
    for timer in found:
        at = datetime.fromtimestamp(timer.due_at).strftime("%Y-%m-%d %H:%M:%S")
        left = say_duration(timer.left()) + " left" if timer.state == "pending" else timer.state
        click.echo(f"{timer.id:>5}  {timer.kind:<5}  {at}  {left:<24}  {timer.label}")


@timers.command("add")
@click.argument("duration")
@click.option("--label", default="", help="A name, said when it rings.")
@click.pass_context
def add_timer(ctx: click.Context, duration: str, label: str) -> None:
    """Start a timer for DURATION ("10 minutes", "90 seconds", "1 hour 30 minutes")."""
    seconds = parse_duration(duration)
    if seconds is None:
        raise UsageError(f"'{duration}' is not a duration; write e.g. '10 minutes' or '90 seconds'")
    result = _calling(_store(ctx), "start_timer", seconds=seconds, label=label)
    click.echo(f"timer {result['id']} set for {say_duration(seconds)}")


@timers.command("alarm")
@click.argument("clock")
@click.option("--label", default="", help="What to be reminded of.")
@click.pass_context
def add_alarm(ctx: click.Context, clock: str, label: str) -> None:
    """Set an alarm at CLOCK (HH:MM, or e.g. "6 pm"): today, or tomorrow if that has passed."""
    result = _calling(_store(ctx), "set_alarm", time=clock, label=label)
    click.echo(f"alarm {result['id']} set for {result['at']} {result['day']}")


@timers.command("cancel")
@click.argument("ids", metavar="[ID]...", type=int, nargs=-1)
@click.option("--all", "cancel_all", is_flag=True, help="Cancel every timer and alarm.")
@click.pass_context
def cancel(ctx: click.Context, ids: tuple[int, ...], cancel_all: bool) -> None:
    """Cancel timers or alarms by ID (see `assistant timers list`), or --all."""
    store = _store(ctx)
    if not ids and not cancel_all:
        raise UsageError("name the IDs to cancel (see `assistant timers list`), or give --all")
    chosen = [t.id for t in store.timers()] if cancel_all else list(ids)
    missing = [i for i in chosen if not store.set_state(i, "cancelled")]
    click.echo(f"cancelled {len(chosen) - len(missing)}")
    if missing:
        raise UsageError(f"no running timer or alarm with ID {', '.join(map(str, missing))}")


@click.group()
def notes() -> None:
    """Lists kept by voice ("add milk to my shopping list") or here; `shopping` by default."""


_LIST_OPTION = click.option("--list", "list_name", default="shopping", show_default=True,
                            help="Which list.")  # fmt: skip


@notes.command("list")
@click.option("--list", "list_name", default=None, help="Only this list (default: all).")
@click.pass_context
def list_notes(ctx: click.Context, list_name: str | None) -> None:
    """ID, list, text."""
    found = _store(ctx).notes(list_name)
    if not found:
        click.echo("no notes", err=True)
    for note in found:
        click.echo(f"{note.id:>5}  {note.list:<10}  {note.text}")


@notes.command("add")
@click.argument("text", nargs=-1, required=True)
@_LIST_OPTION
@click.pass_context
def add_note(ctx: click.Context, text: tuple[str, ...], list_name: str) -> None:
    """Add TEXT to a list."""
    result = _calling(_store(ctx), "add_note", text=" ".join(text), list=list_name)
    click.echo(f"note {result['id']} added to {result['list']}")


@notes.command("remove")
@click.argument("ids", metavar="ID...", type=int, nargs=-1, required=True)
@click.pass_context
def remove_notes(ctx: click.Context, ids: tuple[int, ...]) -> None:
    """Delete notes by ID (see `assistant notes list`)."""
    store = _store(ctx)
    missing = [i for i in ids if not store.remove_note(note_id=i)]
    click.echo(f"removed {len(ids) - len(missing)}")
    if missing:
        raise UsageError(f"no note with ID {', '.join(map(str, missing))}")


@notes.command("clear")
@_LIST_OPTION
@click.pass_context
def clear(ctx: click.Context, list_name: str) -> None:
    """Delete every note of a list."""
    removed = _store(ctx).clear_notes(list_name)
    click.echo(f"removed {removed} from {list_name}")
