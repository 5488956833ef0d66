"""The end of turn read from the words: a transcript that stops on a word no sentence ends with
("I'd like to", "because", "the", "um"; 因为, 然后, 嗯) or on Whisper's "..." is unfinished,
whatever the voice sounds like; one that ends in a question mark reads as a finished question.
Anything else (Whisper puts a period after nearly everything) says nothing either way.

Where the reply's language model has read the words, its reading weighs too: how likely it
expects the user's message to end after them (providers/llama_turn_end.py). It tells "How many"
or "I need to know" (~0.000) from "What time is it in Tokyo" (~0.65), which the lists cannot.

Pure text: the endpointer combines this with the end-of-turn model's answer (`combine`)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# English words a turn does not end on: conjunctions, prepositions that take what follows,
# articles, possessives, fillers. Left out on purpose, as sentences end on them: particles and
# stranded prepositions ("turn it on", "what is it for" usually come with "?"), "that", "this",
# "some", "her", "like", "then".
DANGLING_EN = frozenset(
    {
        "and", "or", "but", "nor", "because", "so", "if", "unless", "until", "although",
        "though", "whereas", "whether", "than",
        "to", "of", "for", "from", "with", "into", "onto", "about", "at", "by", "between",
        "towards", "toward", "via", "per",
        "a", "an", "the", "my", "your", "our", "their", "its", "whose",
        "um", "uh", "er", "erm", "uhm", "hmm", "mm",
    }
)  # fmt: skip
# English word pairs a turn does not end on ("Could you ...").
DANGLING_PAIRS_EN = frozenset(
    {
        ("could", "you"), ("can", "you"), ("would", "you"), ("will", "you"),
        ("could", "i"), ("can", "i"), ("may", "i"), ("i'd", "like"), ("i", "want"),
        ("i", "need"), ("you", "know"),
    }
)  # fmt: skip
# English endings that look unfinished by the lists above but close a sentence.
FINISHED_EN = frozenset({("think", "so"), ("hope", "so"), ("guess", "so"), ("do", "so")})
# Chinese endings a turn does not end on: particles and conjunctions that lead on, fillers
# (simplified, then the traditional forms that differ, for stt.chinese_script = traditional).
DANGLING_ZH = (
    "的", "和", "跟", "因为", "但是", "可是", "不过", "然后", "就是", "所以", "而且", "或者",
    "还有", "如果", "要是", "虽然", "比如", "把", "嗯", "呃", "那个", "我想", "请问",
    "因為", "不過", "然後", "還有", "雖然", "那個", "請問",
)  # fmt: skip
ELLIPSES = ("...", "…", "。。。")
QUESTION_MARKS = ("?", "？")

_CJK = re.compile(r"[\u3400-\u9fff]")
_TRAILING = re.compile(r"[\s.,;:!。，、；：！\"'”’）)」』]+$")
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class HeardWords:
    """The transcript of a reply begun at a pause, and how likely the reply's language model reads
    its words to end the turn (None: not read)."""

    text: str
    end_probability: float | None = None


class TextVerdict(enum.Enum):
    UNFINISHED = "unfinished"  # ends on a word that leads on, or on "..."
    QUESTION = "question"  # ends with a question mark
    UNKNOWN = "unknown"  # the words alone do not say


def read_turn(transcript: str) -> TextVerdict:
    """What the words of a (speculative) transcript say about the end of the turn."""
    text = transcript.strip()
    if not text:
        return TextVerdict.UNKNOWN
    if text.endswith(ELLIPSES):
        return TextVerdict.UNFINISHED
    question = text.endswith(QUESTION_MARKS)
    bare = _TRAILING.sub("", text.rstrip("?？"))
    if _CJK.search(bare[-1:]):
        unfinished = not question and bare.endswith(DANGLING_ZH)
        return _verdict(unfinished, question)
    words = tuple(_WORD.findall(bare.lower().replace("’", "'")))
    # a stranded preposition ends many a question ("Where are you from?"); "Could you?" does not
    unfinished = words[-2:] in DANGLING_PAIRS_EN or (
        not question and words[-1:] and words[-1] in DANGLING_EN and words[-2:] not in FINISHED_EN
    )
    return _verdict(unfinished, question)


def _verdict(unfinished: bool, question: bool) -> TextVerdict:
    if unfinished:
        return TextVerdict.UNFINISHED
    return TextVerdict.QUESTION if question else TextVerdict.UNKNOWN


@dataclass(frozen=True)
class TurnVerdict:
    complete: bool  # end the turn now
    unfinished_words: bool  # the words lead on: wait up to the longer limit, ask no more


def combine(
    model_complete: bool,
    transcript: str | None,
    *,
    text_check: bool,
    question_ends: bool,
    words_end: float | None = None,
    unfinished_below: float = 0.0,
    finished_above: float = 1.0,
) -> TurnVerdict:
    """The end-of-turn model's answer together with the words heard so far (None: no transcript
    yet, so the model alone decides) and, where the language model read them, how likely they
    end the turn (`words_end`; None: not read). Unfinished words, or words the language model
    reads as unfinished (under `unfinished_below`), overrule "complete" and a question mark;
    with `question_ends` a question overrules "incomplete", and so do words the language model
    reads as finished (over `finished_above`)."""
    if not text_check or not transcript:
        return TurnVerdict(model_complete, False)
    read = read_turn(transcript)
    reads_unfinished = words_end is not None and words_end < unfinished_below
    if read is TextVerdict.UNFINISHED or reads_unfinished:
        return TurnVerdict(False, True)
    if read is TextVerdict.QUESTION and question_ends:
        return TurnVerdict(True, False)
    if words_end is not None and words_end > finished_above:
        return TurnVerdict(True, False)
    return TurnVerdict(model_complete, False)
