"""`assistant voices` (every voice the configured text-to-speech offers, with its languages and
character) and the `--language` option of the commands that hear speech."""

from __future__ import annotations

import re

import click

from ..errors import UsageError
from .context import config_of

_LANGUAGE = re.compile(r"^(auto|[a-z]{2,3}([-_][A-Za-z]{2,4})?)$")


def check_language(
    ctx: click.Context | None, param: click.Parameter | None, value: str | None
) -> str | None:
    """`--language`: "auto" or a language code such as zh, en or pt-BR."""
    if value is None:
        return None
    if not _LANGUAGE.match(value.strip()):
        raise UsageError(
            f"--language '{value}' is not a language code: give one such as zh, en or es, "
            "or 'auto' to detect each turn's language"
        )
    return value.strip()


def language_option(what: str):
    """The `--language CODE|auto` option."""
    return click.option(
        "--language",
        metavar="CODE|auto",
        callback=check_language,
        help=f"Language {what}: a code such as zh or en, or auto to detect it each turn "
        "(default: stt.language, English).",
    )


@click.command()
@click.option("--language", callback=check_language, help="Only voices that speak this language.")
@click.pass_context
def voices(ctx: click.Context, language: str | None) -> None:
    """List the voices (use with --voice, tts.voice or the API's `voice`)."""
    from ..config import voice_map
    from ..providers.local_voices import installed_voices

    config = config_of(ctx)
    if config.tts.provider == "local":
        found = installed_voices(config)
    else:
        from ..providers.loading import load_engines

        found = load_engines(config, tts=True).tts.voices()
    if language:
        found = [voice for voice in found if voice.speaks(language)]
    if not found:
        raise UsageError(
            "no voice is downloaded"
            + (f" that speaks '{language}'" if language else "")
            + ": run `assistant models pull` (with --language CODE for another language)"
        )
    by_language = {voice: code for code, voice in voice_map(config.tts.voices_by_language)}
    width = max(len(voice.id) for voice in found)
    for voice in found:
        marks = [f"default for {by_language[voice.id]}"] if voice.id in by_language else []
        marks += ["default"] if voice.id == config.tts.voice else []
        speakers = f"  speakers: {', '.join(voice.speakers)}" if voice.speakers else ""
        languages = ",".join(voice.languages or (voice.language,))
        note = f"  ({'; '.join(marks)})" if marks else ""
        click.echo(f"{voice.id:<{width}}  {languages:<6} {voice.description}{note}{speakers}")
