"""A browser session's own settings: its wake word and its language, chosen from what this server
has installed. The `settings` message is checked whole before anything changes (an unknown value
is a clear error and the session goes on) and applies from the next turn."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..config import language_code
from ..conversation.engine import Conversation
from ..conversation.wake import WakeWordDetector
from ..errors import AssistantError
from ..providers.catalog import ModelEntry
from ..types import Voice

OFF = "off"  # no wake word: every turn is heard
AUTO = "auto"  # each turn in the language it is spoken in (as the server is configured)
KEYS = ("wake_word", "language")


class SettingsError(ValueError):
    """A settings message with a value this server does not offer."""


@dataclass(frozen=True)
class SessionChoices:
    """What a session may choose: the downloaded wake words and the languages heard and spoken."""

    wake_words: Mapping[str, str]  # name -> phrase ("hey_jarvis" -> "Hey Jarvis")
    languages: tuple[str, ...]  # ISO 639-1 codes, "auto" not included
    load_wake_word: Callable[[str], WakeWordDetector]

    def offered(self) -> dict[str, Any]:
        """For the `ready` message: the pickers' choices."""
        words = [{"name": name, "phrase": phrase} for name, phrase in self.wake_words.items()]
        return {"wake_words": words, "languages": [AUTO, *self.languages]}

    def current(self, conversation: Conversation) -> dict[str, Any]:
        """The session's settings now, as the `settings` message reports them."""
        phrase = conversation.wake_phrase
        name = next((n for n, p in self.wake_words.items() if p == phrase and phrase), OFF)
        language = conversation.options.language or AUTO
        return {"type": "settings", "wake_word": name, "wake_phrase": phrase, "language": language}

    def apply(self, conversation: Conversation, message: Mapping[str, Any]) -> None:
        """Check every value of a `settings` message, then apply them (SettingsError: none)."""
        unknown = [key for key in message if key not in (*KEYS, "type")]
        if unknown or not any(key in message for key in KEYS):
            raise SettingsError(
                f"settings takes wake_word and/or language, not {', '.join(unknown) or 'nothing'}"
            )
        word, language = message.get("wake_word"), message.get("language")
        if "wake_word" in message and word not in (OFF, *self.wake_words):
            raise SettingsError(_unknown("wake word", word, [OFF, *self.wake_words]))
        if "language" in message and language not in (AUTO, *self.languages):
            raise SettingsError(_unknown("language", language, [AUTO, *self.languages]))
        if "wake_word" in message:
            try:  # a damaged model file is refused, not run
                detector = None if word == OFF else self.load_wake_word(word)
            except AssistantError as error:
                raise SettingsError(f"the wake word {word} cannot be used: {error}") from None
            conversation.set_wake_word(detector)
        if "language" in message:
            conversation.change(language=None if language == AUTO else language)


def _unknown(what: str, value: Any, known: Sequence[str]) -> str:
    return f"unknown {what} {value!r}. Available: {', '.join(known)}"


def session_languages(voices: Sequence[Voice], stt: ModelEntry | None) -> tuple[str, ...]:
    """The languages a session can choose: spoken by an installed voice and heard by the
    speech-to-text model (`stt` None: not in the catalog, a remote endpoint's: any); English
    first."""
    spoken = {language_code(code) for v in voices for code in (v.language, *v.languages)}
    heard = [code for code in spoken if code and (stt is None or stt.speaks(code))]
    return tuple(sorted(heard, key=lambda code: (code != "en", code)))
