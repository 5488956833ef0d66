"""SQLite plumbing for the history: schema migrations, transactions, errors in words."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

# Schema migrations, applied in order from PRAGMA user_version 0, all in one transaction.
# Never edit a released entry: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: the first release
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL DEFAULT '',
            started_at REAL NOT NULL,  -- epoch seconds
            updated_at REAL NOT NULL,  -- epoch seconds of the latest turn
            meta TEXT NOT NULL DEFAULT '{}'  -- JSON object of strings
        )""",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            text TEXT NOT NULL,  -- what was said, or what the assistant actually spoke
            generated TEXT NOT NULL DEFAULT '',  -- what the model wrote
            interrupted INTEGER NOT NULL DEFAULT 0 CHECK (interrupted IN (0, 1)),
            started_at REAL NOT NULL,
            ended_at REAL NOT NULL,
            latencies TEXT NOT NULL DEFAULT '{}',  -- JSON object: stage -> milliseconds
            stt_model TEXT NOT NULL DEFAULT '',
            llm_model TEXT NOT NULL DEFAULT '',
            voice TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX turns_by_conversation ON turns (conversation_id, id)",
        "CREATE INDEX conversations_by_update ON conversations (updated_at)",
        """CREATE TABLE feedback (
            turn_id INTEGER PRIMARY KEY REFERENCES turns (id) ON DELETE CASCADE,
            rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
            comment TEXT NOT NULL DEFAULT '',
            created_at REAL NOT NULL
        )""",
    ),
)


class NewerSchemaError(Exception):
    """The file was written by a later release, whose schema this one does not know."""

    def __init__(self, version: int) -> None:
        super().__init__(
            f"it was written by a newer version of the assistant (schema {version}; this one "
            f"knows up to {len(MIGRATIONS)}): upgrade the assistant"
        )


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any failure (the commit's own included)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise


def check_version(db: sqlite3.Connection) -> int:
    """The file's schema version; NewerSchemaError when this release cannot read it."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise NewerSchemaError(version)
    return version


def migrate(db: sqlite3.Connection) -> None:
    """Bring the schema up to date in one transaction. The version is read inside it, so two
    processes opening a new file at once do not both create the tables."""
    latest = len(MIGRATIONS)
    with transaction(db):
        version = check_version(db)
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                db.execute(statement)
        if version != latest:
            db.execute(f"PRAGMA user_version = {latest}")


_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_LOCKED = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_READ_ONLY = {3, 8, 14, 23}  # SQLITE_PERM, SQLITE_READONLY, SQLITE_CANTOPEN, SQLITE_AUTH


def reason(error: BaseException) -> str:
    """What went wrong, in words: the SQLite or OS message with its meaning."""
    code = getattr(error, "sqlite_errorcode", None)
    detail = getattr(error, "strerror", None) or str(error)
    if code is None:
        return detail
    primary = code & 0xFF
    if primary in _LOCKED:
        return f"it is locked by another program ({detail})"
    if primary in _CORRUPT:
        return f"it is damaged or not a database ({detail})"
    if primary in _READ_ONLY:
        return f"it cannot be opened for writing ({detail})"
    if primary == 13:  # SQLITE_FULL
        return f"the disk is full ({detail})"
    return detail


def problem(path: Path, error: BaseException) -> str:
    """Why the database at `path` cannot be used, and what to do about it."""
    message = f"cannot use the history database {path}: {reason(error)}"
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in _CORRUPT:
        message += "; move it aside or delete it, and a new one is started"
    elif code in _READ_ONLY or isinstance(error, OSError):
        message += "; check the permissions, or set history.path to a writable place"
    return message
