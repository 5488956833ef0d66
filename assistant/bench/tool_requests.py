"""The fixed set of 30 requests the tool-calling benchmark asks each model tier (with the tools
offered in the Qwen/Hermes format), each with the tool and the arguments a right call has.
Most are phrased so that the local matcher does not catch them: it is the model that must."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolRequest:
    text: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)  # each must match (text: contained)


def _r(said: str, tool: str, **arguments: Any) -> ToolRequest:
    return ToolRequest(said, tool, arguments)


REQUESTS: tuple[ToolRequest, ...] = (
    _r("Set a timer for ten minutes.", "start_timer", seconds=600),
    _r("Could you start a countdown of four minutes for my eggs?", "start_timer", seconds=240),
    _r("I'm boiling pasta, give me a nine minute timer.", "start_timer", seconds=540),
    _r("Start a timer for 90 seconds please.", "start_timer", seconds=90),
    _r("Time my plank for one minute.", "start_timer", seconds=60),
    _r("Put a half hour timer on for the laundry.", "start_timer", seconds=1800),
    _r("How much time is left on my timers?", "list_timers"),
    _r("Are any of my timers still running?", "list_timers"),
    _r("Stop all my timers.", "cancel_timer"),
    _r("Never mind the pasta timer, cancel it.", "cancel_timer", label="pasta"),
    _r("What's the time right now?", "get_time"),
    _r("Which day of the week is it today?", "get_time"),
    _r("What's today's date?", "get_time"),
    _r("Wake me up at 6:30 tomorrow morning.", "set_alarm", time="06:30"),
    _r("Set an alarm for 18:00.", "set_alarm", time="18:00"),
    _r("Remind me at 21:15 to take my pills.", "set_alarm", time="21:15"),
    _r("Add milk to my shopping list.", "add_note", text="milk"),
    _r("We're out of coffee, put it on the shopping list.", "add_note", text="coffee"),
    _r("Don't let me forget bread, add it to my list.", "add_note", text="bread"),
    _r("Add 'call the plumber' to my todo list.", "add_note", list="todo"),
    _r("What do I need to buy?", "read_notes"),
    _r("Read me my shopping list.", "read_notes"),
    _r("Take eggs off my shopping list.", "remove_note", text="eggs"),
    _r("I bought everything, clear my shopping list.", "clear_notes"),
    _r("What is 17 times 23?", "calculate"),
    _r("How much is 1250 divided by 5?", "calculate"),
    _r("What's 15% of 80?", "calculate"),
    _r("How many kilometers are 26.2 miles?", "convert_units", from_unit="mi", to_unit="km"),
    _r("Convert 180 degrees Fahrenheit to Celsius.", "convert_units", value=180),
    _r("How many grams is 3 pounds?", "convert_units", value=3),
)
UNIT_SPELLINGS = {"mi": ("mi", "mile", "miles"), "km": ("km", "kilometer", "kilometers",
                                                        "kilometre", "kilometres")}  # fmt: skip


def arguments_right(request: ToolRequest, arguments: dict[str, Any]) -> bool:
    """Whether a call's arguments have what the request asked for."""
    for name, expected in request.arguments.items():
        value = arguments.get(name)
        if name in ("from_unit", "to_unit"):
            if str(value).lower() not in UNIT_SPELLINGS.get(expected, (expected,)):
                return False
        elif isinstance(expected, int | float):
            try:
                if abs(float(value) - expected) > 1e-6:
                    return False
            except (TypeError, ValueError):
                return False
        elif expected.lower() not in str(value).lower():
            return False
    return True
