"""`assistant history`: list, show, export, search, delete and rate the saved conversations."""

from __future__ import annotations

from pathlib import Path

import click

from ..audio.codec import write_atomically
from ..errors import AssistantError, UsageError
from ..history.export import FORMATS, local_time, render, title_of
from ..history.records import History, SavedConversation
from ..history.store import DisabledHistory, SQLiteHistory, history_path
from .context import config_of

SPEAKER = {"user": "you", "assistant": "assistant"}


@click.group()
def history() -> None:
    """The saved conversations (transcripts only: audio is never kept unless asked).

    They live in a local SQLite file: history.path, by default
    $XDG_DATA_HOME/assistant/history.db. Set history.enabled = false to save nothing, and
    history.max_days to delete old conversations.
    """


def _open(ctx: click.Context) -> History:
    """The history file, if one was ever written (reading it never creates one)."""
    config = config_of(ctx).history
    path = history_path(config)
    if not path.exists():
        store: History = DisabledHistory(f"nothing has been saved yet ({path} does not exist)")
    else:
        store = SQLiteHistory.open(path, max_days=config.max_days)
    ctx.call_on_close(store.close)
    return store


@history.command("list")
@click.option(
    "-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most N."
)
@click.pass_context
def list_conversations(ctx: click.Context, limit: int) -> None:
    """The most recent conversations first: ID, last activity, turns, title."""

    store = _open(ctx)
    if not config_of(ctx).history.enabled:
        click.echo("(history is off: new conversations are not saved)", err=True)
    summaries = store.conversations(limit)
    if not summaries:
        click.echo("no saved conversations", err=True)
    for summary in summaries:
        click.echo(
            f"{summary.id:>5}  {local_time(summary.updated_at)}  "
            f"{_count(summary.turns, 'turn'):>9}  {summary.title}"
        )


@history.command()
@click.argument("conversation_id", metavar="ID", type=int)
@click.pass_context
def show(ctx: click.Context, conversation_id: int) -> None:
    """One conversation, turn by turn, with turn ids (for feedback), timings and models."""
    click.echo(_details(_open(ctx).conversation(conversation_id)), nl=False)


@history.command()
@click.argument("conversation_id", metavar="ID", type=int)
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (default: standard output).",
)
@click.pass_context
def export(ctx: click.Context, conversation_id: int, fmt: str, output: Path | None) -> None:
    """Write one conversation as Markdown, JSON (every saved field) or plain text."""
    text = render(_open(ctx).conversation(conversation_id), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(output, text.encode("utf-8"))
    except OSError as error:
        raise AssistantError(f"cannot write {output}: {error.strerror or error}") from None
    click.echo(f"wrote {output}", err=True)


@history.command()
@click.argument("words", nargs=-1, required=True)
@click.option("-n", "--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_context
def search(ctx: click.Context, words: tuple[str, ...], limit: int) -> None:
    """Turns containing WORDS (any case), newest first: conversation ID, turn id, text."""
    hits = _open(ctx).search(" ".join(words), limit)
    if not hits:
        click.echo("nothing found", err=True)
    for hit in hits:
        click.echo(
            f"{hit.conversation_id:>5}  #{hit.turn_id:<5} {local_time(hit.started_at)}  "
            f"{SPEAKER[hit.role]}: {hit.text}"
        )


@history.command()
@click.argument("conversation_id", metavar="[ID]", type=int, required=False)
@click.option("--all", "everything", is_flag=True, help="Delete every saved conversation.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask before deleting everything.")
@click.pass_context
def delete(ctx: click.Context, conversation_id: int | None, everything: bool, yes: bool) -> None:
    """Delete conversation ID (with its turns and feedback), or --all of them."""
    if everything == (conversation_id is not None):
        raise UsageError("give one conversation ID, or --all")
    store = _open(ctx)
    if conversation_id is not None:
        store.delete(conversation_id)
        click.echo(f"deleted conversation {conversation_id}")
        return
    if store.enabled and not yes:
        click.confirm("Delete every saved conversation? This cannot be undone", abort=True)
    click.echo(f"deleted {_count(store.delete_all(), 'conversation')}")


@history.command()
@click.argument("turn_id", type=int)
@click.argument("rating", type=click.Choice(["up", "down"]))
@click.option("--comment", default="", help="What was good or wrong about the answer.")
@click.pass_context
def feedback(ctx: click.Context, turn_id: int, rating: str, comment: str) -> None:
    """Rate the assistant's turn TURN_ID (see `history show`) thumbs up or down."""
    _open(ctx).set_feedback(turn_id, 1 if rating == "up" else -1, comment)
    click.echo(f"saved: thumbs {rating} on turn {turn_id}")


def _details(conversation: SavedConversation) -> str:
    lines = [
        f"conversation {conversation.id}: {title_of(conversation)}",
        f"started {local_time(conversation.started_at)}, "
        f"last turn {local_time(conversation.updated_at)}",
    ]
    lines += [f"{key}: {value}" for key, value in conversation.meta.items()]
    lines.append("")
    for turn in conversation.turns:
        record = turn.record
        flag = "  [interrupted]" if record.interrupted else ""
        clock = local_time(record.started_at)[11:]
        lines.append(f"#{turn.id:<5} {clock}  {SPEAKER[record.role]}: {record.text}{flag}")
        notes = []
        if record.role == "assistant" and record.generated != record.text:
            notes.append(f"generated: {record.generated}")
        models = [m for m in (record.stt_model, record.llm_model, record.voice) if m]
        timings = [f"{stage} {ms:.0f} ms" for stage, ms in record.latencies.items()]
        if models or timings:
            notes.append(", ".join(models + timings))
        if turn.feedback:
            verdict = "up" if turn.feedback.rating > 0 else "down"
            comment = f": {turn.feedback.comment}" if turn.feedback.comment else ""
            notes.append(f"feedback: thumbs {verdict}{comment}")
        lines += [f"{'':22}{note}" for note in notes]
    return "\n".join(lines) + "\n"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
