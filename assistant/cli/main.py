"""The `assistant` command: the root group, its layered configuration, and every command
group registered from its own module."""

from __future__ import annotations

import faulthandler
import os
import sys

import click

from .. import __version__
from ..audio import driver_calls
from ..config import Config, load_config, to_toml
from ..memory import limit_arenas
from .bench import bench
from .chat import chat
from .context import CONTEXT_SETTINGS, CommandGroup, config_of
from .devices import devices
from .history import history
from .models import models
from .serve import serve
from .speech import reply, say, transcribe
from .talk import talk
from .tools import notes, timers
from .voices import voices
from .wake_words import wake_words
from .wyoming import wyoming


@click.group(cls=CommandGroup, context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
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

    With no command in a terminal, starts the voice conversation (`talk`), or, on a machine
    without a microphone, the server with the browser page (`serve`).
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
            _start_interactive(ctx)
        else:
            click.echo(ctx.get_help())


def _start_interactive(ctx: click.Context) -> None:
    """`assistant` alone: talk through the microphone, or serve the browser page without one."""
    from ..audio.devices import DeviceError, find_device

    try:
        find_device(config_of(ctx).audio.input_device, "input")
    except DeviceError as error:
        click.echo(f"{error}\nStarting the browser page instead (or type with `assistant chat`).",
                   err=True)  # fmt: skip
        ctx.invoke(serve)
        return
    ctx.invoke(talk)


@cli.group(cls=CommandGroup)
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective configuration (defaults < file < ASSISTANT_* variables < flags)."""
    click.echo(to_toml(config_of(ctx)), nl=False)


COMMANDS = (
    transcribe, say, reply, chat, talk, devices, voices, wake_words, models, history, timers,
    notes, serve, wyoming, bench,
)  # fmt: skip
for command in COMMANDS:
    cli.add_command(command)


def main() -> None:
    limit_arenas()  # before any engine starts a thread (assistant/memory.py)
    # a crash in an engine's native code (SIGSEGV...) shows where each thread was, not only
    # "Segmentation fault": what a bug report needs (a user's mistake never gets here)
    faulthandler.enable()
    try:
        cli(prog_name="assistant")
    except SystemExit as leaving:
        if driver_calls.abandoned():  # finalizing under a stuck audio driver crashes: leave now
            code = leaving.code if isinstance(leaving.code, int) else 1
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        raise
