"""The transcript transcripts, on real SQLite files: round trips, migrations, exports, deletion,
retention, failure handling, and the privacy guarantees of a whole real voice turn."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import word_error_rate

from assistant.audio.codec import decode_file, silence
from assistant.cli.chat import run_chat
from assistant.config import HistoryConfig
from assistant.conversation.turn import voice_turn
from assistant.errors import UsageError
from assistant.history import db as history_db
from assistant.history.db import MIGRATIONS
from assistant.history.export import render
from assistant.history.keep_audio import NO_AUDIO, AudioKeeper
from assistant.history.recorder import Recorder, recording
from assistant.history.records import NotFoundError, TurnRecord
from assistant.history.store import DisabledHistory, SQLiteHistory, history_path, open_history
from assistant.types import ChatMessage

QUESTION = "Who wrote Romeo and Juliet?"


def user(text: str, at: float = 1_700_000_000.0, **fields) -> TurnRecord:
    return TurnRecord("user", text, started_at=at, ended_at=at + 1.5, **fields)


def assistant(text: str, at: float = 1_700_000_002.0, **fields) -> TurnRecord:
    fields.setdefault("generated", text)
    return TurnRecord("assistant", text, started_at=at, ended_at=at + 2.25, **fields)


class Warnings(list):
    def __call__(self, message: str) -> None:
        self.append(message)


@pytest.fixture
def db_path(tmp_path) -> Path:
    return tmp_path / "data" / "history.db"


@pytest.fixture
def transcripts(db_path):
    history = SQLiteHistory.open(db_path)
    yield history
    history.close()


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """An independent connection, to check what is really in the file."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def scalar(path: Path, sql: str):
    with raw(path) as db:
        return db.execute(sql).fetchone()[0]


# --- the store -------------------------------------------------------------------------------


def test_turns_round_trip_with_every_field(db_path):
    records = [
        user(
            "What is the capital of France?", stt_model="whisper-tiny.en", latencies={"stt": 431.5}
        ),
        assistant(
            "Paris is the capital.",
            generated="Paris is the capital. It is also the largest city in France.",
            interrupted=True,
            latencies={"first_token": 212.25, "first_audio": 640.0, "total": 1900.125},
            llm_model="smollm2-135m-instruct",
            voice="en_US-joe-medium",
        ),
    ]
    writer = SQLiteHistory.open(db_path)
    conversation_id = writer.start_conversation(title="Geography", meta={"source": "test"})
    ids = [writer.add_turn(conversation_id, record) for record in records]
    writer.close()

    reader = SQLiteHistory.open(db_path)  # a new connection reads back what was committed
    conversation = reader.conversation(conversation_id)
    assert [turn.record for turn in conversation.turns] == records
    assert [turn.id for turn in conversation.turns] == ids and all(ids)
    assert {turn.conversation_id for turn in conversation.turns} == {conversation_id}
    assert conversation.title == "Geography" and conversation.meta == {"source": "test"}
    assert conversation.updated_at == records[1].ended_at
    assert all(turn.feedback is None for turn in conversation.turns)
    reader.close()


def test_the_file_uses_wal_foreign_keys_with_cascade_and_a_schema_version(transcripts, db_path):
    transcripts.add_turn(transcripts.start_conversation(), user("hello"))
    with raw(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) >= 1
        keys = db.execute("PRAGMA foreign_key_list(turns)").fetchall()
        assert [(k[2], k[6]) for k in keys] == [("conversations", "CASCADE")]
        keys = db.execute("PRAGMA foreign_key_list(feedback)").fetchall()
        assert [(k[2], k[6]) for k in keys] == [("turns", "CASCADE")]


def test_an_empty_version_0_database_is_migrated(db_path):
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as db:
        db.execute("VACUUM")  # a valid database file, version 0, with no tables
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    assert db_path.stat().st_size > 0
    history = SQLiteHistory.open(db_path)
    assert history.add_turn(history.start_conversation(), user("hi"))
    history.close()
    with raw(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"conversations", "turns", "feedback"} <= tables


def test_reopening_an_up_to_date_database_keeps_everything(db_path):
    first = SQLiteHistory.open(db_path)
    conversation_id = first.start_conversation()
    first.add_turn(conversation_id, user("remember me"))
    first.close()
    with raw(db_path) as db:
        schema = db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    again = SQLiteHistory.open(db_path)
    assert again.context_messages(conversation_id) == [ChatMessage("user", "remember me")]
    again.close()
    with raw(db_path) as db:
        assert db.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_later_migration_upgrades_an_existing_database(db_path, monkeypatch):
    first = SQLiteHistory.open(db_path)
    first.add_turn(first.start_conversation(), user("before the upgrade"))
    first.close()
    upgrade = ("ALTER TABLE turns ADD COLUMN emotion TEXT NOT NULL DEFAULT 'calm'",)
    monkeypatch.setattr(history_db, "MIGRATIONS", (*MIGRATIONS, upgrade))  # the next release
    SQLiteHistory.open(db_path).close()
    with raw(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 1
        assert db.execute("SELECT text, emotion FROM turns").fetchall() == [
            ("before the upgrade", "calm")
        ]


def test_a_failed_migration_leaves_the_file_as_it_was(db_path):
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as db:
        db.execute("CREATE TABLE turns (something TEXT)")  # in the way of the first migration
    warnings = Warnings()
    history = open_history(HistoryConfig(path=str(db_path)), warn=warnings)
    assert isinstance(history, DisabledHistory)
    assert len(warnings) == 1 and "turns already exists" in warnings[0]
    with raw(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"turns"}  # the migration was rolled back as a whole


def test_a_database_from_a_newer_version_is_left_alone(db_path):
    db_path.parent.mkdir(parents=True)
    with raw(db_path) as db:
        db.execute("PRAGMA user_version = 99")
    before = db_path.read_bytes()
    warnings = Warnings()
    history = open_history(HistoryConfig(path=str(db_path)), warn=warnings)
    assert isinstance(history, DisabledHistory)
    assert len(warnings) == 1 and "newer version of the assistant" in warnings[0]
    assert db_path.read_bytes() == before


def test_conversations_are_listed_newest_first_with_a_title(transcripts):
    soon = time.time()
    first = transcripts.start_conversation()
    transcripts.add_turn(
        first, user("  An old question that goes on and on " + "and on " * 20, soon + 1)
    )
    second = transcripts.start_conversation(title="Named")
    transcripts.add_turn(second, user("A newer one", at=soon + 20))
    empty = transcripts.start_conversation()
    transcripts.add_turn(first, assistant("A late answer to the old one.", at=soon + 30))
    summaries = transcripts.conversations()
    assert [s.id for s in summaries] == [first, second, empty]  # by latest activity
    by_id = {s.id: s for s in summaries}
    assert by_id[first].turns == 2 and by_id[second].turns == 1 and by_id[empty].turns == 0
    assert by_id[first].title.startswith("An old question that goes on and on and on")
    assert len(by_id[first].title) <= 60 and by_id[first].title.endswith("…")
    assert by_id[second].title == "Named"
    assert len(transcripts.conversations(limit=2)) == 2
    assert transcripts.last_conversation_id() == first


def test_context_holds_what_was_said_and_spoken_not_what_was_only_generated(transcripts):
    conversation_id = transcripts.start_conversation()
    transcripts.add_turn(conversation_id, user("Tell me a story."))
    transcripts.add_turn(
        conversation_id,
        assistant(
            "Once upon a time", generated="Once upon a time there was a dragon.", interrupted=True
        ),
    )
    transcripts.add_turn(conversation_id, user("Stop. Something else."))
    transcripts.add_turn(conversation_id, assistant("", generated="Sure, what", interrupted=True))
    assert transcripts.context_messages(conversation_id) == [
        ChatMessage("user", "Tell me a story."),
        ChatMessage("assistant", "Once upon a time"),
        ChatMessage("user", "Stop. Something else."),
    ]
    with pytest.raises(NotFoundError, match="no conversation 999"):
        transcripts.context_messages(999)


def make_exportable(transcripts) -> int:
    conversation_id = transcripts.start_conversation(title="Dragons")
    transcripts.add_turn(
        conversation_id, user("Tell me about dragons.", stt_model="whisper-tiny.en")
    )
    answer = transcripts.add_turn(
        conversation_id,
        assistant(
            "Dragons breathe fire.",
            generated="Dragons breathe fire. They also hoard gold.",
            interrupted=True,
            latencies={"first_audio": 512.0},
            llm_model="smollm2-135m-instruct",
            voice="en_US-joe-medium",
        ),
    )
    transcripts.set_feedback(answer, -1, "cut short")
    return conversation_id


def test_export_as_json_holds_every_saved_field(transcripts):
    conversation_id = make_exportable(transcripts)
    data = json.loads(render(transcripts.conversation(conversation_id), "json"))
    assert data["id"] == conversation_id and data["title"] == "Dragons"
    first, second = data["turns"]
    assert first["role"] == "user" and first["text"] == "Tell me about dragons."
    assert first["stt_model"] == "whisper-tiny.en" and first["feedback"] is None
    assert second == {
        "id": second["id"],
        "role": "assistant",
        "text": "Dragons breathe fire.",
        "generated": "Dragons breathe fire. They also hoard gold.",
        "interrupted": True,
        "started_at": 1_700_000_002.0,
        "ended_at": 1_700_000_004.25,
        "latencies_ms": {"first_audio": 512.0},
        "stt_model": "",
        "llm_model": "smollm2-135m-instruct",
        "voice": "en_US-joe-medium",
        "feedback": {"rating": -1, "comment": "cut short", "at": second["feedback"]["at"]},
    }


def test_export_as_markdown_and_text(transcripts):
    conversation_id = make_exportable(transcripts)
    markdown = render(transcripts.conversation(conversation_id), "md")
    assert markdown.startswith("# Dragons\n")
    assert "**You**" in markdown and "\nTell me about dragons.\n" in markdown
    assert "**Assistant**" in markdown and "\nDragons breathe fire.\n" in markdown
    assert "*Interrupted.* Not spoken: They also hoard gold." in markdown
    assert "first_audio 512 ms" in markdown and 'thumbs down "cut short"' in markdown
    assert "llm smollm2-135m-instruct" in markdown and "voice en_US-joe-medium" in markdown
    text = render(transcripts.conversation(conversation_id), "txt")
    assert text.startswith(f"Conversation {conversation_id}: Dragons\n")
    assert text.endswith(
        "you: Tell me about dragons.\nassistant: Dragons breathe fire. [interrupted]\n"
    )
    with pytest.raises(UsageError, match="unknown export format 'pdf'"):
        render(transcripts.conversation(conversation_id), "pdf")
    with pytest.raises(NotFoundError):
        render(transcripts.conversation(conversation_id + 1), "md")


def test_delete_cascades_to_turns_and_feedback(transcripts, db_path):
    kept = make_exportable(transcripts)
    gone = make_exportable(transcripts)
    transcripts.delete(gone)
    assert scalar(db_path, f"SELECT count(*) FROM turns WHERE conversation_id = {gone}") == 0
    assert scalar(db_path, "SELECT count(*) FROM turns") == 2
    assert scalar(db_path, "SELECT count(*) FROM feedback") == 1
    assert [s.id for s in transcripts.conversations()] == [kept]
    with pytest.raises(NotFoundError, match=f"no conversation {gone}"):
        transcripts.delete(gone)
    assert transcripts.delete_all() == 1
    assert transcripts.conversations() == [] and transcripts.last_conversation_id() is None
    with raw(db_path) as db:
        for table in ("conversations", "turns", "feedback"):
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
    assert transcripts.delete_all() == 0


def test_deleted_text_leaves_no_copy_in_the_database_files(transcripts, db_path):
    def files_holding(marker: bytes) -> list[str]:
        return sorted(f.name for f in db_path.parent.iterdir() if marker in f.read_bytes())

    ids = [transcripts.start_conversation() for _ in range(20)]
    for n, conversation_id in enumerate(ids):
        transcripts.add_turn(conversation_id, user(f"my secret is zebra-{n:02d}! " * 10))
    with raw(db_path) as db:  # as SQLite does by itself once the WAL grows: into the main file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert files_holding(b"zebra-07!") == ["history.db"]
    other_reader = SQLiteHistory.open(db_path)  # another process may have the file open too
    assert len(other_reader.conversations()) == 20
    transcripts.delete(ids[7])
    assert files_holding(b"zebra-07!") == [] and files_holding(b"zebra-08!") == ["history.db"]
    transcripts.delete_all()
    assert files_holding(b"zebra-") == []
    other_reader.close()


def test_search_matches_any_case_in_spoken_and_generated_text(transcripts):
    first = transcripts.start_conversation()
    transcripts.add_turn(first, user("Où est l'ÉCOLE du quartier?", at=100))
    transcripts.add_turn(
        first, assistant("It is near", generated="It is near the station.", at=101)
    )
    second = transcripts.start_conversation()
    transcripts.add_turn(second, user("Which école is best?", at=200))
    hits = transcripts.search("école")
    assert [(h.conversation_id, h.role) for h in hits] == [(second, "user"), (first, "user")]
    assert hits[1].text == "Où est l'ÉCOLE du quartier?"
    hits = transcripts.search("STATION")  # only in what was generated, not spoken
    assert [(h.conversation_id, h.text) for h in hits] == [(first, "It is near the station.")]
    assert transcripts.search("100%_nothing") == []
    with pytest.raises(UsageError, match="words to search for"):
        transcripts.search("   ")


def test_feedback_is_saved_replaced_and_checked(transcripts):
    conversation_id = transcripts.start_conversation()
    question = transcripts.add_turn(conversation_id, user("Hi"))
    answer = transcripts.add_turn(conversation_id, assistant("Hello!"))
    transcripts.set_feedback(answer, 1, "friendly")
    assert transcripts.conversation(conversation_id).turns[1].feedback.rating == 1
    transcripts.set_feedback(answer, -1)
    feedback = transcripts.conversation(conversation_id).turns[1].feedback
    assert (feedback.rating, feedback.comment) == (-1, "")
    with pytest.raises(UsageError, match="feedback is for assistant turns"):
        transcripts.set_feedback(question, 1)
    with pytest.raises(NotFoundError, match="no turn 999"):
        transcripts.set_feedback(999, 1)
    with pytest.raises(UsageError, match="not 0"):
        transcripts.set_feedback(answer, 0)


def test_old_conversations_are_purged_on_open(db_path):
    now = time.time()
    writer = SQLiteHistory.open(db_path)
    old = writer.start_conversation()
    writer.add_turn(old, user("ten days ago", at=now - 10 * 86400))
    recent = writer.start_conversation()
    writer.add_turn(recent, user("yesterday", at=now - 86400))
    writer.close()
    with raw(db_path) as db:  # conversations are dated by their latest turn
        db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now - 10 * 86400, old))
    SQLiteHistory.open(db_path, max_days=0).close()  # 0 keeps everything
    assert scalar(db_path, "SELECT count(*) FROM conversations") == 2
    kept = SQLiteHistory.open(db_path, max_days=7)
    assert [s.id for s in kept.conversations()] == [recent]
    assert scalar(db_path, "SELECT count(*) FROM turns") == 1
    kept.close()


# --- history off, and databases that cannot be used -------------------------------------------


def test_history_off_writes_no_file_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    for config in (HistoryConfig(enabled=False), HistoryConfig(False, str(tmp_path / "h.db"))):
        warnings = Warnings()
        history = open_history(config, warn=warnings)
        assert isinstance(history, DisabledHistory) and not history.enabled and warnings == []
        recorder = Recorder(history)
        assert recorder.record("user", "nobody keeps this") == 0
        assert recorder.record("assistant", "nor this") == 0
        assert history.conversations() == [] and history.last_conversation_id() is None
    assert list(tmp_path.iterdir()) == []


def test_the_default_file_is_in_the_xdg_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert history_path(HistoryConfig()) == tmp_path / "xdg" / "assistant" / "history.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path(HistoryConfig()) == tmp_path / ".local/share/assistant/history.db"
    assert history_path(HistoryConfig(path="~/h.db")) == tmp_path / "h.db"
    history = open_history(HistoryConfig(), warn=Warnings())
    history.add_turn(history.start_conversation(), user("saved in the default place"))
    history.close()
    assert (tmp_path / ".local/share/assistant/history.db").is_file()


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory nobody can create files in: chmod, or (as root) the immutable attribute."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)
    immutable = False
    if (
        _writable(directory)
        and subprocess.run(
            ["chattr", "+i", str(directory)], capture_output=True, check=False
        ).returncode
        == 0
    ):
        immutable = True
    try:
        if _writable(directory):
            pytest.skip("this user can write anywhere and the file system has no immutable flag")
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


def _writable(directory: Path) -> bool:
    try:
        (directory / ".probe").touch()
    except OSError:
        return False
    (directory / ".probe").unlink()
    return True


def _assert_works_without_history(history, warnings, *phrases):
    assert isinstance(history, DisabledHistory) and not history.enabled
    assert len(warnings) == 1, warnings
    for phrase in phrases:
        assert phrase in warnings[0], warnings[0]
    assert "Going on without saving" in warnings[0]
    recorder = Recorder(history)
    assert recorder.record("user", "still listening") == 0
    assert recorder.record("assistant", "still answering") == 0
    assert history.conversations() == [] and history.search("still") == []
    with pytest.raises(NotFoundError, match=re.escape(history.reason)):
        history.conversation(1)


def test_a_corrupt_file_is_reported_and_left_untouched(tmp_path):
    path = tmp_path / "history.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    warnings = Warnings()
    history = open_history(HistoryConfig(path=str(path)), warn=warnings)
    _assert_works_without_history(history, warnings, str(path), "damaged", "move it aside")
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.db"]


def test_an_unwritable_directory_is_reported(read_only_dir):
    warnings = Warnings()
    history = open_history(HistoryConfig(path=str(read_only_dir / "history.db")), warn=warnings)
    _assert_works_without_history(history, warnings, "cannot be opened for writing")
    warnings = Warnings()
    deeper = read_only_dir / "sub" / "history.db"
    history = open_history(HistoryConfig(path=str(deeper)), warn=warnings)
    _assert_works_without_history(history, warnings, "cannot create the folder")
    assert list(read_only_dir.iterdir()) == []


def test_a_path_under_a_file_is_reported(tmp_path):
    (tmp_path / "not-a-dir").write_text("x")
    warnings = Warnings()
    config = HistoryConfig(path=str(tmp_path / "not-a-dir" / "history.db"))
    _assert_works_without_history(
        open_history(config, warn=warnings), warnings, "cannot create the folder"
    )


def test_a_locked_database_is_reported_after_a_short_wait(db_path):
    SQLiteHistory.open(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        warnings = Warnings()
        started = time.monotonic()
        history = open_history(HistoryConfig(path=str(db_path)), warn=warnings, timeout=0.2)
        assert time.monotonic() - started < 5
        _assert_works_without_history(history, warnings, "locked by another program")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_lock_mid_session_warns_once_and_saving_resumes(db_path):
    warnings = Warnings()
    history = SQLiteHistory.open(db_path, warn=warnings, timeout=0.1)
    conversation_id = history.start_conversation()
    assert history.add_turn(conversation_id, user("saved"))
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    assert history.add_turn(conversation_id, user("lost 1")) == 0
    assert history.add_turn(conversation_id, assistant("lost 2")) == 0
    assert len(warnings) == 1 and "locked" in warnings[0] and "goes on" in warnings[0]
    holder.execute("ROLLBACK")
    assert history.add_turn(conversation_id, user("saved again"))
    holder.execute("BEGIN EXCLUSIVE")
    assert history.start_conversation() == 0
    assert len(warnings) == 2  # a new outage gets a new warning
    holder.execute("ROLLBACK")
    holder.close()
    texts = [t.record.text for t in history.conversation(conversation_id).turns]
    assert texts == ["saved", "saved again"]
    history.close()


def test_a_full_disk_mid_session_warns_once_and_never_raises(db_path):
    warnings = Warnings()
    history = SQLiteHistory.open(db_path, warn=warnings)
    conversation_id = history.start_conversation()
    assert history.add_turn(conversation_id, user("fits"))
    # SQLite's own page limit gives the real SQLITE_FULL error a full disk gives
    pages = history._db.execute("PRAGMA page_count").fetchone()[0]
    history._db.execute(f"PRAGMA max_page_count = {pages}")
    big = "words " * 5000
    assert [history.add_turn(conversation_id, user(big)) for _ in range(3)] == [0, 0, 0]
    assert len(warnings) == 1 and "disk is full" in warnings[0]
    assert [t.record.text for t in history.conversation(conversation_id).turns] == ["fits"]
    history.close()


def test_one_history_is_safe_to_share_between_threads(transcripts):
    conversation_id = transcripts.start_conversation()
    errors: list[BaseException] = []

    def speak(n: int) -> None:
        try:
            for i in range(20):
                transcripts.add_turn(conversation_id, user(f"thread {n} turn {i}"))
                transcripts.conversations()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=speak, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(transcripts.conversation(conversation_id).turns) == 80


# --- the recorder and the chat ----------------------------------------------------------------


def test_the_recorder_starts_a_conversation_at_its_first_turn(transcripts):
    recorder = Recorder(
        transcripts, stt_model="stt-x", llm_model="llm-y", voice="v", meta={"k": "v"}
    )
    assert transcripts.conversations() == []  # nothing said, nothing saved
    question = recorder.record("user", "Hi", latencies={"stt": 10.0})
    answer = recorder.record("assistant", "Hello", interrupted=True, generated="Hello there")
    conversation = transcripts.conversation(recorder.conversation_id)
    assert [t.id for t in conversation.turns] == [question, answer]
    asked, answered = (t.record for t in conversation.turns)
    assert (asked.stt_model, asked.llm_model, asked.voice, asked.generated) == ("stt-x", "", "", "")
    assert (answered.stt_model, answered.llm_model, answered.voice) == ("", "llm-y", "v")
    assert answered.generated == "Hello there" and answered.interrupted
    assert asked.latencies == {"stt": 10.0} and conversation.meta == {"k": "v"}
    recorder.new_conversation()
    recorder.record("user", "Another topic")
    assert recorder.conversation_id != conversation.id
    resumed = Recorder(transcripts)
    assert resumed.resume() == [ChatMessage("user", "Another topic")]
    assert resumed.conversation_id == recorder.conversation_id


class EchoModel:
    """A scripted chat model that records the messages it was given."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[list[ChatMessage]] = []
        self.stop_after = stop_after

    def stream_chat(self, messages, *, max_tokens=None, temperature=None, stop=None):
        self.calls.append(list(messages))
        for n, word in enumerate(["You", " said:", " ", messages[-1].content]):
            if self.stop_after is not None and n == self.stop_after:
                raise KeyboardInterrupt  # what Ctrl-C does in the middle of a reply
            yield word


def test_the_chat_records_turns_and_continue_resumes_its_context(transcripts):
    model = EchoModel()
    stdout = io.StringIO()
    recorder = Recorder(transcripts, llm_model="echo")
    run_chat(
        model,
        "Be brief.",
        stdin=io.StringIO("one\n/reset\ntwo\n"),
        stdout=stdout,
        recorder=recorder,
    )
    first, second = (s.id for s in reversed(transcripts.conversations()))
    assert [t.record.text for t in transcripts.conversation(first).turns] == [
        "one",
        "You said: one",
    ]
    turns = transcripts.conversation(second).turns
    assert [t.record.text for t in turns] == ["two", "You said: two"]
    assert turns[1].record.llm_model == "echo" and "first_token" in turns[1].record.latencies

    later = EchoModel(stop_after=2)
    resumed = Recorder(transcripts, llm_model="echo")
    resumed.resume()
    run_chat(
        later, "Be brief.", stdin=io.StringIO("three\n"), stdout=io.StringIO(), recorder=resumed
    )
    assert later.calls[0] == [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "two"),
        ChatMessage("assistant", "You said: two"),
        ChatMessage("user", "three"),
    ]
    turns = transcripts.conversation(second).turns
    assert [t.record.text for t in turns][2:] == ["three", "You said:"]
    assert turns[3].record.interrupted and not turns[1].record.interrupted


# --- kept audio -------------------------------------------------------------------------------


def test_audio_is_kept_only_when_asked(tmp_path):
    tone = silence(0.5, 16000)
    assert NO_AUDIO.keep(1, 2, "user", tone) is None and dict(NO_AUDIO.meta) == {}
    keeper = AudioKeeper(tmp_path / "kept")
    path = keeper.keep(3, 7, "assistant", tone)
    assert path == tmp_path / "kept" / "3-7-assistant.wav"
    assert decode_file(path).seconds == pytest.approx(0.5)
    assert keeper.meta == {"audio_dir": str((tmp_path / "kept").resolve())}
    unsaved = [keeper.keep(0, 0, "user", tone).name for _ in range(2)]
    assert unsaved[0] != unsaved[1] and all(n.startswith("unsaved-") for n in unsaved)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="cannot keep audio in"):
        AudioKeeper(tmp_path / "file" / "kept")


# --- the offline and no-audio-on-disk guarantee ------------------------------------------------

AUDIO_FILE = re.compile(r"\.(wav|mp3|ogg|flac|opus|m4a|raw|pcm)(\.|$)", re.IGNORECASE)
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
AUDIT = {"on": False, "connections": [], "lookups": [], "audio_writes": []}


def _audit(event: str, args: tuple) -> None:
    if not AUDIT["on"]:  # audit hooks cannot be removed: this one only records during the test
        return
    try:
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
            AUDIT["connections"].append(args[1] if len(args) > 1 else args)
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex"):
            AUDIT["lookups"].append(args[0])
        elif event == "open" and not isinstance(args[0], int):
            path, mode, flags = args
            writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & WRITE_FLAGS)
            if writes and AUDIO_FILE.search(os.fspath(path)):
                AUDIT["audio_writes"].append(os.fspath(path))
        elif event == "os.rename" and AUDIO_FILE.search(os.fspath(args[1])):
            AUDIT["audio_writes"].append(os.fspath(args[1]))
    except Exception as error:  # never break the audited program; note what could not be read
        AUDIT["audio_writes"].append(f"unreadable audit event {event}: {error!r}")


def _is_local(address) -> bool:
    if isinstance(address, str | bytes):  # a Unix socket path: not a network connection
        return True
    host = address[0]
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def audited():
    if not getattr(sys, "_assistant_history_audit", False):
        sys.addaudithook(_audit)
        sys._assistant_history_audit = True
    for key in ("connections", "lookups", "audio_writes"):
        AUDIT[key] = []
    AUDIT["on"] = True
    yield AUDIT
    AUDIT["on"] = False


def test_the_audit_hook_sees_connections_and_audio_files(audited, tmp_path):
    """The check below is only worth something if it catches what it looks for."""
    from assistant.audio.codec import write_wav

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=5).close()
    write_wav(tmp_path / "control.wav", silence(0.1, 16000))
    (tmp_path / "notes.txt").write_text("not audio")
    assert [_is_local(a) for a in audited["connections"]] == [True]
    assert len(audited["audio_writes"]) == 2  # the temporary file, then the rename into place
    assert not _is_local(("192.0.2.1", 443)) and not _is_local(("example.com", 80))
    assert _is_local(("::1", 8000, 0, 0)) and _is_local("/run/socket")


def test_a_whole_voice_turn_opens_no_network_connection_and_writes_no_audio(
    audited, stt, chat, tts, question_wav, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    history = SQLiteHistory.open(tmp_path / "history.db")
    recorder = Recorder(history, stt_model="whisper-tiny.en", llm_model="smollm2-135m-instruct")
    audio = decode_file(question_wav)
    result = voice_turn(
        audio,
        stt,
        chat,
        tts,
        history=[ChatMessage("system", "Answer in one short sentence.")],
        on_event=recording(recorder),
    )
    history.close()
    AUDIT["on"] = False

    assert word_error_rate(result.heard, QUESTION) <= 0.2
    assert result.audio is not None and result.audio.seconds > 0.5
    assert [a for a in audited["connections"] if not _is_local(a)] == []
    assert [h for h in audited["lookups"] if h not in ("localhost", "127.0.0.1", "::1")] == []
    assert audited["audio_writes"] == []
    on_disk = [p for p in tmp_path.rglob("*") if AUDIO_FILE.search(p.name)]
    assert on_disk == []
    saved = SQLiteHistory.open(tmp_path / "history.db")
    turns = saved.conversation(saved.last_conversation_id()).turns
    assert [t.record.role for t in turns] == ["user", "assistant"]
    assert result.record is not None and turns[1].record.text == result.record.spoken
    assert set(turns[1].record.latencies) >= {"transcript", "first_token", "first_audio", "done"}
    saved.close()
