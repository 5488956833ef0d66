"""`assistant wake-words` (the wake words a kiosk can wait for) and the `--wake-word` option of
the commands that listen hands-free (`talk`, `serve`)."""

from __future__ import annotations

from dataclasses import replace

import click

from ..config import Config
from .context import config_of

OFF = "off"  # --wake-word off: no wake word, whatever the configuration says


def wake_word_option(command):
    """`--wake-word NAME|off`: wait for NAME before each conversation (conversation.wake_word)."""
    return click.option(
        "--wake-word",
        metavar="NAME|off",
        help="Wait for this wake word (see `assistant wake-words`) before each conversation, "
        "then a chime; after a reply, go on without it for conversation.follow_up_s seconds "
        "(default: conversation.wake_word, off).",
    )(command)


def with_wake_word(config: Config, wake_word: str | None) -> Config:
    """The configuration with `--wake-word` (when given) as conversation.wake_word."""
    if wake_word is None:
        return config
    name = "" if wake_word.strip().lower() == OFF else wake_word
    return replace(config, conversation=replace(config.conversation, wake_word=name))


@click.command("wake-words")
@click.pass_context
def wake_words(ctx: click.Context) -> None:
    """List the wake words (use with --wake-word NAME or conversation.wake_word)."""
    from ..providers.store import ModelStore
    from ..providers.wake_words import wake_word_name, wake_words

    config = config_of(ctx)
    found = wake_words(ModelStore.open(config.models.dir))
    chosen = wake_word_name(config.conversation.wake_word)
    width = max((len(word.name) for word in found), default=0)
    said = max((len(word.phrase) for word in found), default=0) + 6
    for word in found:
        state = "downloaded" if word.downloaded else f"run: assistant models pull {word.model}"
        note = "  (configured)" if word.name == chosen and chosen else ""
        languages = ",".join(word.languages)
        phrase = f"say '{word.phrase}'"
        click.echo(f"{word.name:<{width}}  {phrase:<{said}}  {languages:<20} {state}{note}")
