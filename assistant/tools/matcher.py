"""The fast local path: a sentence in English or Chinese that asks for one of the assistant's
own tools, matched deterministically (no model) in well under a millisecond."""

from __future__ import annotations

import re

from .intents import Command
from .sentences_en import match_english
from .sentences_zh import match_chinese

_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_CHARS = 160  # longer speech is a conversation, not a command


def match(text: str) -> Command | None:
    """The command `text` is, or None: it then goes to the language model."""
    if not text.strip() or len(text) > MAX_CHARS:
        return None
    if _CJK.search(text):
        return match_chinese(text)
    return match_english(text)
