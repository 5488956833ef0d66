"""Timers, alarms and notes in a local SQLite file (tools.path, by default beside the history:
$XDG_DATA_HOME/assistant/tools.db), so they survive a restart. Every change is committed at
once; one connection is shared by the threads of a process, behind a lock."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..config import ToolsConfig
from ..errors import AssistantError
from ..history.db import reason, transaction

BUSY_TIMEOUT = 2.0  # seconds to wait for another writer
SCHEMA = (  # version 1; a later release appends statements and bumps user_version
    """CREATE TABLE IF NOT EXISTS timers (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('timer', 'alarm')),
        label TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,  -- epoch seconds
        due_at REAL NOT NULL,  -- epoch seconds
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'fired', 'missed', 'cancelled'))
    )""",
    "CREATE INDEX IF NOT EXISTS timers_by_due ON timers (state, due_at)",
    """CREATE TABLE IF NOT EXISTS notes (
        id INTEGER PRIMARY KEY,
        list TEXT NOT NULL DEFAULT 'shopping',
        text TEXT NOT NULL,
        created_at REAL NOT NULL
    )""",
)
Kind = Literal["timer", "alarm"]


class ToolStoreError(AssistantError):
    """The tools' database cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class Timer:
    id: int
    kind: Kind
    label: str
    created_at: float
    due_at: float
    state: str

    def left(self, now: float | None = None) -> float:
        """Seconds until it rings (0 once due)."""
        return max(0.0, self.due_at - (time.time() if now is None else now))


@dataclass(frozen=True)
class Note:
    id: int
    list: str
    text: str
    created_at: float


def tools_path(config: ToolsConfig) -> Path:
    """The database file: tools.path, or $XDG_DATA_HOME/assistant/tools.db."""
    if config.path:
        return Path(config.path).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "assistant" / "tools.db"


class ToolStore:
    """The timers, alarms and notes of this machine."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.path, self._db, self._lock = path, db, threading.RLock()

    @classmethod
    def open(cls, path: str | Path, *, timeout: float = BUSY_TIMEOUT) -> ToolStore:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=timeout, isolation_level=None,
                                 check_same_thread=False)  # fmt: skip
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode = WAL")
            with transaction(db):
                for statement in SCHEMA:
                    db.execute(statement)
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    db.execute("PRAGMA user_version = 1")
        except (OSError, sqlite3.Error) as error:
            raise ToolStoreError(
                f"cannot use the timers and notes database {path}: {reason(error)}; "
                "set tools.path to a writable place"
            ) from None
        return cls(db, path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, sql: str, *args: object) -> sqlite3.Cursor:
        with self._lock:
            try:
                with transaction(self._db):
                    return self._db.execute(sql, args)
            except sqlite3.Error as error:
                raise ToolStoreError(f"cannot save to {self.path}: {reason(error)}") from None

    def _read(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.Error as error:
                raise ToolStoreError(f"cannot read {self.path}: {reason(error)}") from None

    # --- timers and alarms -------------------------------------------------------------------

    def add_timer(self, kind: Kind, due_at: float, label: str = "") -> Timer:
        now = time.time()
        cursor = self._write(
            "INSERT INTO timers (kind, label, created_at, due_at) VALUES (?, ?, ?, ?)",
            kind, label.strip(), now, due_at,
        )  # fmt: skip
        return Timer(int(cursor.lastrowid or 0), kind, label.strip(), now, due_at, "pending")

    def timers(self, *, pending_only: bool = True) -> list[Timer]:
        where = "WHERE state = 'pending'" if pending_only else ""
        rows = self._read(f"SELECT * FROM timers {where} ORDER BY due_at, id")
        return [Timer(**dict(row)) for row in rows]

    def set_state(self, timer_id: int, state: str) -> bool:
        """Mark a pending timer fired, missed or cancelled; False if it was not pending."""
        cursor = self._write(
            "UPDATE timers SET state = ? WHERE id = ? AND state = 'pending'", state, timer_id
        )
        return cursor.rowcount > 0

    def due(self, now: float | None = None) -> list[Timer]:
        """Pending timers and alarms whose time has come, earliest first."""
        now = time.time() if now is None else now
        rows = self._read(
            "SELECT * FROM timers WHERE state = 'pending' AND due_at <= ? ORDER BY due_at", now
        )
        return [Timer(**dict(row)) for row in rows]

    def next_due_at(self) -> float | None:
        rows = self._read("SELECT MIN(due_at) FROM timers WHERE state = 'pending'")
        return rows[0][0] if rows else None

    # --- notes -------------------------------------------------------------------------------

    def add_note(self, text: str, list_name: str = "shopping") -> Note:
        now = time.time()
        cursor = self._write(
            "INSERT INTO notes (list, text, created_at) VALUES (?, ?, ?)", list_name, text, now
        )
        return Note(int(cursor.lastrowid or 0), list_name, text, now)

    def notes(self, list_name: str | None = None) -> list[Note]:
        if list_name is None:
            return [Note(**dict(r)) for r in self._read("SELECT * FROM notes ORDER BY id")]
        rows = self._read("SELECT * FROM notes WHERE list = ? ORDER BY id", list_name)
        return [Note(**dict(row)) for row in rows]

    def remove_note(self, *, note_id: int | None = None, text: str | None = None,
                    list_name: str = "shopping") -> int:  # fmt: skip
        """Delete a note by id, or the notes of `list_name` whose text is `text` (any case);
        the number deleted."""
        if note_id is not None:
            return self._write("DELETE FROM notes WHERE id = ?", note_id).rowcount
        return self._write(
            "DELETE FROM notes WHERE list = ? AND lower(text) = lower(?)", list_name, text or ""
        ).rowcount

    def clear_notes(self, list_name: str | None = None) -> int:
        if list_name is None:
            return self._write("DELETE FROM notes").rowcount
        return self._write("DELETE FROM notes WHERE list = ?", list_name).rowcount
