"""What a tool's result sounds like, in English or Chinese: the confirmation of a command, and
the announcement when a timer or alarm rings (or was missed while the assistant was off)."""

from __future__ import annotations

from typing import Any

from .calc import say_number
from .numbers import say_duration
from .store import Timer

ZH_LISTS = {"shopping": "购物", "todo": "待办", "notes": "备忘"}  # a list's name in Chinese


def phrase(name: str, result: dict[str, Any], language: str = "en") -> str:
    """The spoken answer for tool `name`'s `result`."""
    zh = language == "zh"
    say = _ZH if zh else _EN
    if zh and "list" in result:
        result = {**result, "list": ZH_LISTS.get(result["list"], result["list"])}
    if name == "get_time":
        hour, minute = (int(x) for x in result["time"].split(":"))
        if zh:
            return f"现在是{result['date'][:4]}年{int(result['date'][5:7])}月" \
                   f"{int(result['date'][8:])}日，{hour}点{minute:02d}分。"  # fmt: skip
        twelve = f"{hour % 12 or 12}:{minute:02d} {'PM' if hour >= 12 else 'AM'}"
        return f"It's {twelve} on {result['weekday']}, {result['date']}."
    if name == "start_timer":
        what = _named(result["label"], zh)
        return say["timer"].format(what=what, d=say_duration(result["seconds"], language))
    if name in ("list_timers", "cancel_timer"):
        timers = result["timers" if name == "list_timers" else "cancelled"]
        if not timers:
            return say["no_timers"]
        parts = [_timer_left(t, language) for t in timers]
        key = "left" if name == "list_timers" else "cancelled"
        return say[key].format(items=("；" if zh else "; ").join(parts))
    if name == "set_alarm":
        day = {"today": "今天", "tomorrow": "明天"}[result["day"]] if zh else result["day"]
        what = f"{'：' if zh else ': '}{result['label']}" if result["label"] else ""
        return say["alarm"].format(at=result["at"], day=day, what=what)
    if name == "add_note":
        return say["added"].format(text=result["text"], list=result["list"])
    if name == "read_notes":
        if not result["items"]:
            return say["empty"].format(list=result["list"])
        items = ("、" if zh else ", ").join(result["items"])
        return say["items"].format(list=result["list"], items=items, n=len(result["items"]))
    if name == "remove_note":
        return say["removed" if result["removed"] else "not_found"].format(**result)
    if name == "clear_notes":
        return say["cleared"].format(**result)
    if name == "calculate":
        return say["result"].format(value=say_number(result["result"]))
    if name == "convert_units":
        return say["converted"].format(value=say_number(result["value"]), result=say_number(
            result["result"]), source=result["from_unit"], target=result["to_unit"])  # fmt: skip
    return str(result)


def announcement(timer: Timer, *, missed: bool, language: str = "en") -> str:
    """What is said when `timer` rings, or when it was found missed at start."""
    zh = language == "zh"
    what = _named(timer.label, zh) if timer.kind == "timer" else ""
    if timer.kind == "alarm":
        what = (f"提醒：{timer.label}" if zh else f"Reminder: {timer.label}") if timer.label \
            else ("闹钟" if zh else "alarm")  # fmt: skip
    if missed:
        return f"{what}在我关闭时已经到时间了。" if zh else f"Missed while I was off: {what}."
    if zh:
        return f"{what}时间到了！" if timer.kind == "timer" else f"{what}。时间到了！"
    return f"Your {what} is done!" if timer.kind == "timer" else f"{what[0].upper()}{what[1:]}."


def failure(error: Exception, language: str = "en") -> str:
    """A tool that could not do what was asked, said plainly."""
    if language == "zh":
        return f"抱歉，我做不到：{error}"
    return f"Sorry, I couldn't do that: {error}."


def _named(label: str, zh: bool) -> str:
    if label.lower().endswith(("timer", "计时器")):
        return label
    if zh:
        return f"{label}计时器" if label else "计时器"
    return f"{label} timer" if label else "timer"


def _timer_left(timer: dict[str, Any], language: str) -> str:
    zh = language == "zh"
    if timer["kind"] == "alarm":
        label = f" ({timer['label']})" if timer["label"] else ""
        return f"{timer['at']}的闹钟{label}" if zh else f"the alarm at {timer['at']}{label}"
    left = say_duration(timer["left_seconds"], language)
    name = _named(timer["label"], zh)
    return f"{name}还剩{left}" if zh else f"{left} left on the {name}"


_EN = {
    "timer": "OK, {what} set for {d}.",
    "no_timers": "There are no timers running.",
    "left": "{items}.",
    "cancelled": "Cancelled {items}.",
    "alarm": "OK, alarm set for {at} {day}{what}.",
    "added": "Added {text} to your {list} list.",
    "empty": "Your {list} list is empty.",
    "items": "Your {list} list has {n}: {items}.",
    "removed": "Removed {text} from your {list} list.",
    "not_found": "{text} isn't on your {list} list.",
    "cleared": "Cleared your {list} list.",
    "result": "That's {value}.",
    "converted": "{value} {source} is {result} {target}.",
}
_ZH = {
    "timer": "好的，{what}已设为{d}。",
    "no_timers": "现在没有计时器。",
    "left": "{items}。",
    "cancelled": "已取消：{items}。",
    "alarm": "好的，闹钟定在{day}{at}{what}。",
    "added": "已把{text}加到{list}清单。",
    "empty": "{list}清单是空的。",
    "items": "{list}清单上有{n}项：{items}。",
    "removed": "已从{list}清单删除{text}。",
    "not_found": "{list}清单上没有{text}。",
    "cleared": "已清空{list}清单。",
    "result": "等于{value}。",
    "converted": "{value}{source}等于{result}{target}。",
}
