"""The SQLite ledger: one file, the standard library, safe for several processes on one machine.

WAL mode lets readers go on while one process writes; every write is a `BEGIN IMMEDIATE`
transaction, so writers queue on the file lock (up to the busy timeout) instead of failing, and a
claim counts and claims with no other writer in between. `synchronous=FULL`: a commit is on disk
before the POST it announces is sent.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from ._sql import Backend, Cursor

__all__ = ["SQLiteBackend"]

# How long a writer waits for another process's transaction before giving up.
_BUSY_TIMEOUT: Final = 60.0


class SQLiteBackend(Backend):
    """A ledger in one SQLite file."""

    def __init__(self, path: str) -> None:
        super().__init__(f"the file {path!r}")
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        if self.path != ":memory:" and Path(self.path).is_dir():
            raise ValueError(f"{self.describe} is a directory, not an instabase_async ledger")
        # Autocommit mode (isolation_level=None): transactions are the explicit BEGINs below.
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            # Looked at before anything is written: even the switch to WAL rewrites the file's header.
            try:
                tables = self._tables(conn)
            except sqlite3.DatabaseError as exc:
                raise ValueError(f"{self.describe} is not an instabase_async ledger: {exc}") from None
            if tables and "ib_ledger_meta" not in tables:
                raise ValueError(f"{self.describe} is not an instabase_async ledger (it holds other tables)")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        conn = self._conn
        assert conn is not None, "the ledger is not open"
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[Cursor]:
        conn = self._conn
        assert conn is not None, "the ledger is not open"
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _tables(self, cur: Cursor) -> set[str]:
        return {
            name for (name,) in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
