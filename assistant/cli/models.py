"""`assistant models list|pull|add`: the catalog and its tiers, downloads (PyPI wheels or the
Hugging Face hub), and the user's own models."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import MODEL_SOURCES, MODEL_TIERS, Config
from ..errors import UsageError
from ..providers.catalog import ModelEntry
from ..providers.hub import PIPER_PREFIX, Hub, piper_voices, pull_from_hub, pull_piper_voice
from ..providers.local import add_model
from ..providers.store import ModelStore, pull
from .context import CommandGroup, config_of

_SOURCE = click.option(
    "--source",
    type=click.Choice(MODEL_SOURCES),
    help="Where to fetch from (default: models.source). huggingface uses models.hub_endpoint.",
)


@click.group(cls=CommandGroup)
def models() -> None:
    """List, download and add models (downloads only here; nothing at run time)."""


@models.command("list")
@_SOURCE
@click.option(
    "--voices", "piper", is_flag=True, help="With --source huggingface: the Piper voices."
)
@click.option("--language", metavar="CODE", default="", help="Only models or voices for CODE.")
@click.pass_context
def models_list(ctx: click.Context, source: str | None, piper: bool, language: str) -> None:
    """Show every model: role, tiers, size, languages, licence, measured speed, downloaded or not.

    A `*` marks what the configured tier uses (models.tier, for stt.language)."""
    config = config_of(ctx)
    if piper:
        if (source or config.models.source) != "huggingface":
            raise UsageError(
                "--voices lists the hub's Piper voice collection: add --source huggingface"
            )
        _list_piper_voices(config, language)
        return
    store = ModelStore.open(config.models.dir)
    used = {e.name for e in store.catalog.tier_set(config.models.tier, config.stt.language)}
    click.echo(f"models directory: {store.root}   tier: {config.models.tier}   * = used by it")
    click.echo(
        f"  {'name':28} {'role':6} {'tiers':19} {'size':>9}  {'languages':14} "
        f"{'license':20} {'state':10} speed"
    )
    for entry in store.catalog.models:
        if language and not entry.speaks(language):
            continue
        mark = "*" if entry.name in used else " "
        click.echo(
            f"{mark} {entry.name:28} {entry.role:6} {_tiers(entry):19} {_size(entry):>9}  "
            f"{_languages(entry):14} {entry.license or '?':20} {_state(store, entry):10} "
            f"{entry.speed or '-'}"
        )


def _tiers(entry: ModelEntry) -> str:
    if entry.local:
        return "(yours)"
    return ",".join(entry.tiers) or "(optional)"


def _size(entry: ModelEntry) -> str:
    approximate = "~" if any(not f.sha256 for f in entry.files) else ""
    megabytes = entry.size / 1e6
    digits = 1 if megabytes < 1 else 0  # a recording set of 0.3 MB is not "0 MB"
    return f"{approximate}{megabytes:.{digits}f} MB"


def _languages(entry: ModelEntry) -> str:
    shown = entry.languages[:3]
    more = f"+{len(entry.languages) - 3}" if len(entry.languages) > 3 else ""
    return ",".join(shown) + more or "?"


def _state(store: ModelStore, entry: ModelEntry) -> str:
    if store.is_present(entry):
        return "downloaded"
    return "missing" if entry.on_pypi or entry.local else "hub only"


def _list_piper_voices(config: Config, language: str) -> None:
    voices = piper_voices(Hub(config.models.hub_endpoint), language)
    if not voices:
        raise UsageError(f"the Piper collection has no voice for language '{language}'")
    click.echo(f"{len(voices)} Piper voices at {config.models.hub_endpoint}/rhasspy/piper-voices")
    for voice in voices:
        speakers = f", {voice.speakers} speakers" if voice.speakers > 1 else ""
        click.echo(
            f"{voice.key:36} {voice.language:6} {voice.language_name:24} {voice.quality:7} "
            f"{voice.size / 1e6:6.1f} MB{speakers}"
        )


@models.command("pull")
@click.argument("names", nargs=-1)
@click.option(
    "--tier", type=click.Choice(MODEL_TIERS), help="That tier's set (default: models.tier)."
)
@click.option(
    "--language", metavar="CODE", help="Also what CODE needs (e.g. zh: multilingual STT, a voice)."
)
@click.option(
    "--all", "everything", is_flag=True, help="Every model in the catalog from this source."
)
@_SOURCE
@click.option("-q", "--quiet", is_flag=True, help="Say nothing when every model is already there.")
@click.pass_context
def models_pull(
    ctx: click.Context,
    names: tuple[str, ...],
    tier: str | None,
    language: str | None,
    everything: bool,
    source: str | None,
    quiet: bool,
) -> None:
    """Download and verify NAMES (default: the configured tier's set). A second run does nothing.

    With --source huggingface, piper:VOICE fetches a voice of the Piper collection (see
    `assistant models list --source huggingface --voices`)."""
    config = config_of(ctx)
    source = source or config.models.source
    store = ModelStore.open(config.models.dir)
    if everything:
        on_source = (lambda e: e.on_hub) if source == "huggingface" else (lambda e: e.on_pypi)
        names = tuple(e.name for e in store.catalog.models if on_source(e) and not e.local)
    voices = [n.removeprefix(PIPER_PREFIX) for n in names if n.startswith(PIPER_PREFIX)]
    names = tuple(n for n in names if not n.startswith(PIPER_PREFIX))
    if voices and source != "huggingface":
        raise UsageError(
            "piper:VOICE names a voice of the hub's collection: add --source huggingface"
        )
    for name in names:
        store.catalog.get(name)  # unknown names fail before anything is downloaded
    tier = tier or config.models.tier
    language = config.stt.language if language is None else language
    entries = (
        [store.catalog.get(n) for n in names] if names else store.catalog.tier_set(tier, language)
    )

    def report(line: str) -> None:
        if not (quiet and "already present" in line):
            click.echo(line, err=True)

    if voices:
        hub = Hub(config.models.hub_endpoint)
        for key in voices:
            pull_piper_voice(store, hub, key, report=report, progress=_progress)
        click.echo(f"voices ready: {', '.join(voices)} (use with --voice NAME)")
        if not names:
            return
    if source == "huggingface":
        hub = Hub(config.models.hub_endpoint)
        fetched = pull_from_hub(store, entries, hub, report=report, progress=_progress)
    else:
        fetched = pull(store, [e.name for e in entries], report=report, progress=_progress)
    if fetched:
        click.echo(f"pulled: {', '.join(fetched)}")
    elif not quiet:
        click.echo("all models present; nothing downloaded")


@models.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default="", help="The model's name (default: from the file name).")
@click.pass_context
def models_add(ctx: click.Context, path: Path, name: str) -> None:
    """Add your own model: a GGUF language model, a Piper voice (.onnx with its .onnx.json) or a
    CTranslate2 Whisper directory. It is checked, copied into the models directory and recorded
    in its local.toml; use it with --set llm.model=NAME, stt.model=NAME or --voice NAME."""
    store = ModelStore.open(config_of(ctx).models.dir)
    entry = add_model(store, path, name)
    setting = {"stt": "stt.model", "llm": "llm.model", "tts": "tts.voice"}[entry.role]
    click.echo(f"added {entry.name}: {entry.description}, {entry.size / 1e6:.1f} MB")
    click.echo(f"use it with: assistant --set {setting}={entry.name} ...")


def _progress(name: str, done: int, total: int) -> None:
    """A progress line redrawn in place, on a terminal only (logs get the per-file summary)."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        click.echo(
            f"\r  {name}: {100 * done // max(total, 1):3d}% of {total / 1e6:.1f} MB{end}",
            err=True,
            nl=False,
        )
