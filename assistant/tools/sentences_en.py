"""English sentences the assistant answers itself: each a whole-sentence pattern, so "set a
timer for ten minutes" matches and "I watched a timer documentary" does not."""

from __future__ import annotations

import re

from .calc import UNIT_NAMES
from .intents import (
    Arguments,
    Command,
    Pattern,
    first_match,
    label_arguments,
    pattern,
    timer_arguments,
)
from .numbers import DURATION, EN_NUMBER, parse_number

_FILLER = re.compile(
    r"^(?:(?:hey|ok|okay|so|um|uh|please|assistant|computer)[, ]+|"
    r"(?:can|could|would|will) you(?: please)? |i(?:'d| would) like you to |i want you to |"
    r"(?:please )?(?:go ahead and )?)+"
)
_TAIL = re.compile(r"(?:,? (?:please|for me|thanks|thank you|now))+$")
_D = rf"(?P<d>{DURATION})"
_LIST = r"(?:my |the |our )?(?:(?P<list>[a-z]+) )?list"
_LABEL = r"(?P<label>[a-z]+)"
_NUM = rf"(?P<v>{EN_NUMBER}|\d+(?:\.\d+)?)"
_UNIT = "|".join(re.escape(u) for u in UNIT_NAMES)
_CLOCK = (r"(?P<t>(?:\d{1,2}(?:[:.]\d{2})?|[a-z]+(?:[ -][a-z]+)?)"
          r"(?: ?(?:am|pm|a\.m\.|p\.m\.|o'clock|in the (?:morning|afternoon|evening)|tonight))?"
          r"|noon|midnight)")  # fmt: skip
_OPERATORS = [  # spoken operator -> symbol, longest first
    ("multiplied by", "*"), ("divided by", "/"), ("to the power of", "**"), ("times", "*"),
    ("plus", "+"), ("minus", "-"), ("over", "/"), ("x", "*"), ("squared", "**2"),
    ("cubed", "**3"), ("percent of", "/100*"), ("*", "*"), ("/", "/"), ("+", "+"), ("-", "-"),
]  # fmt: skip


def _notes(slots: dict[str, str]) -> Arguments:
    arguments = {"text": slots["text"]} if slots.get("text") else {}
    return {**arguments, "list": slots.get("list", "shopping")}


def _alarm(slots: dict[str, str]) -> Arguments | None:
    clock = clock_time(slots["t"])
    if clock is None:
        return None
    return {"time": clock, "label": slots.get("label", "")}


def _conversion(slots: dict[str, str]) -> Arguments | None:
    value = parse_number(slots.get("v", "one"))
    if value is None or slots["src"] == slots["dst"]:
        return None
    return {"value": value, "from_unit": slots["src"], "to_unit": slots["dst"]}


def _arithmetic(slots: dict[str, str]) -> Arguments | None:
    expression = spoken_arithmetic(slots["expr"])
    return None if expression is None else {"expression": expression}


PATTERNS: list[Pattern] = [
    pattern(rf"(?:set|start|create|make|put on)(?: me)?(?: an?| the)?(?: {_LABEL})? timer "
            rf"(?:for|of|to) {_D}(?: (?:called|named|for(?: the)?) (?P<label2>[a-z ]+))?",
            "start_timer", timer_arguments),
    pattern(rf"(?:(?:set|start|create|make)(?: me)?(?: an?)? )?{_D} (?:{_LABEL} )?timer"
            rf"(?: (?:called|named|for(?: the)?) (?P<label2>[a-z ]+))?", "start_timer",
            timer_arguments),
    pattern(rf"(?:a )?timer (?:for )?{_D}", "start_timer", timer_arguments),
    pattern(rf"count ?down (?:from )?{_D}", "start_timer", timer_arguments),
    pattern(rf"remind me in {_D} to (?P<label>.+)", "start_timer", timer_arguments),
    pattern(rf"remind me to (?P<label>.+?) in {_D}", "start_timer", timer_arguments),
    pattern(rf"how (?:much time|long) (?:is |do i have )?(?:left|remaining)(?: on (?:the|my)"
            rf"(?: {_LABEL})? timer)?", "list_timers"),
    pattern(rf"how(?:'s| is) (?:the|my)(?: {_LABEL})? timer(?: doing| going)?", "list_timers"),
    pattern(r"(?:list|show(?: me)?|read(?: me)?)(?: the| my| all(?: the| my)?)? "
            r"(?:timers|alarms|reminders)", "list_timers"),
    pattern(r"(?:what|which) (?:timers|alarms|reminders) (?:are|do i have)(?: running| set)?",
            "list_timers"),
    pattern(r"(?:are there|do i have|is there) any (?:timers?|alarms?)(?: running| set)?",
            "list_timers"),
    pattern(rf"(?:cancel|stop|delete|remove|turn off|dismiss)(?: the| my)?(?: {_LABEL})? "
            r"(?:timer|alarm|reminder)", "cancel_timer", label_arguments),
    pattern(r"(?:cancel|stop|delete|remove|clear)(?: all)?(?: the| my)? (?:timers|alarms)",
            "cancel_timer", lambda slots: {"all": True}),
    pattern(r"what(?:'s| is) the (?:time|date)(?: now| right now| today)?", "get_time"),
    pattern(r"what time is it(?: now| right now)?", "get_time"),
    pattern(r"(?:tell me|do you know) (?:the time|what time it is|the date|what day it is)",
            "get_time"),
    pattern(r"what(?:'s| is) (?:today's date|the day today|today)", "get_time"),
    pattern(r"what day (?:is it|is today|of the week is it)(?: today)?", "get_time"),
    pattern(rf"(?:set|create|make)(?: me)?(?: an?| the)? (?:alarm|reminder) (?:for|at) "
            rf"{_CLOCK}(?: (?:to|for|called) (?P<label>.+))?", "set_alarm", _alarm),
    pattern(rf"wake me(?: up)? at {_CLOCK}", "set_alarm", _alarm),
    pattern(rf"remind me at {_CLOCK} to (?P<label>.+)", "set_alarm", _alarm),
    pattern(rf"remind me to (?P<label>.+?) at {_CLOCK}", "set_alarm", _alarm),
    pattern(rf"(?:add|put) (?P<text>.+?) (?:to|on|onto) {_LIST}", "add_note", _notes),
    pattern(rf"(?:what(?:'s| is)|what do i have) on {_LIST}", "read_notes", _notes),
    pattern(rf"(?:read(?: me)?|show(?: me)?) {_LIST}", "read_notes", _notes),
    pattern(rf"(?:remove|delete|take|cross) (?P<text>.+?) (?:off|from) {_LIST}",
            "remove_note", _notes),
    pattern(rf"(?:clear|empty|delete|wipe) {_LIST}", "clear_notes", _notes),
    pattern(rf"convert {_NUM} (?P<src>{_UNIT}) (?:to|into|in) (?P<dst>{_UNIT})",
            "convert_units", _conversion),
    pattern(rf"(?:what(?:'s| is)|how much is|how many (?P<dst2>{_UNIT}) is) {_NUM} "
            rf"(?P<src>{_UNIT}) in (?P<dst>{_UNIT})", "convert_units", _conversion),
    pattern(rf"how many (?P<dst>{_UNIT}) (?:are |is )?(?:there )?in (?:an? |{_NUM} )?"
            rf"(?P<src>{_UNIT})", "convert_units", _conversion),
    pattern(r"(?:what(?:'s| is)|calculate|compute|how much is|work out) (?P<expr>.+?)"
            r"(?: equal| make)?", "calculate", _arithmetic),
]  # fmt: skip


def normalize(text: str) -> str:
    """Lower case, one space, no closing punctuation, no "please" or "can you"."""
    text = re.sub(r"\s+", " ", text.lower().replace("’", "'")).strip()
    text = re.sub(r"[.!?,;:]+$", "", text).strip()
    text = _FILLER.sub("", text)
    return _TAIL.sub("", text).strip()


def match_english(text: str) -> Command | None:
    return first_match(PATTERNS, normalize(text), "en")


def clock_time(text: str) -> str | None:
    """ "6:30 pm", "seven", "six thirty in the evening", "noon" -> "18:30", "07:00", ..."""
    text = text.strip()
    if text in ("noon", "midnight"):
        return "12:00" if text == "noon" else "00:00"
    afternoon = re.search(r"pm|p\.m\.|afternoon|evening|tonight", text) is not None
    morning = re.search(r"am|a\.m\.|morning", text) is not None
    core = re.sub(r" ?(?:am|pm|a\.m\.|p\.m\.|o'clock|in the \w+|tonight)$", "", text).strip()
    found = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?", core)
    if found:
        hour, minute = int(found[1]), int(found[2] or 0)
    else:
        words = re.split(r"[ -]", core, maxsplit=1)
        numbers = [parse_number(word) for word in words]
        if any(n is None for n in numbers) or (len(words) == 2 and words[1] in ("a", "an")):
            return None
        hour, minute = int(numbers[0] or 0), int(numbers[1] or 0) if len(numbers) > 1 else 0
    if afternoon and 1 <= hour < 12:
        hour += 12
    elif morning and hour == 12:
        hour = 0
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def spoken_arithmetic(text: str) -> str | None:
    """ "17 times 23" -> "17 * 23"; None unless it is numbers joined by operators."""
    text = text.replace("what's", "").strip()
    symbols = {word: symbol for word, symbol in _OPERATORS}
    alternatives = "|".join(re.escape(word) for word, _ in _OPERATORS)
    parts = re.split(rf"(?:^|\s*)(?<![a-z])({alternatives})(?![a-z])\s*", text)
    out, operators = [], 0
    for index, part in enumerate(parts):
        part = part.strip()
        if index % 2:
            out.append(symbols[part])
            operators += 1
        elif part:
            number = parse_number(part.replace(",", ""))
            if number is None:
                return None
            out.append(f"{number:g}" if number != int(number) else str(int(number)))
    expression = " ".join(out)
    return expression if operators and re.search(r"\d", expression) else None
