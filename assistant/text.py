"""Text for speech: clean what a model writes, and cut a token stream into speakable chunks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

MAX_CHUNK_CHARS = 240  # never hand TTS more than this at once (Piper's memory grows with length)
FENCE = "```"  # markdown code fence: code is not read aloud

_CODE_BLOCK = re.compile(r"```.*?(```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`]*)`")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"https?://\S+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s*", re.MULTILINE)
_QUOTE = re.compile(r"^\s*>\s?", re.MULTILINE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|~~)(?=\S)(.+?)(?<=\S)\1")
_TABLE_PIPE = re.compile(r"\s*\|\s*")
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\s*\n\s*")


def clean_for_speech(text: str) -> str:
    """Remove what should not be read aloud: markdown syntax, emoji, control characters."""
    text = _CODE_BLOCK.sub(" ", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub(" ", text)
    text = _RULE.sub(" ", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _TABLE_PIPE.sub(", ", text) if "|" in text else text
    text = "".join(_speakable(char) for char in text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    return text.strip(" \n,")


def _speakable(char: str) -> str:
    if char in "\n\t":
        return char
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return " " if category == "Cc" else ""
    if category in ("So", "Sk") or char in "*#~^|<>{}[]\\":
        return " "  # emoji, their skin-tone modifiers, pictographs and leftover markup
    if "\ufe00" <= char <= "\ufe0f":
        return ""  # variation selectors (text or emoji presentation)
    return char


_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|\n+")
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|\s-\s")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e a.m p.m no approx fig inc ltd".split()  # noqa: SIM905
)


class SentenceSplitter:
    """Feed streamed text; get back chunks ready to speak as soon as they are complete.

    A chunk ends at a sentence end. The first chunk may also end at a clause boundary
    (comma, colon, dash) once it has `first_clause_words` words, so speech starts early.
    No chunk is longer than `max_chars`: a run-on sentence is cut at a clause or a space.
    """

    def __init__(self, *, first_clause_words: int = 6, max_chars: int = MAX_CHUNK_CHARS) -> None:
        self._buffer = ""
        self._first_clause_words = first_clause_words
        self._max_chars = max_chars
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        chunks: list[str] = []
        while (cut := self._next_cut()) is not None:
            chunk, self._buffer = self._buffer[:cut], self._buffer[cut:]
            self._emit(chunk, chunks)
        return chunks

    def flush(self) -> list[str]:
        """The rest of the text, once the stream has ended."""
        chunks: list[str] = []
        rest, self._buffer = self._buffer, ""
        while len(rest) > self._max_chars:
            cut = _hard_cut(rest, self._max_chars)
            self._emit(rest[:cut], chunks)
            rest = rest[cut:]
        self._emit(rest, chunks)
        return chunks

    def _emit(self, chunk: str, into: list[str]) -> None:
        chunk = chunk.strip()
        if chunk:
            into.append(chunk)
            self._emitted += 1

    def _next_cut(self) -> int | None:
        text = self._buffer
        for match in _SENTENCE_END.finditer(text):
            real_end = match.group().startswith("\n") or not _is_abbreviation(text, match.start())
            if real_end and text[: match.end()].strip():
                return self._bounded(text, match.end())
        if self._emitted == 0:
            for match in _CLAUSE_END.finditer(text):
                if len(text[: match.start()].split()) >= self._first_clause_words:
                    return self._bounded(text, match.end())
        if len(text) > self._max_chars:
            return _hard_cut(text, self._max_chars)
        return None

    def _bounded(self, text: str, cut: int) -> int:
        return cut if cut <= self._max_chars else _hard_cut(text, self._max_chars)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation or sits inside a number."""
    if text[dot] != ".":
        return False
    word = text[:dot].rsplit(None, 1)[-1].lower() if text[:dot].strip() else ""
    word = word.lstrip("(\"'")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    return word.isdigit() and dot + 1 < len(text) and text[dot + 1 : dot + 2].isdigit()


def _hard_cut(text: str, limit: int) -> int:
    """Where to cut an over-long run: the last clause boundary, else the last space."""
    window = text[:limit]
    clauses = [m.end() for m in _CLAUSE_END.finditer(window)]
    if clauses and clauses[-1] > limit // 3:
        return clauses[-1]
    space = window.rfind(" ")
    return space + 1 if space > limit // 3 else limit


def speakable_chunks(text: str | Iterable[str], **options) -> Iterator[str]:
    """Clean text (or a stream of deltas) and yield chunks of at most `max_chars` characters."""
    max_chars = options.get("max_chars", MAX_CHUNK_CHARS)
    splitter = SentenceSplitter(**options)
    deltas = [text] if isinstance(text, str) else text
    for delta in _without_code_blocks(deltas):
        for chunk in splitter.feed(delta):
            yield from _cleaned_within(chunk, max_chars)
    for chunk in splitter.flush():
        yield from _cleaned_within(chunk, max_chars)


def _cleaned_within(chunk: str, max_chars: int) -> Iterator[str]:
    """The cleaned chunk, cut again where cleaning made it longer than `max_chars`."""
    rest = clean_for_speech(chunk)
    while len(rest) > max_chars:
        cut = _hard_cut(rest, max_chars)
        yield rest[:cut].strip()
        rest = rest[cut:].strip()
    if rest:
        yield rest


def _without_code_blocks(deltas: Iterable[str]) -> Iterator[str]:
    """The stream with fenced code blocks (```...```) removed, even when a fence is split."""
    inside = False
    held = ""
    for delta in deltas:
        text = held + delta
        kept = text.rstrip("`")
        held = text[len(kept) :]  # trailing backticks may be the start of a fence
        for index, part in enumerate(kept.split(FENCE)):
            inside = inside if index == 0 else not inside
            if part and not inside:
                yield part
    if held and not inside and held.count("`") < len(FENCE):
        yield held
