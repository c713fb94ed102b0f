"""The PostgreSQL ledger (the `postgres` extra, psycopg 3): one run shared by workers on many machines.

Claims lock the run's row (`FOR UPDATE`) so that counting the requests running and claiming new
ones is one serial step across every worker, and select their requests with `FOR UPDATE SKIP
LOCKED`. Lease times come from the server's clock, so workers' clocks need not agree. Creating
and upgrading the schema holds an advisory lock: workers starting together do it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from ._sql import Backend, Cursor

__all__ = ["PostgresBackend"]

# The advisory lock taken while the schema is created or upgraded (any constant of our own).
_SCHEMA_LOCK: Final = 0x1B_1ED6E7


class PostgresBackend(Backend):
    """A ledger in a PostgreSQL database (its tables are named `ib_ledger_*`)."""

    placeholder = "%s"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    owns_database = False

    def __init__(self, conninfo: str, describe: str) -> None:
        super().__init__(f"the database {describe}")
        self._conninfo = conninfo

    def _connect(self) -> Any:
        # Imported here, not at the top: psycopg is an optional extra, and importing it costs
        # every user of the library who never opens a PostgreSQL ledger.
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "a PostgreSQL ledger needs psycopg 3: pip install 'instabase-async[postgres]'"
            ) from None
        return psycopg.connect(self._conninfo, autocommit=True)

    @contextmanager
    def _write(self) -> Iterator[Cursor]:
        conn = self._conn
        assert conn is not None, "the ledger is not open"
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    _read = _write

    def _lock_run(self, cur: Cursor, run: str) -> None:
        cur.execute("SELECT run FROM ib_ledger_runs WHERE run = %s FOR UPDATE", (run,))

    def _now(self, cur: Cursor) -> float:
        return float(cur.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0])

    def _tables(self, cur: Cursor) -> set[str]:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = cur.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {name for (name,) in found}
