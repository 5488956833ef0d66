"""`assistant history`, and the recording done by `reply` and `chat`, run as a user runs them:
the installed command in a subprocess, with the history in a temporary directory."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import clean_environment, word_error_rate

from assistant.audio.codec import decode_file
from assistant.cli.main import cli
from assistant.history.export import conversation_dict
from assistant.history.records import TurnRecord
from assistant.history.store import SQLiteHistory

ASSISTANT = str(Path(sys.executable).parent / "assistant")
QUESTION = "Who wrote Romeo and Juliet?"


def run(db: Path | None, *args: str, stdin: str | None = None, env: dict | None = None):
    environment = clean_environment()
    if db is not None:
        environment["ASSISTANT_HISTORY_PATH"] = str(db)
    result = subprocess.run(
        [ASSISTANT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**environment, **(env or {})},
        timeout=600,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def rows(db: Path, sql: str, *params) -> list[tuple]:
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "history" / "history.db"


@pytest.fixture
def filled(db) -> dict[str, int]:
    """Two saved conversations, one with an interrupted, rated answer."""
    history = SQLiteHistory.open(db)
    dragons = history.start_conversation(title="Dragons")
    history.add_turn(dragons, TurnRecord("user", "Tell me about dragons.", stt_model="whisper"))
    answer = history.add_turn(
        dragons,
        TurnRecord(
            "assistant",
            "Dragons breathe fire.",
            generated="Dragons breathe fire. They hoard gold.",
            interrupted=True,
            latencies={"first_audio": 640.0},
            llm_model="smollm2",
            voice="joe",
        ),
    )
    history.set_feedback(answer, -1, "cut short")
    weather = history.start_conversation()
    question = history.add_turn(weather, TurnRecord("user", "Will it rain tomorrow?"))
    history.add_turn(weather, TurnRecord("assistant", "I cannot know the weather offline."))
    saved = {"dragons": dragons, "answer": answer, "weather": weather, "question": question}
    saved["json"] = conversation_dict(history.conversation(dragons))
    history.close()
    return saved


@pytest.mark.parametrize(
    "command",
    [
        ["history"],
        ["history", "list"],
        ["history", "show"],
        ["history", "export"],
        ["history", "delete"],
        ["history", "search"],
        ["history", "feedback"],
        ["chat"],
        ["reply"],
    ],
)
def test_help(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.output


def test_list_show_export_search_and_delete(db, filled, tmp_path):
    listing = run(db, "history", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [filled["weather"], filled["dragons"]]
    assert lines[0].endswith("2 turns  Will it rain tomorrow?") and lines[1].endswith("Dragons")

    shown = run(db, "history", "show", str(filled["dragons"])).stdout
    assert f"#{filled['answer']}" in shown
    assert "you: Tell me about dragons." in shown
    assert "assistant: Dragons breathe fire.  [interrupted]" in shown
    assert "generated: Dragons breathe fire. They hoard gold." in shown
    assert "smollm2, joe, first_audio 640 ms" in shown
    assert "feedback: thumbs down: cut short" in shown

    exported = run(db, "history", "export", str(filled["dragons"]), "--format", "json")
    assert json.loads(exported.stdout) == filled["json"]
    markdown = run(db, "history", "export", str(filled["dragons"])).stdout
    assert markdown.startswith("# Dragons\n") and "Not spoken: They hoard gold." in markdown
    out = tmp_path / "weather.txt"
    written = run(db, "history", "export", str(filled["weather"]), "-f", "txt", "-o", str(out))
    assert written.returncode == 0 and f"wrote {out}" in written.stderr
    assert out.read_text().endswith(
        "you: Will it rain tomorrow?\nassistant: I cannot know the weather offline.\n"
    )

    found = run(db, "history", "search", "RAIN", "tomorrow").stdout.splitlines()
    assert len(found) == 1 and found[0].split()[:2] == [
        str(filled["weather"]),
        f"#{filled['question']}",
    ]
    assert found[0].endswith("you: Will it rain tomorrow?")
    assert "nothing found" in run(db, "history", "search", "unicorns").stderr

    deleted = run(db, "history", "delete", str(filled["dragons"]))
    assert deleted.returncode == 0 and f"deleted conversation {filled['dragons']}" in deleted.stdout
    assert rows(db, "SELECT conversation_id FROM turns GROUP BY conversation_id") == [
        (filled["weather"],)
    ]
    assert rows(db, "SELECT count(*) FROM feedback") == [(0,)]


def test_unknown_ids_and_bad_arguments_get_clear_errors(db, filled):
    for args in (["show", "99"], ["export", "99"], ["delete", "99"]):
        result = run(db, "history", *args)
        assert result.returncode == 2, args
        assert "there is no conversation 99 in the history" in result.stderr
    result = run(db, "history", "feedback", "99", "up")
    assert result.returncode == 2 and "there is no turn 99" in result.stderr
    result = run(db, "history", "feedback", str(filled["question"]), "up")
    assert result.returncode == 2 and "feedback is for assistant turns" in result.stderr
    cases = {
        ("show", "abc"): "is not a valid integer",
        ("delete",): "give one conversation ID, or --all",
        ("delete", "1", "--all"): "give one conversation ID, or --all",
        ("export", "1", "--format", "pdf"): "'pdf' is not one of",
        ("search",): "Missing argument",
        ("feedback", "2", "sideways"): "'sideways' is not one of",
    }
    for args, message in cases.items():
        result = run(db, "history", *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    assert len(rows(db, "SELECT id FROM conversations")) == 2


def test_delete_all_asks_first(db, filled):
    refused = run(db, "history", "delete", "--all", stdin="n\n")
    assert refused.returncode == 1 and "Delete every saved conversation?" in refused.stdout
    assert len(rows(db, "SELECT id FROM conversations")) == 2
    agreed = run(db, "history", "delete", "--all", stdin="y\n")
    assert agreed.returncode == 0 and "deleted 2 conversations" in agreed.stdout
    assert rows(db, "SELECT count(*) FROM turns") == [(0,)]
    again = run(db, "history", "delete", "--all", "--yes")
    assert again.returncode == 0 and "deleted 0 conversations" in again.stdout


def test_feedback_from_the_command_line(db, filled):
    result = run(
        db, "history", "feedback", str(filled["answer"]), "up", "--comment", "fine after all"
    )
    assert result.returncode == 0 and f"thumbs up on turn {filled['answer']}" in result.stdout
    assert rows(db, "SELECT turn_id, rating, comment FROM feedback") == [
        (filled["answer"], 1, "fine after all")
    ]


def test_reading_an_absent_history_creates_nothing(tmp_path):
    db = tmp_path / "none" / "history.db"
    listing = run(db, "history", "list")
    assert listing.returncode == 0 and listing.stdout == ""
    assert "no saved conversations" in listing.stderr
    shown = run(db, "history", "show", "1")
    assert shown.returncode == 2 and "nothing has been saved yet" in shown.stderr
    off = run(db, "--set", "history.enabled=false", "history", "list")
    assert "history is off" in off.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_database_is_a_clear_error_and_is_left_alone(tmp_path):
    db = tmp_path / "history.db"
    db.write_bytes(b"this is not SQLite" * 200)
    result = run(db, "history", "list")
    assert result.returncode == 1
    assert f"cannot use the history database {db}: it is damaged" in result.stderr
    assert db.read_bytes() == b"this is not SQLite" * 200


# --- recording from the conversational commands ----------------------------------------------


def test_reply_records_both_turns_with_latencies_and_models(question_wav, tmp_path, db, stt):
    out = tmp_path / "answer.wav"
    result = run(db, "reply", str(question_wav), "-o", str(out))
    assert result.returncode == 0, result.stderr
    heard, answer = (line.split(": ", 1)[1] for line in result.stdout.splitlines()[:2])
    turns = rows(
        db,
        "SELECT conversation_id, role, text, generated, interrupted, started_at, ended_at,"
        " latencies, stt_model, llm_model, voice FROM turns ORDER BY id",
    )
    assert len(turns) == 2 and turns[0][0] == turns[1][0]
    asked, answered = turns
    assert asked[1:5] == ("user", heard, "", 0)
    assert word_error_rate(asked[2], QUESTION) <= 0.2
    assert asked[8:] == ("whisper-tiny.en", "", "")
    assert answered[1] == "assistant" and answered[3:5] == (answer, 0)  # all the model wrote
    assert word_error_rate(answered[2], answer) <= 0.2  # the words spoken, as cut for speech
    assert answered[8:] == ("", "smollm2-135m-instruct", "en_US-joe-medium")
    assert asked[5] <= asked[6] <= answered[5] <= answered[6] <= time.time()
    assert json.loads(asked[7]) == {}  # the turn's timings are all on the reply
    latencies = json.loads(answered[7])  # the same vocabulary as `talk` and the browser
    stages = ["endpoint", "transcript", "first_token", "first_sentence", "first_audio", "done"]
    assert list(latencies) == stages
    assert 0 < latencies["transcript"] <= latencies["first_token"] <= latencies["first_sentence"]
    assert latencies["first_sentence"] <= latencies["first_audio"] <= latencies["done"]
    # no audio was kept: the only WAV files are the question's and the answer the user asked for
    assert sorted(p.name for p in tmp_path.rglob("*.wav")) == ["answer.wav"]
    assert rows(db, "SELECT meta FROM conversations") == [("{}",)]

    kept = tmp_path / "kept"
    result = run(db, "reply", str(question_wav), "-o", str(out), "--keep-audio", str(kept))
    assert result.returncode == 0, result.stderr
    (conversation, first, second), _ = rows(
        db,
        "SELECT conversation_id, min(id), max(id) FROM turns GROUP BY conversation_id"
        " ORDER BY conversation_id DESC",
    )
    asked, answered = f"{conversation}-{first}-user.wav", f"{conversation}-{second}-assistant.wav"
    assert sorted(p.name for p in kept.iterdir()) == [asked, answered]
    assert decode_file(kept / answered).pcm == decode_file(out).pcm  # the spoken reply
    heard = stt.transcribe(decode_file(kept / asked)).text
    assert word_error_rate(heard, QUESTION) <= 0.2
    meta = rows(db, "SELECT meta FROM conversations WHERE id = ?", conversation)[0][0]
    assert json.loads(meta) == {"audio_dir": str(kept.resolve())}


def test_chat_records_turns_and_continue_resumes_the_conversation(db):
    first = run(db, "--set", "llm.max_tokens=24", "chat", stdin="My name is Ada.\n")
    assert first.returncode == 0, first.stderr
    second = run(db, "--set", "llm.max_tokens=24", "chat", "--continue", stdin="What is my name?\n")
    assert second.returncode == 0, second.stderr
    assert "(continuing conversation 1: 2 earlier messages)" in second.stderr
    turns = rows(db, "SELECT conversation_id, role, text, llm_model FROM turns ORDER BY id")
    assert [t[:2] for t in turns] == [
        (1, "user"),
        (1, "assistant"),
        (1, "user"),
        (1, "assistant"),
    ]
    assert turns[0][2] == "My name is Ada." and turns[2][2] == "What is my name?"
    assert turns[1][2] and turns[1][2] in first.stdout
    assert turns[3][2] and turns[3][2] in second.stdout
    assert {t[3] for t in turns if t[1] == "assistant"} == {"smollm2-135m-instruct"}
    assert rows(db, "SELECT count(*) FROM conversations") == [(1,)]


def test_chat_with_history_off_writes_nothing(tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    result = run(
        None,
        "--set",
        "history.enabled=false",
        "--set",
        "llm.max_tokens=8",
        "chat",
        "--continue",
        stdin="Hello!\n",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "(no saved conversation to continue: starting a new one)" in result.stderr
    assert "assistant> " in result.stdout
    # only the timers and notes' own store (kept by request; tools.enabled=false: none)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] in ([], ["tools.db"])
    assert not list(tmp_path.rglob("history*"))


def test_chat_with_an_unusable_history_warns_and_still_answers(tmp_path):
    (tmp_path / "file").write_text("in the way")
    result = run(
        tmp_path / "file" / "history.db", "--set", "llm.max_tokens=8", "chat", stdin="Hello!\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: cannot use the history database") == 1
    assert "Going on without saving this conversation." in result.stderr
    assert "assistant> " in result.stdout and len(result.stdout.strip()) > len("assistant>")


def test_killing_the_chat_mid_reply_keeps_every_finished_turn(db):
    environment = clean_environment()
    process = subprocess.Popen(
        [ASSISTANT, "--set", "llm.max_tokens=400", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**environment, "ASSISTANT_HISTORY_PATH": str(db)},
    )
    output = bytearray()

    def read() -> None:
        while chunk := os.read(process.stdout.fileno(), 4096):
            output.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        process.stdin.write(b"Say hello.\nName a colour.\n")
        process.stdin.flush()
        _wait_for(lambda: _count(db, "assistant") == 2, process, "two replies saved")
        process.stdin.write(b"Tell me a very long story about a dragon and a knight.\n")
        process.stdin.flush()
        _wait_for(
            lambda: (
                len(output.split(b"assistant> ")) == 4
                and len(output.split(b"assistant> ")[3].strip()) > 0
            ),
            process,
            "the third reply under way",
        )
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    assert b"Traceback" not in process.stderr.read()

    assert rows(db, "PRAGMA integrity_check") == [("ok",)]
    turns = rows(db, "SELECT role, text FROM turns ORDER BY id")
    assert [role for role, _ in turns] == ["user", "assistant", "user", "assistant", "user"]
    assert turns[0][1] == "Say hello." and turns[4][1].startswith("Tell me a very long story")
    printed = output.decode()
    assert all(text and text in printed for role, text in turns if role == "assistant")
    history = SQLiteHistory.open(db)  # and the file takes new turns again
    assert history.add_turn(history.last_conversation_id(), TurnRecord("user", "Still here?"))
    history.close()
    listing = run(db, "history", "list")
    assert listing.returncode == 0 and "6 turns  Say hello." in listing.stdout


def _count(db: Path, role: str) -> int:
    if not db.exists():
        return 0
    try:
        return rows(db, "SELECT count(*) FROM turns WHERE role = ?", role)[0][0]
    except sqlite3.OperationalError:  # the chat is still creating the tables
        return 0


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the chat ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
