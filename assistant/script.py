"""Which Chinese script a transcript is written in: Whisper writes Mandarin in Simplified or
Traditional characters, sometimes both in one sentence; the user chooses one (stt.chinese_script).

Conversion is OpenCC's character and phrase tables (opencc-python-reimplemented, offline)."""

from __future__ import annotations

from functools import cache

CHINESE_SCRIPTS = ("simplified", "traditional", "as-heard")  # stt.chinese_script
_OPENCC_CONFIG = {"simplified": "t2s", "traditional": "s2t"}


@cache
def _converter(script: str):
    from opencc import OpenCC  # its tables load in ~10 ms, once

    return OpenCC(_OPENCC_CONFIG[script])


def in_script(text: str, script: str) -> str:
    """`text` with its Chinese characters written in `script` ("as-heard": unchanged)."""
    if script not in _OPENCC_CONFIG or not text:
        return text
    return _converter(script).convert(text)
