"""The assistant's own tools: the time and date, timers, alarms, a notes / shopping list and
arithmetic with unit conversion. Each returns a small JSON-able dict (what the model reads back);
`phrases` turns it into words for the voice."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from .calc import CalcError, convert, evaluate
from .registry import Registry, Tool, ToolCallError
from .store import Timer, ToolStore

MAX_TIMER_S = 7 * 86400  # a week
DEFAULT_LIST = "shopping"
Clock = Callable[[], datetime]  # the local time, time zone aware


def local_now() -> datetime:
    return datetime.now().astimezone()


def _string(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


_LIST = _string("the list's name, e.g. shopping or todo", default=DEFAULT_LIST)
_LABEL = _string("an optional name, e.g. pasta")


def builtin_tools(store: ToolStore, clock: Clock = local_now) -> Registry:
    """The tools, working on `store`, telling the time by `clock`."""

    def get_time() -> dict[str, Any]:
        now = clock()
        return {"time": now.strftime("%H:%M"), "date": now.strftime("%Y-%m-%d"),
                "weekday": now.strftime("%A"), "timezone": now.tzname() or ""}  # fmt: skip

    def start_timer(seconds: float, label: str = "") -> dict[str, Any]:
        if not 1 <= seconds <= MAX_TIMER_S:
            raise ToolCallError(f"a timer runs from 1 second to {MAX_TIMER_S // 86400} days")
        timer = store.add_timer("timer", clock().timestamp() + seconds, label)
        return {"id": timer.id, "seconds": seconds, "label": timer.label}

    def list_timers() -> dict[str, Any]:
        now = clock().timestamp()
        return {"timers": [_described(timer, now) for timer in store.timers()]}

    def cancel_timer(label: str = "", id: int | None = None, all: bool = False) -> dict[str, Any]:
        chosen = [t for t in store.timers() if all or t.id == id or
                  (id is None and _label_fits(t, label))]  # fmt: skip
        if not (all or id is not None or label):
            chosen = chosen[:1]  # "cancel the timer": the one that rings first
        cancelled = [t for t in chosen if store.set_state(t.id, "cancelled")]
        return {"cancelled": [_described(t, clock().timestamp()) for t in cancelled]}

    def set_alarm(time: str, label: str = "") -> dict[str, Any]:
        due = next_clock_time(time, clock())
        alarm = store.add_timer("alarm", due.timestamp(), label)
        day = "today" if due.date() == clock().date() else "tomorrow"
        return {"id": alarm.id, "at": due.strftime("%H:%M"), "day": day, "label": alarm.label}

    def add_note(text: str, list: str = DEFAULT_LIST) -> dict[str, Any]:
        if not text.strip():
            raise ToolCallError("a note needs some text")
        note = store.add_note(text.strip(), list.strip().lower() or DEFAULT_LIST)
        return {"id": note.id, "text": note.text, "list": note.list}

    def read_notes(list: str = DEFAULT_LIST) -> dict[str, Any]:
        name = list.strip().lower() or DEFAULT_LIST
        return {"list": name, "items": [n.text for n in store.notes(name)]}

    def remove_note(text: str, list: str = DEFAULT_LIST) -> dict[str, Any]:
        name = list.strip().lower() or DEFAULT_LIST
        return {"list": name, "text": text, "removed": store.remove_note(text=text, list_name=name)}

    def clear_notes(list: str = DEFAULT_LIST) -> dict[str, Any]:
        name = list.strip().lower() or DEFAULT_LIST
        return {"list": name, "removed": store.clear_notes(name)}

    def calculate(expression: str) -> dict[str, Any]:
        try:
            return {"expression": expression, "result": evaluate(expression)}
        except CalcError as error:
            raise ToolCallError(str(error)) from None

    def convert_units(value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
        try:
            result = convert(value, from_unit, to_unit)
        except CalcError as error:
            raise ToolCallError(str(error)) from None
        return {"value": value, "from_unit": from_unit, "to_unit": to_unit, "result": result}

    seconds = {"type": "number", "minimum": 1, "description": "how long, in seconds"}
    return Registry([
        Tool("get_time", "The current local time, date and weekday.", _object({}), get_time),
        Tool("start_timer", "Start a countdown timer.",
             _object({"seconds": seconds, "label": _LABEL}, "seconds"), start_timer),
        Tool("list_timers", "The running timers and alarms and how long each has left.",
             _object({}), list_timers),
        Tool("cancel_timer", "Cancel a timer or alarm: by name, by id, or all of them.",
             _object({"label": _LABEL, "id": {"type": "integer"}, "all": {"type": "boolean"}}),
             cancel_timer),
        Tool("set_alarm", "Set an alarm or reminder at a clock time (24-hour HH:MM).",
             _object({"time": _string("HH:MM, 24-hour, e.g. 18:30"),
                      "label": _string("what to be reminded of")}, "time"), set_alarm),
        Tool("add_note", "Add an item to a list (the shopping list unless another is named).",
             _object({"text": _string("the item"), "list": _LIST}, "text"), add_note),
        Tool("read_notes", "The items on a list.", _object({"list": _LIST}), read_notes),
        Tool("remove_note", "Remove an item from a list.",
             _object({"text": _string("the item"), "list": _LIST}, "text"), remove_note),
        Tool("clear_notes", "Remove every item from a list.", _object({"list": _LIST}),
             clear_notes),
        Tool("calculate", "Work out arithmetic, e.g. 17 * 23 or (2 + 3) / 4.",
             _object({"expression": _string("numbers and + - * / ** ( )")}, "expression"),
             calculate),
        Tool("convert_units", "Convert a quantity between units (length, mass, volume, time, "
             "temperature).", _object({"value": {"type": "number"},
                                        "from_unit": _string("e.g. miles"),
                                        "to_unit": _string("e.g. km")},
                                       "value", "from_unit", "to_unit"), convert_units),
    ])  # fmt: skip


def _object(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required)}


def _described(timer: Timer, now: float) -> dict[str, Any]:
    due = datetime.fromtimestamp(timer.due_at).astimezone()
    return {"id": timer.id, "kind": timer.kind, "label": timer.label,
            "left_seconds": round(timer.left(now)), "at": due.strftime("%H:%M")}  # fmt: skip


def _label_fits(timer: Timer, label: str) -> bool:
    return not label or label.strip().lower() in timer.label.lower()


def next_clock_time(text: str, now: datetime) -> datetime:
    """The next moment (today or tomorrow) at clock time `text`: "18:30", "7", "6 pm", "6:15am"."""
    found = re.fullmatch(r"\s*(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?\s*", text.lower())
    if not found:
        raise ToolCallError(f"'{text}' is not a clock time; say it as HH:MM, e.g. 18:30")
    hour, minute = int(found[1]), int(found[2] or 0)
    suffix = (found[3] or "").replace(".", "")
    if suffix and not 1 <= hour <= 12:
        raise ToolCallError(f"'{text}' is not a clock time")
    if suffix:
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ToolCallError(f"'{text}' is not a clock time")
    moment = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return moment if moment > now else moment + timedelta(days=1)
