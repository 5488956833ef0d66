"""The language of a turn: which voice speaks the answer, and the line that tells the model to
answer in it (each turn is answered in the language it was spoken in)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..config import language_code
from ..text import has_cjk
from ..types import ChatMessage, Voice

# ISO 639-1 code -> how the model is told the language (its own name helps a small model)
LANGUAGE_NAMES = {
    "en": "English",
    "zh": "Mandarin Chinese (简体中文)",
    "ja": "Japanese (日本語)",
    "ko": "Korean (한국어)",
    "es": "Spanish (español)",
    "fr": "French (français)",
    "de": "German (Deutsch)",
    "it": "Italian (italiano)",
    "pt": "Portuguese (português)",
    "ru": "Russian (русский)",
}


def answer_line(language: str | None) -> str:
    """The system line for a turn in `language`; empty for English or an unknown language."""
    code = language_code(language)
    if code in ("", "en"):
        return ""
    return f"Answer in {LANGUAGE_NAMES.get(code, code)}."


def with_language(messages: Sequence[ChatMessage], language: str | None) -> list[ChatMessage]:
    """`messages` with the answer line as a system message just before the last user message.

    Not in the first system prompt: changing that would make llama.cpp evaluate the whole
    conversation again when the language changes, where this way its cached prefix still holds.
    """
    line = answer_line(language)
    if not line:
        return list(messages)
    told = list(messages)
    last_user = next((i for i in range(len(told) - 1, -1, -1) if told[i].role == "user"), len(told))
    told.insert(last_user, ChatMessage("system", line))
    return told


def typed_language(text: str) -> str | None:
    """The language of typed text where it is plain from the script (Chinese); else None."""
    return "zh" if has_cjk(text) else None


def voice_for(
    voices: Sequence[Voice],
    preferred: str | None,
    language: str | None,
    by_language: Mapping[str, str],
) -> str | None:
    """The voice for a turn in `language`: `preferred` when it speaks it, else the one configured
    for the language, else the first voice that speaks it, else `preferred`."""
    code = language_code(language)
    if not code:
        return preferred
    known = {voice.id: voice for voice in voices}
    chosen = known.get((preferred or "").partition(":")[0])
    if chosen is not None and chosen.speaks(code):
        return preferred
    if preferred is None and code == "en":
        return None  # the engine's default voice is the English one
    mapped = by_language.get(code)
    if mapped and mapped.partition(":")[0] in known:
        return mapped
    return next((voice.id for voice in voices if voice.speaks(code)), preferred)


def unvoiced_notice(voices: Sequence[Voice], voice: str | None, language: str | None) -> str:
    """What to tell the user when no installed voice speaks `language`; empty when one does."""
    code = language_code(language)
    if not code or code == "en" or any(v.speaks(code) for v in voices):
        return ""
    name = LANGUAGE_NAMES.get(code, code).split(" (")[0]
    reader = voice or (voices[0].id if voices else "the default voice")
    return (
        f"no installed voice speaks {name}: {reader} reads the reply; "
        f"`assistant models pull --language {code}` adds one if the catalog has one"
    )
