"""What the language model is asked for a turn: the conversation so far and the user's words, with
what a reply adds (the "I don't know" example turns, the answer's language, the speaking voice's
persona, the tools where they are offered); and the next turn's prompt, read ahead.

Reading ahead: once a reply has been said, the model reads the next turn's prompt up to where the
user's words will go (the end of its own answer, "<|im_start|>user" and, in another language, the
answer line) on its idle thread, so the next turn's first token waits only for the user's words
and the few tokens after them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..providers import ChatModel, ReadsAhead
from ..types import ChatMessage
from .examples import with_examples
from .language import with_language
from .persona import with_persona

log = logging.getLogger(__name__)

NEXT_WORDS = "..."  # stands for the next turn's words, not known yet (a reader ahead skips it)


def turn_prompt(
    history: Sequence[ChatMessage],
    user_text: str,
    *,
    language: str | None,
    persona: str,
    examples: bool,
) -> list[ChatMessage]:
    """The messages the model is asked with when the user says `user_text` after `history` (the
    tools, where they are offered, are added by the skills: `Skills.model_prompt`)."""
    messages = [*history, ChatMessage("user", user_text)]
    if examples:
        messages = with_examples(messages)
    return with_persona(with_language(messages, language), persona)


def read_ahead(chat: ChatModel, next_prompt: Sequence[ChatMessage]) -> bool:
    """Let `chat` read `next_prompt` (a `turn_prompt` of NEXT_WORDS) up to the user's words, where
    it can; True if it did. A failure is only logged: the next turn reads it all, as without."""
    if not isinstance(chat, ReadsAhead):
        return False
    try:
        chat.read_ahead(next_prompt)
    except Exception as error:  # an engine's own error types; the next request reports its own
        log.info("the model could not read the next prompt ahead: %s", error)
        return False
    return True
