"""The embedded default Store: one SQLite file, ``<data_dir>/pykube.db``.

Durability. The database runs in WAL mode. With ``synchronous=NORMAL`` (the
default here) a commit appends its pages to the WAL with write(2) but fsyncs only at
checkpoints, so a committed write survives the *process* dying (kill -9, a crash):
the data is in the OS page cache and the next open replays the WAL. It does not
survive the *machine* losing power before the next checkpoint; pass
``synchronous="FULL"`` to fsync the WAL on every commit when that matters, at
the cost of one fsync per commit. Either way the file is never corrupted, and a
commit is all or nothing.

Schema::

    objects(key TEXT PRIMARY KEY, value BLOB NOT NULL, revision INTEGER NOT NULL)
    meta(id INTEGER PRIMARY KEY CHECK (id = 0), revision INTEGER NOT NULL)

The global revision lives in ``meta`` rather than being derived from
MAX(objects.revision): deletes consume revisions too, and deleting the most
recently written keys must not make the counter go back (a watcher holding
resourceVersion N must never see N handed out again).

Threading. The apiserver calls the store synchronously from its event-loop
thread, one call at a time; ``check_same_thread=False`` only lets the store be
created on one thread and used on another. One process owns the file.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from apiserver.storage import Change, StoredItem
from apiserver.storage.memory import check_expected, validate_changes

DB_FILENAME = "pykube.db"

_SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS objects (
           key      TEXT PRIMARY KEY,
           value    BLOB NOT NULL,
           revision INTEGER NOT NULL
       )""",
    """CREATE TABLE IF NOT EXISTS meta (
           id       INTEGER PRIMARY KEY CHECK (id = 0),
           revision INTEGER NOT NULL
       )""",
    "INSERT OR IGNORE INTO meta (id, revision) VALUES (0, 0)",
)

# Constant SQL strings, so the sqlite3 module's statement cache prepares each once.
_SELECT_REVISION = "SELECT revision FROM meta WHERE id = 0"
_SET_REVISION = "UPDATE meta SET revision = ? WHERE id = 0"
_SELECT_ITEM = "SELECT value, revision FROM objects WHERE key = ?"
_SELECT_KEY_REVISION = "SELECT revision FROM objects WHERE key = ?"
_SELECT_ALL = "SELECT key, value, revision FROM objects ORDER BY key"
_INSERT = "INSERT INTO objects (key, value, revision) VALUES (?, ?, ?)"
_UPDATE = "UPDATE objects SET value = ?, revision = ? WHERE key = ?"
_DELETE = "DELETE FROM objects WHERE key = ?"


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception.

    IMMEDIATE takes the write lock up front, so a second writer waits (or fails) at
    BEGIN instead of halfway through our changes."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # Also after a failed COMMIT (disk full, I/O error), which can leave it open.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SQLiteStore:
    """A Store in one SQLite database file (see the module docstring)."""

    def __init__(self, path: Path | str, synchronous: str = "NORMAL", busy_timeout: float = 5.0) -> None:
        level = synchronous.upper()
        if level not in _SYNCHRONOUS_LEVELS:
            raise ValueError(f"synchronous must be one of {_SYNCHRONOUS_LEVELS}, got {synchronous!r}")
        self.path = Path(path)
        # isolation_level=None: the module never opens transactions behind our back;
        # commit() says BEGIN IMMEDIATE / COMMIT itself.
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"{self.path}: could not enable WAL (journal_mode={mode})")
            self._conn.execute(f"PRAGMA synchronous={level}")
            with _write_transaction(self._conn):
                for statement in _SCHEMA:
                    self._conn.execute(statement)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def open_in(cls, data_dir: Path | str, synchronous: str = "NORMAL") -> SQLiteStore:
        """Open (creating if needed) ``<data_dir>/pykube.db``, creating data_dir too."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir / DB_FILENAME, synchronous=synchronous)

    def load(self) -> tuple[list[StoredItem], int]:
        # One read transaction, so the items and the revision are the same snapshot.
        self._conn.execute("BEGIN")
        try:
            rows = self._conn.execute(_SELECT_ALL).fetchall()
            revision = self._conn.execute(_SELECT_REVISION).fetchone()[0]
        finally:
            self._conn.execute("COMMIT")
        return [StoredItem(key, value, rev) for key, value, rev in rows], revision

    def get(self, key: str) -> StoredItem | None:
        row = self._conn.execute(_SELECT_ITEM, (key,)).fetchone()
        return None if row is None else StoredItem(key, row[0], row[1])

    def commit(self, changes: Sequence[Change]) -> list[int]:
        """Apply all changes in one write transaction, or none of them.

        Each change is checked against the database *inside* the transaction, so
        it sees the earlier changes of the same commit (create then update of one
        key works). Any error rolls everything back, the revision counter included.
        An empty commit writes nothing and consumes no revision."""
        validate_changes(changes)
        if not changes:
            return []
        conn = self._conn
        with _write_transaction(conn):
            # BEGIN IMMEDIATE took the write lock, so this read cannot go stale.
            current = conn.execute(_SELECT_REVISION).fetchone()[0]
            revisions: list[int] = []
            for change in changes:
                row = conn.execute(_SELECT_KEY_REVISION, (change.key,)).fetchone()
                check_expected(change, None if row is None else row[0])
                revision = current + 1 + len(revisions)
                if change.value is None:
                    conn.execute(_DELETE, (change.key,))
                elif row is None:
                    conn.execute(_INSERT, (change.key, change.value, revision))
                else:
                    conn.execute(_UPDATE, (change.value, revision, change.key))
                revisions.append(revision)
            conn.execute(_SET_REVISION, (revisions[-1],))
        return revisions

    @property
    def revision(self) -> int:
        return self._conn.execute(_SELECT_REVISION).fetchone()[0]

    def close(self) -> None:
        """Close the connection; the last close also checkpoints and removes the WAL."""
        self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
