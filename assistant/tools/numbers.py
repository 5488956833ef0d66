"""Numbers as people say them: digits, English words ("twenty five", "a", "half") and Chinese
numerals (五, 十五, 两, 一百二十), and spoken durations ("an hour and ten minutes", "五分钟")."""

from __future__ import annotations

import re

_ONES = {
    "zero": 0, "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "couple": 2, "few": 3,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}
_EN_WORD = "|".join(sorted([w for w in [*_ONES, *_SCALES] if w not in ("a", "an")], key=len,
                           reverse=True))  # fmt: skip
EN_NUMBER = rf"(?:\d+(?:\.\d+)?|(?:\b(?:{_EN_WORD})\b(?:[\s-]+(?:and[\s-]+)?)?)+|\ban?\b)"
ZH_NUMBER = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万]+)"
NUMBER = rf"(?:{EN_NUMBER}|{ZH_NUMBER})"

# duration units, in seconds, by the words for them
_UNIT_SECONDS = {
    "second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
    "minute": 60, "minutes": 60, "min": 60, "mins": 60,
    "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
    "秒": 1, "秒钟": 1, "分": 60, "分钟": 60, "小时": 3600, "个小时": 3600, "钟头": 3600,
    "个钟头": 3600,
}  # fmt: skip
_UNIT = "|".join(sorted(_UNIT_SECONDS, key=len, reverse=True))
_HALF = r"(?:\s+and a half|半)"
_PART = (
    rf"(?:{NUMBER}{_HALF}?\s*(?:{_UNIT})(?![a-z]){_HALF}?"
    r"|half an? hour|an? hour and a half|半(?:个)?小时)"
)
DURATION = rf"(?:{_PART}(?:\s*(?:,|and)?\s*{_PART})*)"
_PART_RE = re.compile(rf"(?P<n>{NUMBER})(?P<h1>{_HALF})?\s*(?P<unit>{_UNIT})(?P<h2>{_HALF})?")


def parse_number(text: str) -> float | None:
    """The number `text` says, or None when it is not one number."""
    text = text.strip().lower()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if all(c in _ZH_DIGITS or c in _ZH_UNITS for c in text):
        return float(_chinese(text))
    words = [w for w in re.split(r"[\s-]+", text) if w and w != "and"]
    if not words or any(w not in _ONES and w not in _SCALES for w in words):
        return None
    total = current = 0
    for word in words:
        if word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            current += _ONES[word]
    return float(total + current)


def _chinese(text: str) -> int:
    if all(c in _ZH_DIGITS for c in text) and len(text) > 1:  # 二〇二六: digit by digit
        return int("".join(str(_ZH_DIGITS[c]) for c in text))
    total = section = digit = 0
    for char in text:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        elif char == "万":
            total += (section + digit) * 10000
            section = digit = 0
        else:
            section += (digit or 1) * _ZH_UNITS[char]
            digit = 0
    return total + section + digit


def parse_duration(text: str) -> float | None:
    """Seconds in a spoken duration ("ten minutes", "1 hour and 30 minutes", "五分钟")."""
    text = text.strip().lower()
    if re.fullmatch(r"half an? hour|半(?:个)?小时", text):
        return 1800.0
    if re.fullmatch(r"an? hour and a half", text):
        return 5400.0
    seconds, found = 0.0, False
    for part in _PART_RE.finditer(text):
        number = parse_number(part["n"])
        if number is None:
            return None
        unit = _UNIT_SECONDS[part["unit"]]
        seconds += (number + (0.5 if part["h1"] or part["h2"] else 0)) * unit
        found = True
    return seconds if found and seconds > 0 else None


def say_duration(seconds: float, language: str = "en") -> str:
    """A duration in words a voice reads well: "2 minutes 5 seconds", "2分5秒"."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if language == "zh":
        parts = [f"{hours}小时" if hours else "", f"{minutes}分" if minutes else "",
                 f"{secs}秒" if secs or not (hours or minutes) else ""]  # fmt: skip
        return "".join(parts)
    named = [(hours, "hour"), (minutes, "minute"), (secs, "second")]
    parts = [f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in named if n]
    return " ".join(parts) or "0 seconds"
