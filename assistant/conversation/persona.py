"""The speaking voice's character in the conversation's system prompt: each voice in the catalog
has a one-line character ("Nezumi: soft and gentle; the clearest Mandarin"), and the model
answers as that character when that voice speaks, in the manner `instructions` ask for.

The line is added to the end of the first system message, not before the question: the prompt
then begins the same way every turn, so llama.cpp's cached prefix holds; a change of voice (a
turn in another language) re-evaluates the conversation once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..types import ChatMessage, Voice


def persona_line(voice: Voice | None, instructions: str | None = None) -> str:
    """ "You are Joe, steady and plain-spoken." for a voice described "Joe: steady and
    plain-spoken; the quickest" (what follows ";" is a measurement, not a character), and
    the manner asked for; empty when neither is known."""
    parts = []
    name, colon, character = (voice.description if voice else "").partition(":")
    character = character.split(";")[0].strip().rstrip(".")
    if colon and name.strip() and character:
        parts.append(f"You are {name.strip()}, {character}.")
    if manner := (instructions or "").strip().rstrip(".!"):
        parts.append(f"Speak in this manner: {manner}.")
    return " ".join(parts)


def with_persona(messages: Sequence[ChatMessage], line: str) -> list[ChatMessage]:
    """`messages` with `line` at the end of the first system message (one is put first when
    there is none)."""
    told = list(messages)
    if not line:
        return told
    if told and told[0].role == "system":
        told[0] = ChatMessage("system", f"{told[0].content} {line}".strip())
    else:
        told.insert(0, ChatMessage("system", line))
    return told


def persona_of(tts: Any, voice: str | None, instructions: str | None = None) -> str:
    """The persona line of `voice` (None: the engine's default) as `tts` speaks it; "" without
    a voice stage."""
    if tts is None:
        return ""
    default = getattr(tts, "default_voice", None)  # engines that know theirs say so
    return persona_line(speaking_voice(tts.voices(), voice, default), instructions)


def speaking_voice(voices: Sequence[Voice], voice: str | None, default: str | None) -> Voice | None:
    """The `Voice` of a voice id (`id:speaker` too); None: the engine's `default`."""
    wanted = (voice or default or "").partition(":")[0]
    return next((known for known in voices if known.id == wanted), None)
