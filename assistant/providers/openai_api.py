"""OpenAI's names and limits, in one place: the server speaks them on the wire, and the
`openai_compat` providers and the local engines keep to them."""

from __future__ import annotations

from ..errors import UsageError

OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)
OPENAI_PCM_RATE = 24000  # Hz, what OpenAI's voices speak at
MAX_SPEECH_INPUT = 4096  # characters per speech request, as OpenAI's endpoint takes
MIN_SPEED, MAX_SPEED = 0.25, 4.0  # the range of `speed`
LANGUAGE_NAMES = {  # OpenAI's verbose_json names the language
    "en": "english",
    "de": "german",
    "es": "spanish",
    "fr": "french",
    "it": "italian",
    "ja": "japanese",
    "ko": "korean",
    "nl": "dutch",
    "pl": "polish",
    "pt": "portuguese",
    "ru": "russian",
    "sv": "swedish",
    "tr": "turkish",
    "uk": "ukrainian",
    "zh": "chinese",
}
LANGUAGE_CODES = {name: code for code, name in LANGUAGE_NAMES.items()}


def check_synthesis(text: str, speed: float, max_chars: int) -> None:
    """What a local engine refuses: no text, more than one chunk (`max_chars`), a bad speed."""
    if not text or not text.strip():
        raise UsageError("there is no text to speak: the input is empty")
    if len(text) > max_chars:  # an engine's memory grows with the length of one input
        raise UsageError(
            f"{len(text)} characters is more than one synthesis takes ({max_chars}): "
            "cut the text with providers.speak_text"
        )
    check_speed(speed)


def check_speed(speed: float) -> None:
    """A speaking rate outside OpenAI's range is the caller's mistake."""
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise UsageError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}, not {speed}")
