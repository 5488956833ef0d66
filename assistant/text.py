"""Text for speech: clean what a model writes, and cut a token stream into speakable chunks."""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from functools import partial

MAX_CHUNK_CHARS = 160  # never hand TTS more at once: Piper needs ~20 MB per second of speech
MAX_CJK_CHUNK_CHARS = 60  # Chinese, Japanese: one character is a syllable, 60 are ~12 s of speech
FIRST_CUT_MS = 150  # a slow model's first chunk ends at a word this long after its first word
FIRST_CUT_WORDS = 3  # ... once it has this many words
SENTENCE_PAUSE_S = 0.25  # silence after a sentence said apart from the next (kokoro-onnx's)
CLAUSE_PAUSE_S = 0.1  # ... after a clause
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
_SPACES = re.compile(r"[^\S\n]+")  # spaces, tabs, no-break and other Unicode spaces
_BLANK_LINES = re.compile(r"\s*\n\s*")
_SPACE_BEFORE_CJK_PUNCTUATION = re.compile(r"[ \t]+(?=[。！？，、；：）」』”])")


def has_cjk(text: str) -> bool:
    """True when `text` has Chinese, Japanese or Korean characters."""
    return _CJK_CHAR.search(text) is not None


def speech_units(text: str) -> list[str]:
    """The words of `text`, each CJK character counted as one (Chinese has no spaces)."""
    return _UNITS.findall(text)


def join_units(units: list[str]) -> str:
    """`speech_units` back into text: spaces between words, none around CJK characters."""
    out = ""
    for unit in units:
        if out and not (has_cjk(unit[0]) or has_cjk(out[-1])):
            out += " "
        out += unit
    return out


def chunk_limit(text: str, max_chars: int = MAX_CHUNK_CHARS) -> int:
    """The longest chunk of `text` to hand a TTS: fewer characters for CJK text."""
    return min(max_chars, MAX_CJK_CHUNK_CHARS) if has_cjk(text[:max_chars]) else max_chars


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
    text = _SPACE_BEFORE_CJK_PUNCTUATION.sub("", text)
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


# Han, kana, Hangul and their full-width punctuation: written without spaces between words
_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_UNITS = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")
_SENTENCE_END = re.compile(
    r"[.!?…]+[\"')\]]*(?=\s)|\n+|[。！？；]+[”’」』）)\"']*|[…!?]+(?=[\u4e00-\u9fff])"
)
_CLAUSE_END = re.compile(r"[,;:—–](?=\s)|\s-\s|[，、：]|,(?=[\u4e00-\u9fff])")
# words that begin a new clause or phrase: the first chunk may end before one (once long enough)
_JOINING = re.compile(
    r"\s(?=(?:and|but|or|so|because|with|which|who|whose|where|when|while|whereas|if|although|"
    r"though|since|until|unless)\s)",
    re.IGNORECASE,
)
# words a timed first chunk does not end on: they lean on the word that follows
_DANGLING = frozenset(
    "a an the of to in on at by for from with into about as is are was were be been am "  # noqa: SIM905
    "my your his her its our their this that these those and or but not no very".split()
)
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e a.m p.m no approx fig inc ltd".split()  # noqa: SIM905
)


class SentenceSplitter:
    """Feed streamed text; get back chunks ready to speak as soon as they are complete.

    A chunk ends at a sentence end. The first chunk may also end at a clause boundary
    (comma, colon, dash) once it has `first_clause_words` words, or before a word that
    begins a clause or phrase ("and", "with", "which"...) once it has `first_join_words`
    words, so speech starts early. With `first_cut_ms`, a slow model's first chunk does not
    wait for those: once that long has passed since the first text came, it ends at the next
    word boundary after `first_cut_words` words. With `clause_chunks` (a voice that makes each
    chunk's audio at once, slowly), every chunk ends at a clause boundary as the first may. No
    chunk is longer than `max_chars`: a run-on sentence is cut at a clause or a space.
    """

    def __init__(
        self,
        *,
        first_clause_words: int = 6,
        first_join_words: int = 8,
        first_cut_ms: int = 0,
        first_cut_words: int = FIRST_CUT_WORDS,
        max_chars: int = MAX_CHUNK_CHARS,
        clause_chunks: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buffer = ""
        self._clause_chunks = clause_chunks
        self._first_clause_words = first_clause_words
        self._first_join_words = first_join_words
        self._first_cut_s = first_cut_ms / 1000
        self._first_cut_words = first_cut_words
        self._max_chars = max_chars
        self._clock = clock
        self._began: float | None = None  # when the first text came
        self._emitted = 0

    def feed(self, delta: str) -> list[str]:
        if self._began is None and delta.strip():
            self._began = self._clock()
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
        while len(rest) > chunk_limit(rest, self._max_chars):
            cut = _hard_cut(rest, chunk_limit(rest, self._max_chars))
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
        limit = chunk_limit(self._buffer, self._max_chars)
        # Only the first chunk's worth is searched: a cut further on would be bounded anyway,
        # and a 10,000-character run of dots made the whole-buffer search cubic (80 s).
        text = self._buffer[: limit + 1]
        for match in _SENTENCE_END.finditer(text):
            real_end = match.group().startswith("\n") or not _is_abbreviation(text, match.start())
            if real_end and text[: match.end()].strip():
                return self._bounded(text, match.end())
        if self._emitted == 0 or self._clause_chunks:
            for match in _CLAUSE_END.finditer(text):
                if len(speech_units(text[: match.start()])) >= self._first_clause_words:
                    return self._bounded(text, match.end())
        if self._emitted == 0:
            for match in _JOINING.finditer(text):
                before = text[: match.start()]
                if len(speech_units(before)) >= self._first_join_words and not _inside_quotes(
                    before
                ):
                    return self._bounded(text, match.start())
            if (cut := self._timed_cut(text)) is not None:
                return self._bounded(text, cut)
        if len(self._buffer) > limit:
            return _hard_cut(text, limit)
        return None

    def _timed_cut(self, text: str) -> int | None:
        """The first chunk's end once `first_cut_ms` have passed: the last word boundary with
        at least `first_cut_words` whole words before it (the word being written may go on)."""
        if not self._first_cut_s or self._began is None or has_cjk(text):
            return None
        if self._clock() - self._began < self._first_cut_s:
            return None
        space = max(text.rfind(" "), text.rfind("\n"))
        words = speech_units(text[:space])
        if len(words) < self._first_cut_words or _inside_quotes(text[:space]):
            return None
        if words[-1].lower() in _DANGLING:  # "The capital of" would end on a falling "of"
            return None
        return space + 1

    def _bounded(self, text: str, cut: int) -> int:
        limit = chunk_limit(text, self._max_chars)
        return cut if cut <= limit else _hard_cut(text, limit)


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the '.' at `dot` ends an abbreviation or sits inside a number."""
    if text[dot] != ".":
        return False
    word = text[:dot].rsplit(None, 1)[-1].lower() if text[:dot].strip() else ""
    word = word.lstrip("(\"'")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return True
    return word.isdigit() and dot + 1 < len(text) and text[dot + 1 : dot + 2].isdigit()


def _inside_quotes(text: str) -> bool:
    """True when `text` ends inside a quotation or parenthesis (a title, an aside)."""
    straight = text.count('"') % 2 == 1
    return straight or text.count("“") > text.count("”") or text.count("(") > text.count(")")


def growing_pieces(text: str, *, first_units: int = 2, growth: float = 2.0) -> list[str]:
    """`text` in whole clauses, grouped so that each piece has at most `growth` times the speech
    units of the piece before it (the first: clauses until it has `first_units`). A voice that
    synthesizes each piece while the one before it plays starts speaking after the first clause
    and, at a real-time factor under 1 / `growth`, never falls silent in between."""
    sentences = (m for m in _SENTENCE_END.finditer(text) if not _is_abbreviation(text, m.start()))
    ends = sorted({m.end() for m in sentences} | {m.end() for m in _CLAUSE_END.finditer(text)})
    clauses = [text[a:b].strip() for a, b in zip([0, *ends], [*ends, len(text)], strict=True)]
    pieces: list[str] = []
    previous = 0  # the speech units of the piece before the last one
    for clause in (c for c in clauses if c):
        if not pieces:
            pieces.append(clause)
            continue
        units = len(speech_units(pieces[-1]))
        if len(pieces) == 1:
            fits = units < first_units
        else:
            fits = units + len(speech_units(clause)) <= growth * previous
        if fits:
            pieces[-1] = join_units([pieces[-1], clause])
        else:
            previous = units
            pieces.append(clause)
    return pieces


def pause_after(piece: str) -> float:
    """Seconds of silence after a piece of speech that ends with this text: a sentence's, a
    clause's or none (what kokoro-onnx puts between the parts of one call)."""
    end = piece.rstrip(" \"')]”’」』）")[-1:]
    if end and end in ".!?…。！？；":
        return SENTENCE_PAUSE_S
    return CLAUSE_PAUSE_S if end and end in ",;:—–，、：" else 0.0


def cut_to_length(text: str, max_chars: int) -> list[str]:
    """`text` in pieces of at most `max_chars` characters, cut at clause boundaries or spaces."""
    return _cut_pieces(text, lambda rest: max_chars)


def _cut_pieces(text: str, limit_of: Callable[[str], int]) -> list[str]:
    """`text` cut (`_hard_cut`) until what is left is at most `limit_of(rest)` long; no empty
    piece."""
    pieces = []
    while len(text) > (limit := limit_of(text)):
        cut = _hard_cut(text, limit)
        pieces.append(text[:cut].strip())
        text = text[cut:].strip()
    return [piece for piece in [*pieces, text] if piece]


def _hard_cut(text: str, limit: int) -> int:
    """Where to cut an over-long run: the last clause boundary, else the last space."""
    window = text[:limit]
    clauses = [m.end() for m in _CLAUSE_END.finditer(window)]
    if clauses and clauses[-1] > limit // 3:
        return clauses[-1]
    space = window.rfind(" ")
    return space + 1 if space > limit // 3 else limit


class SpeakableStream:
    """Feed a model's text deltas; get cleaned chunks ready for TTS (code blocks dropped)."""

    def __init__(self, **options) -> None:
        self._splitter = SentenceSplitter(**options)
        self._max_chars = options.get("max_chars", MAX_CHUNK_CHARS)
        self._inside_code = False
        self._held = ""  # trailing backticks that may start a fence

    def feed(self, delta: str) -> list[str]:
        return self._speakable(self._splitter.feed(self._outside_code(delta)))

    def flush(self) -> list[str]:
        rest, self._held = self._held, ""
        tail = rest if not self._inside_code and rest.count("`") < len(FENCE) else ""
        return self._speakable(self._splitter.feed(tail) + self._splitter.flush())

    def _outside_code(self, delta: str) -> str:
        text = self._held + delta
        kept = text.rstrip("`")
        self._held = text[len(kept) :]
        parts = []
        for index, part in enumerate(kept.split(FENCE)):
            self._inside_code = self._inside_code if index == 0 else not self._inside_code
            if not self._inside_code:
                parts.append(part)
        return "".join(parts)

    def _speakable(self, chunks: list[str]) -> list[str]:
        """Cleaned chunks, cut again where cleaning made one longer than `max_chars`."""
        limit_of = partial(chunk_limit, max_chars=self._max_chars)
        return [piece for chunk in chunks
                for piece in _cut_pieces(clean_for_speech(chunk), limit_of)]  # fmt: skip


def speakable_chunks(text: str | Iterable[str], **options) -> Iterator[str]:
    """Clean text (or a stream of deltas) and yield chunks of at most `max_chars` characters."""
    stream = SpeakableStream(**options)
    for delta in [text] if isinstance(text, str) else text:
        yield from stream.feed(delta)
    yield from stream.flush()
