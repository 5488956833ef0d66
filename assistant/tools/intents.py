"""What a matched sentence asks for: a tool call, the language to answer in, and the helpers the
English and Chinese sentence tables share (slots turned into a tool's arguments)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .numbers import parse_duration

Arguments = dict[str, Any]
Build = Callable[[dict[str, str]], Arguments | None]  # slots -> arguments; None: not this one


@dataclass(frozen=True)
class Command:
    """A sentence understood without the language model."""

    tool: str
    arguments: Arguments = field(default_factory=dict)
    language: str = "en"


@dataclass(frozen=True)
class Pattern:
    """A whole sentence (a regular expression matched in full) and the call it makes."""

    regex: re.Pattern[str]
    tool: str
    build: Build

    def match(self, text: str, language: str) -> Command | None:
        found = self.regex.fullmatch(text)
        if found is None:
            return None
        slots = {k: v.strip() for k, v in found.groupdict().items() if v}
        arguments = self.build(slots)
        return None if arguments is None else Command(self.tool, arguments, language)


def pattern(regex: str, tool: str, build: Build = lambda slots: {}) -> Pattern:
    return Pattern(re.compile(regex), tool, build)


def timer_arguments(slots: dict[str, str]) -> Arguments | None:
    seconds = parse_duration(slots.get("d", ""))
    if seconds is None:
        return None
    label = slots.get("label") or slots.get("label2") or ""
    return {"seconds": seconds, "label": label}


def label_arguments(slots: dict[str, str]) -> Arguments:
    return {"label": slots["label"]} if slots.get("label") else {}


def first_match(patterns: list[Pattern], text: str, language: str) -> Command | None:
    for candidate in patterns:
        command = candidate.match(text, language)
        if command is not None:
            return command
    return None
