"""Text for speech: clean what a model writes, and cut a token stream into speakable chunks."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

MAX_CHUNK_CHARS = 240  # never hand TTS more than this at once (Piper's memory grows with length)

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
    if category == "So" or char in "*#~^|<>{}[]\\":
        return " "  # emoji, pictographs and leftover markup
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
                return match.end()
        if self._emitted == 0:
            for match in _CLAUSE_END.finditer(text):
                if len(text[: match.start()].split()) >= self._first_clause_words:
                    return match.end()
        if len(text) > self._max_chars:
            return _hard_cut(text, self._max_chars)
        return None


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
    """Clean text (or a stream of deltas) and yield chunks of at most MAX_CHUNK_CHARS."""
    splitter = SentenceSplitter(**options)
    deltas = [text] if isinstance(text, str) else text
    for delta in deltas:
        for chunk in splitter.feed(delta):
            if cleaned := clean_for_speech(chunk):
                yield cleaned
    for chunk in splitter.flush():
        if cleaned := clean_for_speech(chunk):
            yield cleaned
