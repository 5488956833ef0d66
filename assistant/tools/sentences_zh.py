"""Chinese sentences the assistant answers itself ("定一个五分钟的计时器", "现在几点",
"把牛奶加到购物清单"), each a whole-sentence pattern over the text without spaces or punctuation."""

from __future__ import annotations

import re

from .intents import Arguments, Command, Pattern, first_match, pattern, timer_arguments
from .numbers import DURATION, ZH_NUMBER, parse_number
from .phrases import ZH_LISTS

_FILLER = re.compile(r"^(?:请|麻烦|帮我|给我|你能|能不能|可以|你|小助手|嘿|好的|那个)+")
_TAIL = re.compile(r"(?:吧|吗|呢|啊|谢谢|一下)+$")
_D = rf"(?P<d>{DURATION})"
_SET = r"(?:定|设|设置|设定|开|开始|启动|来|做|建|创建|定时)"
_ONE = r"(?:一个|个|一)?"
_TIMER = r"(?:计时器|定时器|倒计时|计时|闹铃)"
_LIST = r"(?P<list>购物|待办|备忘)?(?:清单|列表|单子)"
_WHEN = r"(?P<part>早上|上午|中午|下午|晚上|凌晨|今天|明天|今晚)*"
_MINUTES = rf"(?:(?P<m>{ZH_NUMBER})分?|(?P<half>半)|(?P<q>一刻))"
_CLOCK = rf"(?P<t>{_WHEN}(?P<h>{ZH_NUMBER})[点:：]{_MINUTES}?)"
_LISTS = {chinese: name for name, chinese in ZH_LISTS.items()}
_OPERATORS = [("乘以", "*"), ("除以", "/"), ("加上", "+"), ("减去", "-"), ("乘", "*"),
              ("除", "/"), ("加", "+"), ("减", "-"), ("的平方", "**2"), ("×", "*"), ("÷", "/"),
              ("*", "*"), ("/", "/"), ("+", "+"), ("-", "-")]  # fmt: skip


def _notes(slots: dict[str, str]) -> Arguments:
    arguments = {"text": slots["text"]} if slots.get("text") else {}
    return {**arguments, "list": _LISTS.get(slots.get("list", ""), "shopping")}


def _alarm(slots: dict[str, str]) -> Arguments | None:
    hour, minute = parse_number(slots["h"]), parse_number(slots.get("m", "0"))
    if hour is None or minute is None:
        return None
    hour = int(hour)
    minute = 30 if slots.get("half") else 15 if slots.get("q") else int(minute)
    if slots.get("part") in ("下午", "晚上", "今晚") and hour < 12:
        hour += 12
    if hour > 23 or minute > 59:
        return None
    return {"time": f"{hour:02d}:{minute:02d}", "label": slots.get("label", "")}


def _arithmetic(slots: dict[str, str]) -> Arguments | None:
    parts = re.split("(" + "|".join(re.escape(w) for w, _ in _OPERATORS) + ")", slots["expr"])
    symbols, out = dict(_OPERATORS), []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(symbols[part])
        elif part:
            number = parse_number(part)
            if number is None:
                return None
            out.append(f"{number:g}")
    return {"expression": " ".join(out)} if len(parts) > 1 else None


PATTERNS: list[Pattern] = [
    pattern(rf"{_SET}{_ONE}{_D}的?{_TIMER}", "start_timer", timer_arguments),
    pattern(rf"(?:{_TIMER}|{_SET}){_D}(?:的{_TIMER})?", "start_timer", timer_arguments),
    pattern(rf"{_D}(?:后|以后|之后)(?:提醒我|叫我)(?P<label>.*)", "start_timer", timer_arguments),
    pattern(rf"{_TIMER}?还(?:剩|有)(?:多少时间|多久|几分钟|多长时间)", "list_timers"),
    pattern(rf"(?:我)?(?:有)?(?:哪些|什么|几个){_TIMER}|(?:看看|列出)(?:我的)?(?:{_TIMER}|闹钟)",
            "list_timers"),
    pattern(rf"(?:取消|关掉|停止|删除|关闭|停掉)(?:所有的?|全部的?)(?:{_TIMER}|闹钟|提醒)",
            "cancel_timer", lambda slots: {"all": True}),
    pattern(rf"(?:取消|关掉|停止|删除|关闭|停掉)(?:这个|那个)?(?:{_TIMER}|闹钟|提醒)",
            "cancel_timer"),
    pattern(r"(?:现在)?(?:是)?(?:几点了?|几点钟了?|什么时间了?|什么时候了)", "get_time"),
    pattern(r"(?:今天)?(?:是)?(?:几号|几月几号|几月几日|星期几|礼拜几|周几|什么日子)", "get_time"),
    pattern(rf"{_SET}{_ONE}{_CLOCK}的?闹钟", "set_alarm", _alarm),
    pattern(rf"{_CLOCK}(?:叫醒我|叫我起床|叫我)", "set_alarm", _alarm),
    pattern(rf"{_CLOCK}提醒我(?P<label>.+)", "set_alarm", _alarm),
    pattern(rf"提醒我{_CLOCK}(?P<label>.+)", "set_alarm", _alarm),
    pattern(rf"把?(?P<text>.+?)(?:加到|加入|添加到|放到|记到|加进)(?:我的)?{_LIST}(?:里|上|中)?",
            "add_note", _notes),
    pattern(rf"(?:我的)?{_LIST}(?:里|上)?(?:加上|添加|加)(?P<text>.+)", "add_note", _notes),
    pattern(rf"(?:我的)?{_LIST}(?:里|上|中)?(?:有|都有)(?:什么|哪些|啥)(?:东西)?", "read_notes",
            _notes),
    pattern(rf"(?:念|读|看看|看)(?:我的)?{_LIST}", "read_notes", _notes),
    pattern(rf"(?:从)?(?:我的)?{_LIST}(?:里|上|中)?(?:删除|删掉|去掉|划掉)(?P<text>.+)",
            "remove_note", _notes),
    pattern(rf"把(?P<text>.+?)从(?:我的)?{_LIST}(?:里|上|中)?(?:删除|删掉|去掉|划掉)",
            "remove_note", _notes),
    pattern(rf"清空(?:我的)?{_LIST}", "clear_notes", _notes),
    pattern(r"(?:算一下|计算)?(?P<expr>[\d零〇一二两三四五六七八九十百千万.乘以除加上减去的平方×÷*/+\-]+?)"
            r"(?:等于多少|是多少|等于几|得多少)", "calculate", _arithmetic),
]  # fmt: skip


def normalize(text: str) -> str:
    """No spaces or punctuation, no 请 / 帮我 before or 吧 / 吗 after."""
    text = re.sub(r"[\s，。？！、,.?!~～]+", "", text)
    return _TAIL.sub("", _FILLER.sub("", text))


def match_chinese(text: str) -> Command | None:
    return first_match(PATTERNS, normalize(text), "zh")
