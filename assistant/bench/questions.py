"""The quality benchmark's fixed questions and how an answer to one is scored.

Short spoken-style questions with checkable answers, English and Chinese, in four categories:
facts, arithmetic, following up on an earlier turn (`setup`: what the user said before), and
refusing to invent (the assistant cannot know the answer and must say so). An answer is right
when one accepted pattern matches it (case- and width-insensitive: NFKC, casefolded) and, for a
Chinese question, when it is written in Chinese.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CATEGORIES = ("fact", "arithmetic", "follow-up", "refusal")
LANGUAGES = ("en", "zh")
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[a-z]+", re.IGNORECASE)
ZH_NUMERALS = "零〇一二三四五六七八九十百千两"

# Saying it cannot know: the accepted answers of every refusal item.
REFUSE_EN = (
    r"\b(don'?t|do not|doesn'?t|can'?t|cannot|can not|couldn'?t|won'?t) (really )?"
    r"(know|tell|see|access|determine|say|remember|recall|guess|read|predict)",
    r"\bnot (sure|able|possible|aware)\b",
    r"\bunable to\b",
    r"\bno (way|idea|information|access|knowledge|record)\b",
    r"\b(don'?t|do not) have (any )?(access|information|a way|that information|knowledge|"
    r"the ability|personal|details)",
    r"\b(haven'?t|have not|didn'?t|did not) (told|tell|mention|mentioned|share|shared|say|said)",
    r"\bnot (been )?(told|mentioned|shared|provided|given)\b",
    r"\bonly you\b",
)
REFUSE_ZH = (
    r"不知道",
    r"无法",
    r"無法",
    r"不清楚",
    r"不能",
    r"没办法",
    r"沒辦法",
    r"不了解",
    r"没有(告诉|提到|说|提供|透露|办法|信息|相关)",
    r"沒有(告訴|提到|說|提供)",
    r"不确定",
    r"不確定",
    r"只有你",
)


def number(value: int, *names: str) -> str:
    """A pattern for `value` written in digits or as one of `names` (English or Chinese
    numerals), not as part of a longer number."""
    options = [rf"(?<![\d.,]){value}(?![\d])"]
    for name in names:
        if CJK.search(name) or name[0] in ZH_NUMERALS:
            options.append(rf"(?<![{ZH_NUMERALS}]){name}(?![{ZH_NUMERALS}])")
        else:
            options.append(rf"\b{name.replace(' ', '[- ]')}\b")
    return "|".join(options)


@dataclass(frozen=True)
class Question:
    id: str
    language: str  # "en" or "zh"
    category: str  # one of CATEGORIES
    text: str  # the question itself
    accept: tuple[str, ...]  # regular expressions; any one matching is a right answer
    setup: tuple[str, ...] = ()  # earlier user turns of the same conversation

    def patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p, re.IGNORECASE) for p in self.accept]


def _en(id_: str, category: str, text: str, *accept: str, setup: str = "") -> Question:
    return Question(id_, "en", category, text, accept, (setup,) if setup else ())


def _zh(id_: str, category: str, text: str, *accept: str, setup: str = "") -> Question:
    return Question(id_, "zh", category, text, accept, (setup,) if setup else ())


QUESTIONS: tuple[Question, ...] = (
    # English facts
    _en("en-capital-france", "fact", "What is the capital of France?", r"\bparis\b"),
    _en("en-spider-legs", "fact", "How many legs does a spider have?", number(8, "eight")),
    _en("en-romeo-juliet", "fact", "Who wrote Romeo and Juliet?", r"shakespeare"),
    _en("en-sky-colour", "fact", "What colour is the sky on a clear day?", r"\bblue\b"),
    _en("en-largest-planet", "fact", "What is the largest planet in our solar system?", r"jupiter"),
    _en("en-week-days", "fact", "How many days are there in a week?", number(7, "seven")),
    _en("en-capital-japan", "fact", "What is the capital of Japan?", r"\btokyo\b"),
    _en("en-red-planet", "fact", "Which planet is known as the red planet?", r"\bmars\b"),
    _en("en-freezing", "fact", "At how many degrees Celsius does water freeze?", number(0, "zero")),
    _en("en-mona-lisa", "fact", "Who painted the Mona Lisa?", r"leonardo|da ?vinci"),
    _en("en-tallest-mountain", "fact", "What is the tallest mountain in the world?", r"everest"),
    _en("en-continents", "fact", "How many continents are there?", number(7, "seven")),
    _en("en-brazil-language", "fact", "What language do people speak in Brazil?", r"portugu"),
    _en("en-water-formula", "fact", "What is the chemical formula of water?", r"\bh ?2 ?o\b"),
    # English arithmetic
    _en("en-two-plus-three", "arithmetic", "What is two plus three?", number(5, "five")),
    _en(
        "en-seven-times-eight", "arithmetic", "What is seven times eight?", number(56, "fifty six")
    ),
    _en("en-ten-minus-four", "arithmetic", "What is ten minus four?", number(6, "six")),
    _en(
        "en-hundred-by-four",
        "arithmetic",
        "What is one hundred divided by four?",
        number(25, "twenty five"),
    ),
    _en("en-twelve-plus-nine", "arithmetic", "What is twelve plus nine?", number(21, "twenty one")),
    _en("en-half-of-fifty", "arithmetic", "What is half of fifty?", number(25, "twenty five")),
    _en("en-three-squared", "arithmetic", "What is three squared?", number(9, "nine")),
    _en(
        "en-minutes-two-hours",
        "arithmetic",
        "How many minutes are there in two hours?",
        number(120, "one hundred and twenty", "one hundred twenty"),
    ),
    # English follow-ups: the answer is in the earlier turn
    _en("en-name", "follow-up", "What is my name?", r"\bada\b", setup="My name is Ada."),
    _en("en-city", "follow-up", "Which city do I live in?", r"\bparis\b", setup="I live in Paris."),
    _en(
        "en-colour",
        "follow-up",
        "What is my favourite colour?",
        r"\bgreen\b",
        setup="My favourite colour is green.",
    ),
    _en(
        "en-pets",
        "follow-up",
        "How many pets do I have?",
        number(3, "three"),
        setup="I have two cats and one dog.",
    ),
    _en(
        "en-sister",
        "follow-up",
        "What is my sister's name?",
        r"\bmaria\b",
        setup="My sister is called Maria.",
    ),
    _en(
        "en-age-next-year",
        "follow-up",
        "How old will I be next year?",
        number(31, "thirty one"),
        setup="I am thirty years old.",
    ),
    _en(
        "en-remember-number",
        "follow-up",
        "What number did I ask you to remember?",
        number(42, "forty two"),
        setup="Please remember the number forty two.",
    ),
    _en(
        "en-trip",
        "follow-up",
        "Which country am I travelling to?",
        r"\bital(y|ian)\b",
        setup="I am planning a trip to Italy next month.",
    ),
    _en(
        "en-first-question",
        "follow-up",
        "What did I ask you first?",
        r"capital|spain|madrid",
        setup="What is the capital of Spain?",
    ),
    # English: the assistant cannot know; it must not invent
    _en("en-breakfast", "refusal", "What did I have for breakfast today?", *REFUSE_EN),
    _en("en-mother", "refusal", "What is my mother's name?", *REFUSE_EN),
    _en("en-car", "refusal", "Where did I park my car this morning?", *REFUSE_EN),
    _en("en-password", "refusal", "What is the password of my email account?", *REFUSE_EN),
    _en("en-thinking-number", "refusal", "Which number am I thinking of right now?", *REFUSE_EN),
    _en("en-pocket", "refusal", "What is in my left pocket?", *REFUSE_EN),
    _en("en-dream", "refusal", "What did I dream about last night?", *REFUSE_EN),
    # Chinese
    _zh("zh-capital-china", "fact", "中国的首都是哪里？", r"北京"),
    _zh("zh-capital-france", "fact", "法国的首都是哪里？", r"巴黎"),
    _zh("zh-months", "fact", "一年有几个月？", number(12, "十二")),
    _zh("zh-sunrise", "fact", "太阳从哪个方向升起？", r"东|東"),
    _zh("zh-week-days", "fact", "一个星期有几天？", number(7, "七")),
    _zh("zh-three-plus-five", "arithmetic", "三加五等于多少？", number(8, "八")),
    _zh("zh-nine-times-six", "arithmetic", "九乘以六等于多少？", number(54, "五十四")),
    _zh("zh-twenty-minus-seven", "arithmetic", "二十减去七等于多少？", number(13, "十三")),
    _zh("zh-hundred-by-five", "arithmetic", "一百除以五等于多少？", number(20, "二十")),
    _zh("zh-name", "follow-up", "我叫什么名字？", r"小明", setup="我叫小明。"),
    _zh("zh-city", "follow-up", "我住在哪个城市？", r"上海", setup="我住在上海。"),
    _zh(
        "zh-fruit",
        "follow-up",
        "我最喜欢的水果是什么？",
        r"苹果|蘋果",
        setup="我最喜欢的水果是苹果。",
    ),
    _zh("zh-breakfast", "refusal", "我今天早上吃了什么？", *REFUSE_ZH),
    _zh("zh-pin", "refusal", "我的银行卡密码是多少？", *REFUSE_ZH),
    _zh("zh-pocket", "refusal", "我现在口袋里有什么？", *REFUSE_ZH),
)

# --quick: one of each category in English, and two in Chinese
QUICK_IDS = (
    "en-capital-france",
    "en-two-plus-three",
    "en-name",
    "en-breakfast",
    "zh-capital-china",
    "zh-name",
)


def normalize(text: str) -> str:
    """Width- and case-insensitive form: full-width letters and digits become ASCII (NFKC),
    curly apostrophes straight, then casefolded."""
    return unicodedata.normalize("NFKC", text).replace("\u2019", "'").casefold()


def is_chinese(text: str) -> bool:
    """Written in Chinese: at least two Han characters, and more of them than Latin words (so
    "巴黎 (Paris)" is Chinese, "The capital is Beijing (北京)" is not)."""
    han = len(CJK.findall(text))
    return han >= 2 and han >= len(LATIN_WORD.findall(text))


@dataclass(frozen=True)
class Score:
    matched: bool  # an accepted pattern matched
    in_language: bool  # written in the question's language (always true for English)

    @property
    def correct(self) -> bool:
        return self.matched and self.in_language


def score(question: Question, answer: str) -> Score:
    """How `answer` fares against `question`'s accepted patterns and language."""
    text = normalize(answer)
    matched = any(p.search(text) for p in question.patterns())
    return Score(matched, is_chinese(answer) if question.language == "zh" else True)


def accuracy(results: list[tuple[Question, Score]]) -> dict:
    """Right answers over all, per language and per category: {"correct", "n", "rate"}."""

    def tally(kept: list[tuple[Question, Score]]) -> dict:
        right = sum(s.correct for _, s in kept)
        return {
            "correct": right,
            "n": len(kept),
            "rate": round(right / len(kept), 3) if kept else None,
        }

    zh = [(q, s) for q, s in results if q.language == "zh"]
    return {
        "all": tally(results),
        **{lang: tally([(q, s) for q, s in results if q.language == lang]) for lang in LANGUAGES},
        "by_category": {
            category: tally([(q, s) for q, s in results if q.category == category])
            for category in CATEGORIES
        },
        "zh_answered_in_chinese": {
            "correct": sum(s.in_language for _, s in zh),
            "n": len(zh),
            "rate": round(sum(s.in_language for _, s in zh) / len(zh), 3) if zh else None,
        },
    }


def selected(quick: bool) -> tuple[Question, ...]:
    """The questions a run asks: all of them, or the --quick handful."""
    if not quick:
        return QUESTIONS
    by_id = {q.id: q for q in QUESTIONS}
    return tuple(by_id[i] for i in QUICK_IDS)
