"""What every command shares: the layered configuration, the group class that turns an
AssistantError into one line and its exit code, and writing an output WAV."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from ..audio.codec import write_wav
from ..config import Config
from ..errors import AssistantError
from ..providers.tiers import resolve_models
from ..types import AudioChunk

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class Failure(click.ClickException):
    """An AssistantError shown as "Error: message", with its exit code and no traceback."""

    def __init__(self, error: AssistantError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class CommandGroup(click.Group):
    """A group whose commands' AssistantErrors become `Failure`s."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssistantError as error:
            raise Failure(error) from None


def keep_audio_option(what: str):
    """The `--keep-audio DIR` option (audio is never written unless asked for)."""
    return click.option(
        "--keep-audio",
        type=click.Path(file_okay=False, path_type=Path),
        metavar="DIR",
        help=f"Keep {what} as WAV files in DIR (off by default).",
    )


def config_of(ctx: click.Context, *, language: str | None = None) -> Config:
    """The configuration: defaults < file < ASSISTANT_* variables < --set flags (loaded once),
    with `language` (when given) as stt.language and every empty model name the tier's."""
    config = ctx.find_root().meta["config"]()
    if language is not None:
        config = replace(config, stt=replace(config.stt, language=language))
    return resolve_models(config)


def write_output_wav(path: Path, audio: AudioChunk) -> None:
    """Write a command's WAV output; a path that cannot be written is the user's error."""
    try:
        write_wav(path, audio)
    except OSError as error:
        raise AssistantError(f"cannot write {path}: {error.strerror or error}") from None
