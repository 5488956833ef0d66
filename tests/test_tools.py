"""The assistant's own tools: the local matcher (many phrasings, and sentences it must leave to
the model), the safe calculator, the registry's checks, the SQLite store across a restart, the
scheduler, `assistant timers` / `assistant notes`, and local commands in `assistant chat`."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import clean_environment
from test_history_cli import ASSISTANT

from assistant.tools import LocalSkills, ToolCallError, ToolStore
from assistant.tools.builtin import builtin_tools, next_clock_time
from assistant.tools.calc import CalcError, convert, evaluate
from assistant.tools.matcher import match
from assistant.tools.scheduler import Scheduler

MATCHES = [  # sentence, tool, arguments (a subset)
    ("Set a timer for ten minutes.", "start_timer", {"seconds": 600}),
    ("set a timer for 3 seconds", "start_timer", {"seconds": 3}),
    ("Please set a pasta timer for 12 minutes", "start_timer", {"seconds": 720, "label": "pasta"}),
    ("Can you start a timer for an hour and a half?", "start_timer", {"seconds": 5400}),
    ("timer for 1 hour and 30 minutes", "start_timer", {"seconds": 5400}),
    ("set a five minute timer", "start_timer", {"seconds": 300}),
    ("Hey, 20 second timer", "start_timer", {"seconds": 20}),
    ("start a timer for two and a half minutes", "start_timer", {"seconds": 150}),
    ("set a timer for twenty five minutes called laundry", "start_timer",
     {"seconds": 1500, "label": "laundry"}),
    ("remind me in 10 minutes to check the oven", "start_timer",
     {"seconds": 600, "label": "check the oven"}),
    ("How much time is left?", "list_timers", {}),
    ("how long is left on the pasta timer", "list_timers", {}),
    ("what timers are running", "list_timers", {}),
    ("Cancel the timer.", "cancel_timer", {}),
    ("stop the pasta timer", "cancel_timer", {"label": "pasta"}),
    ("cancel all timers", "cancel_timer", {"all": True}),
    ("What time is it?", "get_time", {}),
    ("what's the time", "get_time", {}),
    ("What's the date today?", "get_time", {}),
    ("what day is it", "get_time", {}),
    ("Set an alarm for 7 am.", "set_alarm", {"time": "07:00"}),
    ("wake me up at six thirty", "set_alarm", {"time": "06:30"}),
    ("set an alarm for 6:45 pm", "set_alarm", {"time": "18:45"}),
    ("Remind me to call mum at 6 pm.", "set_alarm", {"time": "18:00", "label": "call mum"}),
    ("remind me at noon to water the plants", "set_alarm",
     {"time": "12:00", "label": "water the plants"}),
    ("Add milk to my shopping list.", "add_note", {"text": "milk", "list": "shopping"}),
    ("put eggs on the list", "add_note", {"text": "eggs", "list": "shopping"}),
    ("add call the plumber to my todo list", "add_note",
     {"text": "call the plumber", "list": "todo"}),
    ("What's on my shopping list?", "read_notes", {"list": "shopping"}),
    ("read me my list", "read_notes", {"list": "shopping"}),
    ("remove milk from my shopping list", "remove_note", {"text": "milk"}),
    ("clear my shopping list", "clear_notes", {"list": "shopping"}),
    ("What's 17 times 23?", "calculate", {"expression": "17 * 23"}),
    ("what is twenty five plus seventeen", "calculate", {"expression": "25 + 17"}),
    ("calculate 144 divided by 12", "calculate", {"expression": "144 / 12"}),
    ("what is 15 percent of 80", "calculate", {"expression": "15 /100* 80"}),
    ("convert 5 miles to km", "convert_units",
     {"value": 5, "from_unit": "miles", "to_unit": "km"}),
    ("how many grams in a pound", "convert_units",
     {"value": 1, "from_unit": "pound", "to_unit": "grams"}),
    ("what's 100 fahrenheit in celsius", "convert_units", {"from_unit": "fahrenheit"}),
    ("定一个五分钟的计时器", "start_timer", {"seconds": 300}),
    ("设置一个十分钟的定时器。", "start_timer", {"seconds": 600}),
    ("帮我定个两分钟的计时器", "start_timer", {"seconds": 120}),
    ("计时三十秒", "start_timer", {"seconds": 30}),
    ("倒计时十五分钟", "start_timer", {"seconds": 900}),
    ("定一个1小时的计时器", "start_timer", {"seconds": 3600}),
    ("十分钟后提醒我关火", "start_timer", {"seconds": 600, "label": "关火"}),
    ("现在几点了？", "get_time", {}),
    ("现在几点", "get_time", {}),
    ("今天星期几", "get_time", {}),
    ("计时器还剩多少时间", "list_timers", {}),
    ("取消计时器", "cancel_timer", {}),
    ("取消所有的闹钟", "cancel_timer", {"all": True}),
    ("定一个早上七点的闹钟", "set_alarm", {"time": "07:00"}),
    ("明天早上七点半叫醒我", "set_alarm", {"time": "07:30"}),
    ("下午六点提醒我给妈妈打电话", "set_alarm", {"time": "18:00", "label": "给妈妈打电话"}),
    ("把牛奶加到购物清单", "add_note", {"text": "牛奶", "list": "shopping"}),
    ("购物清单里有什么？", "read_notes", {"list": "shopping"}),
    ("把牛奶从购物清单删掉", "remove_note", {"text": "牛奶"}),
    ("清空购物清单", "clear_notes", {}),
    ("十七乘以二十三等于多少", "calculate", {"expression": "17 * 23"}),
]  # fmt: skip
NOT_COMMANDS = [
    "I watched a timer documentary",
    "what time did you say it was yesterday",
    "tell me about the history of timers",
    "what time does the store open",
    "add salt to the soup",
    "what is the capital of France",
    "what is love",
    "timer",
    "a list of presidents",
    "What is a timer?",
    "how many people live in China",
    "my alarm didn't go off this morning",
    "remind me what we talked about",
    "what is the time complexity of quicksort",
    "the shopping list was long",
    "convert this sentence to French",
    "我看了一部关于计时器的纪录片",
    "你昨天说几点了",
    "计时器是谁发明的",
    "购物清单是什么意思",
    "",
]


@pytest.mark.parametrize(("sentence", "tool", "arguments"), MATCHES)
def test_the_matcher_understands_common_phrasings(sentence, tool, arguments):
    command = match(sentence)
    assert command is not None, sentence
    assert command.tool == tool
    assert {k: command.arguments.get(k) for k in arguments} == arguments
    assert command.language == ("zh" if any("\u4e00" <= c <= "\u9fff" for c in sentence) else "en")


@pytest.mark.parametrize("sentence", NOT_COMMANDS)
def test_the_matcher_leaves_everything_else_to_the_model(sentence):
    assert match(sentence) is None


def test_the_calculator_is_exact_and_refuses_code_and_huge_numbers():
    assert evaluate("17 * 23") == 391
    assert evaluate("(2 + 3) ** 2 / 4") == 6.25
    assert convert(100, "fahrenheit", "celsius") == pytest.approx(37.7778, abs=1e-3)
    assert convert(5, "miles", "km") == pytest.approx(8.04672)
    for bad, why in [("__import__('os').system('true')", "only numbers"),
                     ("(lambda: 1)()", "only numbers"), ("9 ** 9 ** 9", "exponent"),
                     ("10 ** 60", "out of range"), ("1 / 0", "divide by zero"),
                     ("2 +", "not arithmetic"), ("1" * 300, "characters")]:  # fmt: skip
        with pytest.raises(CalcError, match=why):
            evaluate(bad)
    with pytest.raises(CalcError, match="cannot convert mass"):
        convert(1, "kg", "km")


@pytest.fixture
def tools(tmp_path) -> ToolStore:
    store = ToolStore.open(tmp_path / "tools.db")
    yield store
    store.close()


def test_the_registry_checks_arguments_against_the_schema(tools):
    registry = builtin_tools(tools)
    assert {spec["function"]["name"] for spec in registry.specs()} >= {"start_timer", "add_note"}
    assert registry.call("calculate", '{"expression": "6 * 7"}')["result"] == 42
    assert registry.call("start_timer", {"seconds": "90"})["seconds"] == 90  # text taken as number
    for arguments, why in [("{not json", "not valid JSON"), ("[1]", "JSON object"),
                           ({}, "missing argument"), ({"seconds": "soon"}, "must be a number"),
                           ({"seconds": 5, "colour": "red"}, "unknown argument"),
                           ({"seconds": 0.2}, "at least 1")]:  # fmt: skip
        with pytest.raises(ToolCallError, match=why):
            registry.call("start_timer", arguments)
    with pytest.raises(ToolCallError, match="there is no tool 'fly'"):
        registry.call("fly", {})


def test_alarms_ring_at_the_next_clock_time():
    now = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
    assert next_clock_time("21:15", now) == now.replace(hour=21, minute=15)
    assert next_clock_time("7 am", now) == now.replace(hour=7) + timedelta(days=1)
    with pytest.raises(ToolCallError, match="not a clock time"):
        next_clock_time("25:00", now)


def test_timers_and_notes_survive_reopening_the_store(tmp_path):
    path = tmp_path / "tools.db"
    first = ToolStore.open(path)
    skills = LocalSkills.on(first)
    assert skills.answer("set a pasta timer for 10 minutes", "en") == \
        "OK, pasta timer set for 10 minutes."  # fmt: skip
    assert skills.answer("add milk to my shopping list", "en") == \
        "Added milk to your shopping list."  # fmt: skip
    assert skills.answer("把鸡蛋加到购物清单", "zh") == "已把鸡蛋加到购物清单。"
    first.close()
    again = LocalSkills.on(ToolStore.open(path))
    assert again.answer("what's on my shopping list", "en") == \
        "Your shopping list has 2: milk, 鸡蛋."  # fmt: skip
    assert again.answer("how much time is left on the pasta timer", "en").endswith(
        "left on the pasta timer."
    )
    assert again.answer("cancel the pasta timer", "en").startswith("Cancelled ")
    assert again.answer("how much time is left", "en") == "There are no timers running."
    assert again.answer("What's 17 times 23?", "en") == "That's 391."
    assert again.answer("十七乘以二十三等于多少", "zh") == "等于391。"
    assert again.answer("what is 7 divided by 0", "en") == \
        "Sorry, I couldn't do that: cannot divide by zero."  # fmt: skip
    assert again.answer("tell me a story", "en") is None


def test_the_time_is_the_local_time(tools):
    moment = datetime(2026, 3, 4, 15, 7, tzinfo=timezone(timedelta(hours=8)))
    skills = LocalSkills(builtin_tools(tools, clock=lambda: moment))
    assert skills.answer("what time is it", "en") == "It's 3:07 PM on Wednesday, 2026-03-04."
    assert skills.answer("现在几点了", "zh") == "现在是2026年3月4日，15点07分。"


def test_due_timers_ring_once_and_late_ones_are_reported_missed(tools):
    said: list[str] = []
    scheduler = Scheduler(tools, said.append, missed_after_s=60)
    now = time.time()
    tools.add_timer("timer", now - 1, "eggs")
    tools.add_timer("alarm", now - 3600, "call mum")  # rang while the assistant was off
    tools.add_timer("timer", now + 600)
    assert (
        scheduler.ring_due(now)
        == said
        == ["Missed while I was off: Reminder: call mum.", "Your eggs timer is done!"]
    )
    assert scheduler.ring_due(now) == []  # each rings once
    assert [t.state for t in tools.timers(pending_only=False)] == ["missed", "fired", "pending"]


def run(*args: str, data: Path) -> subprocess.CompletedProcess:
    environment = {**clean_environment(), "ASSISTANT_TOOLS_PATH": str(data / "tools.db")}
    result = subprocess.run([ASSISTANT, *args], capture_output=True, text=True, env=environment,
                            timeout=300, check=False)  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_the_timers_and_notes_commands(tmp_path):
    assert run("timers", "add", "10 minutes", "--label", "tea", data=tmp_path).returncode == 0
    assert run("timers", "alarm", "18:30", data=tmp_path).returncode == 0
    listed = run("timers", "list", data=tmp_path).stdout
    assert "timer" in listed and "tea" in listed and "18:30:00" in listed
    bad = run("timers", "add", "soon", data=tmp_path)
    assert bad.returncode == 2 and "'soon' is not a duration" in bad.stderr
    assert run("timers", "cancel", "1", data=tmp_path).stdout.strip() == "cancelled 1"
    missing = run("timers", "cancel", "1", data=tmp_path)
    assert missing.returncode == 2 and "no running timer or alarm with ID 1" in missing.stderr
    assert "tea" not in run("timers", "list", data=tmp_path).stdout
    assert run("notes", "add", "oat", "milk", data=tmp_path).returncode == 0
    assert run("notes", "add", "bread", "--list", "todo", data=tmp_path).returncode == 0
    assert run("notes", "list", data=tmp_path).stdout.split() == [
        "1", "shopping", "oat", "milk", "2", "todo", "bread"]  # fmt: skip
    assert run("notes", "remove", "1", data=tmp_path).stdout.strip() == "removed 1"
    assert run("notes", "clear", "--list", "todo", data=tmp_path).returncode == 0
    assert run("notes", "list", data=tmp_path).stdout == ""
    with sqlite3.connect(tmp_path / "tools.db") as db:
        assert db.execute("SELECT count(*) FROM timers").fetchone()[0] == 2


def test_chat_answers_commands_itself_and_the_rest_with_the_model(tmp_path):
    """Typed into `assistant chat`: the commands need no model; the history keeps every turn."""
    history = tmp_path / "history.db"
    environment = {**clean_environment(), "ASSISTANT_TOOLS_PATH": str(tmp_path / "tools.db"),
                   "ASSISTANT_HISTORY_PATH": str(history)}  # fmt: skip
    lines = (
        "add milk to my shopping list\nwhat's on my list\nWhat's 17 times 23?\n"
        "把鸡蛋加到购物清单\n现在几点了？\nSay hi.\n"
    )
    command = [ASSISTANT, "--set", "llm.max_tokens=8", "chat"]
    result = subprocess.run(command, input=lines, capture_output=True, text=True,
                            env=environment, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    replies = [line.removeprefix("assistant> ") for line in result.stdout.splitlines()]
    assert replies[:4] == ["Added milk to your shopping list.", "Your shopping list has 1: milk.",
                           "That's 391.", "已把鸡蛋加到购物清单。"]  # fmt: skip
    assert replies[4].startswith("现在是") and replies[4].endswith("分。"), replies[4]
    assert replies[5].strip()  # the model answered the rest
    with sqlite3.connect(history) as db:
        turns = db.execute("SELECT role, text FROM turns ORDER BY id").fetchall()
    assert turns[:2] == [("user", "add milk to my shopping list"),
                         ("assistant", "Added milk to your shopping list.")]  # fmt: skip
    assert len(turns) == 12


def test_the_tool_call_benchmark_scores_calls():
    from assistant.bench.tool_requests import REQUESTS
    from assistant.bench.tools import _outcome

    names = builtin_tools(ToolStore.open(":memory:"))
    assert len(REQUESTS) == 30 and all(r.tool in names for r in REQUESTS)
    eggs = REQUESTS[1]  # a four-minute countdown
    assert _outcome(eggs, '{"name": "start_timer", "arguments": {"seconds": 240}}', names) \
        == "right"  # fmt: skip
    assert _outcome(eggs, '{"name": "start_timer", "arguments": {"seconds": 4}}', names) \
        == "wrong_arguments"  # fmt: skip
    assert _outcome(eggs, '{"name": "set_alarm", "arguments": {"time": "04:00"}}', names) \
        == "wrong_tool"  # fmt: skip
    assert _outcome(eggs, '{"name": "start_timer", "arguments": {"seconds": "2', names) \
        == "malformed"  # fmt: skip
    assert _outcome(eggs, "Sure, four minutes it is.", names) == "no_call"
    assert _outcome(REQUESTS[6], '{"name": "list_timers", "arguments": {"id": 1}}', names) \
        == "extra_arguments"  # a call the tool would refuse  # fmt: skip


def test_a_command_in_a_reply_begun_early_acts_only_once_confirmed(tools, chat):
    """A reply begun at a pause (the user may go on) sets no timer until it is the turn."""
    import asyncio

    from assistant.conversation.events import TurnTimings
    from assistant.conversation.reply import Reply, ReplySettings, Stages, Workers

    async def begin(confirm: bool) -> str:
        workers = Workers()
        reply = Reply(Stages(None, chat, None, LocalSkills.on(tools)), workers,
                      "Set a timer for 5 minutes.", history=[], sink=None,
                      settings=ReplySettings(), timings=TurnTimings(), confirmed=False)  # fmt: skip
        task = asyncio.get_running_loop().create_task(reply.run())
        await asyncio.sleep(0.5)
        assert tools.timers() == []  # matched, but waiting for the turn to be over
        if not confirm:
            task.cancel()  # the user went on talking: dropped
            await asyncio.gather(task, return_exceptions=True)
            workers.shutdown()
            return ""
        reply.confirm(None, None, None)
        record = await task
        workers.shutdown()
        return record.spoken

    assert asyncio.run(begin(False)) == "" and tools.timers() == []
    assert asyncio.run(begin(True)) == "OK, timer set for 5 minutes."
    assert len(tools.timers()) == 1
