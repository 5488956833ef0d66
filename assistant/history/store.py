"""The local transcript store: conversations and their turns in SQLite. Never any audio.

Each finished turn is committed at once (WAL mode, synchronous=FULL), so a crash loses at
most the turn in progress. Saving never stops a conversation: a database that cannot be
used gives one clear warning and a `DisabledHistory`; a failed write mid-session warns once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..config import HistoryConfig
from ..errors import UsageError
from ..types import ChatMessage
from .db import NewerSchemaError, check_version, migrate, problem, reason, transaction
from .records import (
    EMPTY,
    ConversationSummary,
    Feedback,
    History,
    HistoryError,
    NotFoundError,
    SavedConversation,
    SearchHit,
    Turn,
    TurnRecord,
    context_of,
)

Warn = Callable[[str], None]
BUSY_TIMEOUT = 2.0  # seconds to wait for another writer before giving up
DAY = 86400.0  # seconds


def warn_on_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def history_path(config: HistoryConfig) -> Path:
    """The database file: history.path, or $XDG_DATA_HOME/assistant/history.db."""
    if config.path:
        return Path(config.path).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "assistant" / "history.db"


def open_history(
    config: HistoryConfig, *, warn: Warn = warn_on_stderr, timeout: float = BUSY_TIMEOUT
) -> History:
    """The configured history; a `DisabledHistory` when it is off or its database is unusable."""
    if not config.enabled:
        return DisabledHistory()
    try:
        return SQLiteHistory.open(
            history_path(config), max_days=config.max_days, warn=warn, timeout=timeout
        )
    except HistoryError as error:
        warn(f"{error}. Going on without saving this conversation.")
        return DisabledHistory(str(error))


class SQLiteHistory:
    """Conversations in a SQLite file. Recording never raises; reads and deletions do."""

    enabled: ClassVar[bool] = True

    def __init__(
        self, db: sqlite3.Connection, path: Path, *, max_days: int = 0, warn: Warn = warn_on_stderr
    ) -> None:
        self.path = path
        self._db = db
        self._max_days = max_days
        self._warn = warn
        self._lock = threading.RLock()  # one connection shared by the server's threads
        self._failing = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        max_days: int = 0,
        warn: Warn = warn_on_stderr,
        timeout: float = BUSY_TIMEOUT,
    ) -> SQLiteHistory:
        """Open or create the database, migrate it and purge old conversations.

        Raises HistoryError saying why when it is locked, damaged or not writable.
        """
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise HistoryError(
                f"cannot use the history database {path}: cannot create the folder "
                f"{path.parent} ({error.strerror or error}); set history.path to a writable place"
            ) from None
        try:
            db = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as error:
            raise HistoryError(problem(path, error)) from None
        try:
            db.row_factory = sqlite3.Row
            db.create_function("casefold", 1, _casefold, deterministic=True)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA secure_delete = ON")  # deleted text is overwritten, not left behind
            check_version(db)  # a newer release's file is left exactly as it is
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise sqlite3.OperationalError("cannot switch to WAL mode")
            db.execute("PRAGMA synchronous = FULL")  # a committed turn survives a power cut
            migrate(db)  # also proves, now, that the file is writable and not locked
            history = cls(db, path, max_days=max_days, warn=warn)
            with transaction(db):
                history._purge(db)
        except NewerSchemaError as error:
            db.close()
            raise HistoryError(f"cannot use the history database {path}: {error}") from None
        except sqlite3.Error as error:
            db.close()
            raise HistoryError(problem(path, error)) from None
        return history

    # --- recording: never raises --------------------------------------------------------------

    def start_conversation(self, *, title: str = "", meta: Mapping[str, str] = EMPTY) -> int:
        """A new conversation's id; 0 when it could not be saved (after one warning)."""
        now = time.time()

        def write(db: sqlite3.Connection) -> int:
            self._purge(db)
            return db.execute(
                "INSERT INTO conversations (title, started_at, updated_at, meta) VALUES (?,?,?,?)",
                (title, now, now, json.dumps(dict(meta), ensure_ascii=False)),
            ).lastrowid

        return self._record("a new conversation", write)

    def add_turn(self, conversation_id: int, turn: TurnRecord) -> int:
        """Save a finished turn, committed at once; its id, or 0 when it could not be saved."""

        def write(db: sqlite3.Connection) -> int:
            turn_id = db.execute(
                "INSERT INTO turns (conversation_id, role, text, generated, interrupted,"
                " started_at, ended_at, latencies, stt_model, llm_model, voice)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    conversation_id,
                    turn.role,
                    turn.text,
                    turn.generated,
                    int(turn.interrupted),
                    turn.started_at,
                    turn.ended_at,
                    json.dumps(dict(turn.latencies)),
                    turn.stt_model,
                    turn.llm_model,
                    turn.voice,
                ),
            ).lastrowid
            db.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (turn.ended_at, conversation_id),
            )
            return turn_id

        return self._record(f"the {turn.role}'s turn", write)

    def _record(self, what: str, write: Callable[[sqlite3.Connection], int]) -> int:
        with self._lock:
            try:
                with transaction(self._db):
                    row_id = write(self._db)
            except (sqlite3.Error, OSError, ValueError, TypeError, OverflowError) as error:
                if not self._failing:  # one warning per outage, not one per turn
                    self._warn(
                        f"could not save {what} to the history ({reason(error)}); "
                        "the conversation goes on, unsaved until this is fixed"
                    )
                self._failing = True
                return 0
            self._failing = False
            return row_id

    def _purge(self, db: sqlite3.Connection) -> int:
        if self._max_days <= 0:
            return 0
        cutoff = time.time() - self._max_days * DAY
        return db.execute("DELETE FROM conversations WHERE updated_at < ?", (cutoff,)).rowcount

    # --- reading and deleting: clear errors --------------------------------------------------

    def set_feedback(self, turn_id: int, rating: int, comment: str = "") -> None:
        """Thumbs up (+1) or down (-1) on an assistant turn, replacing any earlier feedback."""
        if rating not in (1, -1):
            raise UsageError(f"feedback is +1 (up) or -1 (down), not {rating}")
        with self._write() as db:
            row = db.execute("SELECT role FROM turns WHERE id = ?", (turn_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"there is no turn {turn_id} in the history")
            if row["role"] != "assistant":
                raise UsageError(f"turn {turn_id} is the user's; feedback is for assistant turns")
            db.execute(
                "INSERT OR REPLACE INTO feedback (turn_id, rating, comment, created_at)"
                " VALUES (?,?,?,?)",
                (turn_id, rating, comment, time.time()),
            )

    def conversations(self, limit: int = 50) -> list[ConversationSummary]:
        """The most recently active conversations first."""
        rows = self._query(
            "SELECT c.id, c.title, c.started_at, c.updated_at,"
            " (SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) AS turns,"
            " (SELECT text FROM turns t WHERE t.conversation_id = c.id AND t.role = 'user'"
            "  ORDER BY t.id LIMIT 1) AS first"
            " FROM conversations c ORDER BY c.updated_at DESC, c.id DESC LIMIT ?",
            (limit,),
        )
        return [
            ConversationSummary(
                r["id"],
                r["title"] or _preview(r["first"] or ""),
                r["started_at"],
                r["updated_at"],
                r["turns"],
            )
            for r in rows
        ]

    def conversation(self, conversation_id: int) -> SavedConversation:
        rows = self._query("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise NotFoundError(f"there is no conversation {conversation_id} in the history")
        head = rows[0]
        turns = self._query(
            "SELECT t.*, f.rating, f.comment, f.created_at AS feedback_at FROM turns t"
            " LEFT JOIN feedback f ON f.turn_id = t.id WHERE t.conversation_id = ? ORDER BY t.id",
            (conversation_id,),
        )
        return SavedConversation(
            head["id"],
            head["title"],
            head["started_at"],
            head["updated_at"],
            json.loads(head["meta"]),
            tuple(_turn(row) for row in turns),
        )

    def last_conversation_id(self) -> int | None:
        rows = self._query("SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1")
        return rows[0]["id"] if rows else None

    def context_messages(self, conversation_id: int) -> list[ChatMessage]:
        """The conversation as the model should remember it: what was said and actually spoken."""
        return context_of(self.conversation(conversation_id))

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """Turns whose text (or generated text) contains `text`, any case; newest first."""
        needle = _casefold(text.strip())
        if not needle:
            raise UsageError("give some words to search for")
        rows = self._query(
            "SELECT id, conversation_id, role, text, generated, started_at FROM turns"
            " WHERE instr(casefold(text), ?) OR instr(casefold(generated), ?)"
            " ORDER BY started_at DESC, id DESC LIMIT ?",
            (needle, needle, limit),
        )
        return [
            SearchHit(
                r["conversation_id"],
                r["id"],
                r["role"],
                r["text"] if needle in _casefold(r["text"]) else r["generated"],
                r["started_at"],
            )
            for r in rows
        ]

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation with its turns and feedback."""
        with self._write() as db:
            gone = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            if gone.rowcount == 0:
                raise NotFoundError(f"there is no conversation {conversation_id} in the history")
        self._checkpoint()

    def delete_all(self) -> int:
        """Delete every conversation; how many there were."""
        with self._write() as db:
            count = db.execute("DELETE FROM conversations").rowcount
        self._checkpoint()
        return count

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- helpers -------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as error:
                raise HistoryError(problem(self.path, error)) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                with transaction(self._db):
                    yield self._db
            except sqlite3.Error as error:
                raise HistoryError(problem(self.path, error)) from None

    def _checkpoint(self) -> None:
        """Fold the WAL into the database and empty it, so deleted text leaves no copy there."""
        with self._lock, suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@dataclass(frozen=True)
class DisabledHistory:
    """Saves nothing and holds nothing: history is off, or its database could not be used."""

    reason: str = "history is off (history.enabled = false)"
    enabled: ClassVar[bool] = False

    def start_conversation(self, *, title: str = "", meta: Mapping[str, str] = EMPTY) -> int:
        return 0

    def add_turn(self, conversation_id: int, turn: TurnRecord) -> int:
        return 0

    def set_feedback(self, turn_id: int, rating: int, comment: str = "") -> None:
        raise NotFoundError(f"there is no turn {turn_id}: {self.reason}")

    def conversations(self, limit: int = 50) -> list[ConversationSummary]:
        return []

    def conversation(self, conversation_id: int) -> SavedConversation:
        raise NotFoundError(f"there is no conversation {conversation_id}: {self.reason}")

    def last_conversation_id(self) -> int | None:
        return None

    def context_messages(self, conversation_id: int) -> list[ChatMessage]:
        return context_of(self.conversation(conversation_id))

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        return []

    def delete(self, conversation_id: int) -> None:
        self.conversation(conversation_id)

    def delete_all(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _turn(row: sqlite3.Row) -> Turn:
    feedback = None
    if row["rating"] is not None:
        feedback = Feedback(row["rating"], row["comment"], row["feedback_at"])
    record = TurnRecord(
        row["role"],
        row["text"],
        row["generated"],
        bool(row["interrupted"]),
        row["started_at"],
        row["ended_at"],
        json.loads(row["latencies"]),
        row["stt_model"],
        row["llm_model"],
        row["voice"],
    )
    return Turn(row["id"], row["conversation_id"], record, feedback)


def _preview(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _casefold(text: str | None) -> str:
    return (text or "").casefold()
