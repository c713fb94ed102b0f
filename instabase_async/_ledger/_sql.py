"""The ledger's tables and the transactions on them, shared by the SQLite and PostgreSQL backends.

A backend is synchronous and used by one thread at a time (the `Ledger` runs each call in a
worker thread behind a limiter of one). Each public method is one transaction. The dialects differ
only in how a transaction starts and locks (`_write`), the placeholder, and the clock.

Tables (schema version 1):
- `ib_ledger_meta`: what this database is (`application`) and its `schema_version`;
- `ib_ledger_runs`: one row per run name, locked by PostgreSQL claims so that counting the
  running requests and claiming new ones is one serial step for the whole run;
- `ib_ledger_requests`: one row per (run, key): state, the request's canonical body, the derived
  job id, the job token, the outcome, and the worker that owns it;
- `ib_ledger_workers`: each worker's lease (`expires`), and where it runs (`host`, `pid`) so that
  a dead process on this machine is noticed without waiting for its lease.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol

import attrs

__all__ = [
    "ACTIVE",
    "APPLICATION",
    "DONE",
    "PENDING",
    "RUNNING",
    "SCHEMA_VERSION",
    "STATES",
    "SUBMITTING",
    "UNKNOWN",
    "Backend",
    "Row",
    "host_identity",
]

PENDING: Final = "pending"
SUBMITTING: Final = "submitting"
RUNNING: Final = "running"
DONE: Final = "done"
UNKNOWN: Final = "unknown"
STATES: Final = (PENDING, SUBMITTING, RUNNING, DONE, UNKNOWN)
# The states that hold a slot of `max_running` on the server, or may.
ACTIVE: Final = (SUBMITTING, RUNNING)

APPLICATION: Final = "instabase_async ledger"
SCHEMA_VERSION: Final = 1

# Each entry upgrades the schema from version N-1 to N; index 0 creates version 1. A new version
# appends its statements here and bumps SCHEMA_VERSION: an older ledger is then upgraded in place.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        "CREATE TABLE ib_ledger_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE ib_ledger_runs (run TEXT PRIMARY KEY, created DOUBLE PRECISION NOT NULL)",
        "CREATE TABLE ib_ledger_requests ("
        " run TEXT NOT NULL, key TEXT NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,"
        " body TEXT NOT NULL, state TEXT NOT NULL, job_id TEXT, token TEXT, outcome TEXT, owner TEXT,"
        " updated DOUBLE PRECISION NOT NULL, PRIMARY KEY (run, key))",
        "CREATE INDEX ib_ledger_requests_state ON ib_ledger_requests (run, state, position)",
        "CREATE TABLE ib_ledger_workers ("
        " run TEXT NOT NULL, worker TEXT NOT NULL, host TEXT, pid INTEGER,"
        " expires DOUBLE PRECISION NOT NULL, PRIMARY KEY (run, worker))",
    ),
)

_COLUMNS: Final = "key, kind, body, state, job_id, token, outcome, owner"


@attrs.frozen
class Row:
    """One request as the ledger holds it."""

    key: str
    kind: str
    body: str
    state: str
    job_id: str | None = None
    token: str | None = None
    outcome: str | None = None
    owner: str | None = None


def _row(values: Sequence[Any]) -> Row:
    return Row(*values)


def host_identity() -> str:
    """This machine and process namespace: a process id means the same process only within it.

    Empty where it cannot be told (no /proc): then no process is ever judged dead by its pid.
    """
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{socket.gethostname()}|{namespace}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but not ours to signal
        return True
    return True


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...


class Backend:
    """The transactions of a ledger. Subclasses connect, open transactions, and tell the time."""

    #: The DB-API placeholder of the driver; SQL below is written with `?`.
    placeholder = "?"
    #: Appended to the claim's SELECT: PostgreSQL skips rows another claim holds.
    skip_locked = ""
    #: A SQLite file is the ledger's alone; a PostgreSQL database may hold other tables too.
    owns_database = True

    def __init__(self, describe: str) -> None:
        self.describe = describe
        self._conn: Any = None
        self._sql: dict[str, str] = {}
        self._host = host_identity()

    def connect(self) -> None:
        """Open the connection, then create, upgrade or refuse the schema."""
        self._conn = self._connect()
        try:
            self.check_schema()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ dialect hooks

    def _connect(self) -> Any:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Cursor]:
        """A write transaction (SQLite: `BEGIN IMMEDIATE`, which already serialises writers)."""
        raise NotImplementedError

    def _lock_run(self, cur: Cursor, run: str) -> None:
        """Serialise claims of one run across workers (PostgreSQL: the run's row, `FOR UPDATE`)."""

    def _read(self) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _now(self, cur: Cursor) -> float:
        """Seconds since the epoch on the clock all workers share."""
        return time.time()

    def _tables(self, cur: Cursor) -> set[str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers

    def _q(self, sql: str) -> str:
        query = self._sql.get(sql)
        if query is None:
            query = self._sql[sql] = sql if self.placeholder == "?" else sql.replace("?", self.placeholder)
        return query

    def _exec(self, cur: Cursor, sql: str, params: Sequence[Any] = ()) -> Any:
        return cur.execute(self._q(sql), params)

    def _add_run(self, cur: Cursor, run: str, now: float) -> int:
        """Make the run if new, lock it, and return the position after its last request."""
        self._exec(
            cur,
            "INSERT INTO ib_ledger_runs (run, created) VALUES (?, ?) ON CONFLICT (run) DO NOTHING",
            (run, now),
        )
        self._lock_run(cur, run)
        return int(
            self._exec(cur, "SELECT COUNT(*) FROM ib_ledger_requests WHERE run = ?", (run,)).fetchone()[0]
        )

    def _append(
        self,
        cur: Cursor,
        run: str,
        now: float,
        columns: str,
        on_conflict: str,
        rows: Sequence[tuple[str, tuple[Any, ...]]],
    ) -> None:
        """Insert `(key, values of columns)` rows after the run's last request (making the run if
        new); `on_conflict` says what happens to a key the run holds already."""
        base = self._add_run(cur, run, now)
        if not rows:
            return
        marks = ", ".join("?" * (3 + len(rows[0][1])))
        cur.executemany(
            self._q(
                f"INSERT INTO ib_ledger_requests (run, key, position, {columns}) VALUES ({marks})"
                f" ON CONFLICT (run, key) {on_conflict}"
            ),
            [(run, key, base + index, *values) for index, (key, values) in enumerate(rows)],
        )

    # ------------------------------------------------------------------ schema

    def check_schema(self) -> None:
        """Create the tables on first use, upgrade an older schema, refuse anything else."""
        describe = self.describe
        with self._write() as cur:
            tables = self._tables(cur)
            if "ib_ledger_meta" not in tables:
                if any(name.startswith("ib_ledger_") for name in tables) or (tables and self.owns_database):
                    raise ValueError(f"{describe} is not an instabase_async ledger (it holds other tables)")
                version = 0
            else:
                meta = dict(self._exec(cur, "SELECT name, value FROM ib_ledger_meta").fetchall())
                version_text = str(meta.get("schema_version", ""))
                if meta.get("application") != APPLICATION or not version_text.isdigit():
                    raise ValueError(f"{describe} is not an instabase_async ledger")
                version = int(version_text)
            if version > SCHEMA_VERSION:
                raise ValueError(
                    f"{describe} has ledger schema version {version}, newer than this library's "
                    f"{SCHEMA_VERSION}: upgrade instabase-async to use it"
                )
            for step in MIGRATIONS[version:]:
                for statement in step:
                    cur.execute(statement)
            if version < SCHEMA_VERSION:
                cur.execute(
                    self._q(
                        "INSERT INTO ib_ledger_meta (name, value) VALUES (?, ?), (?, ?) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value"
                    ),
                    ("application", APPLICATION, "schema_version", str(SCHEMA_VERSION)),
                )

    # ------------------------------------------------------------------ reading

    def runs(self) -> list[str]:
        with self._read() as cur:
            return [
                name for (name,) in self._exec(cur, "SELECT run FROM ib_ledger_runs ORDER BY run").fetchall()
            ]

    def summary(self, run: str) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        with self._read() as cur:
            found = self._exec(
                cur, "SELECT state, COUNT(*) FROM ib_ledger_requests WHERE run = ? GROUP BY state", (run,)
            ).fetchall()
        for state, count in found:
            counts[state] = int(count)
        return counts

    def rows(
        self, run: str, *, states: Sequence[str] | None = None, keys: Sequence[str] | None = None
    ) -> list[Row]:
        """The run's rows in input order, optionally only those in `states` or among `keys`."""
        sql = f"SELECT {_COLUMNS} FROM ib_ledger_requests WHERE run = ?"
        params: list[Any] = [run]
        if states is not None:
            sql += f" AND state IN ({', '.join('?' * len(states))})"
            params.extend(states)
        with self._read() as cur:
            if keys is None:
                return [_row(v) for v in self._exec(cur, sql + " ORDER BY position", params).fetchall()]
            found: list[Row] = []
            for chunk in _chunks(keys):
                query = sql + f" AND key IN ({', '.join('?' * len(chunk))}) ORDER BY position"
                found.extend(_row(v) for v in self._exec(cur, query, [*params, *chunk]).fetchall())
            return found

    # ------------------------------------------------------------------ writing

    def register(self, run: str, items: Sequence[tuple[str, str, str, str | None]]) -> list[Row]:
        """Add each `(key, kind, body, job_id)` not yet in the run as `pending`; the run's rows for
        those keys, in the order given. A key held with another kind or body is a `ValueError` and
        nothing is written."""
        now = time.time()
        with self._write() as cur:
            new = [(key, (kind, body, PENDING, job_id, now)) for key, kind, body, job_id in items]
            self._append(cur, run, now, "kind, body, state, job_id, updated", "DO NOTHING", new)
            held = {
                row.key: row
                for row in (
                    _row(v)
                    for v in self._exec(
                        cur, f"SELECT {_COLUMNS} FROM ib_ledger_requests WHERE run = ?", (run,)
                    ).fetchall()
                )
            }
            rows = []
            for key, kind, body, _ in items:
                row = held[key]
                if row.kind != kind or row.body != body:
                    # Raised inside the transaction: it rolls back, so nothing is written.
                    raise ValueError(
                        f"run {run!r} already holds a different request under key {key!r}: "
                        "use another run name, or the same requests as before"
                    )
                rows.append(row)
            return rows

    def claim(
        self,
        run: str,
        worker: str,
        candidates: Sequence[str],
        limit: int,
        max_running: int,
        claimable: Sequence[str] = (PENDING,),
    ) -> tuple[list[str], dict[str, str]]:
        """Move up to `limit` candidates in a `claimable` state (in input order) to `submitting` for
        `worker`, as long as the run's requests in `submitting` or `running` stay within `max_running`.

        Returns the keys claimed, and the state of the candidates looked at and not claimed
        (another worker's claim may have taken them); when the run is full, nothing is looked at.
        The count and the claim are one transaction, serial per run.
        """
        with self._write() as cur:
            return self._claim(cur, run, worker, candidates, limit, max_running, claimable)

    def _claim(
        self,
        cur: Cursor,
        run: str,
        worker: str,
        candidates: Sequence[str],
        limit: int,
        max_running: int,
        claimable: Sequence[str],
    ) -> tuple[list[str], dict[str, str]]:
        self._lock_run(cur, run)
        active = self._exec(
            cur,
            "SELECT COUNT(*) FROM ib_ledger_requests WHERE run = ? AND state IN (?, ?)",
            (run, *ACTIVE),
        ).fetchone()[0]
        room = min(limit, max_running - int(active))
        claimed: list[str] = []
        states: dict[str, str] = {}
        # Candidates are looked at a few more than the room at a time: most claims free one slot.
        for chunk in _chunks(candidates, max(16, 2 * room)):
            if len(claimed) >= room:
                break
            marks = ", ".join("?" * len(chunk))
            found = self._exec(
                cur,
                f"SELECT key, state FROM ib_ledger_requests WHERE run = ? AND key IN ({marks})"
                f" ORDER BY position{self.skip_locked}",
                (run, *chunk),
            ).fetchall()
            for key, state in found:
                if state in claimable and len(claimed) < room:
                    claimed.append(key)
                else:
                    states[key] = state
        if claimed:
            now = time.time()
            cur.executemany(
                self._q(
                    "UPDATE ib_ledger_requests SET state = ?, owner = ?, outcome = NULL, updated = ?"
                    " WHERE run = ? AND key = ?"
                ),
                [(SUBMITTING, worker, now, run, key) for key in claimed],
            )
        return claimed, states

    def record_jobs(self, run: str, worker: str, items: Sequence[tuple[str, str]]) -> None:
        """A job token for each `(key, token)`: the request is `running`, owned by `worker`.

        A request another worker marked `unknown` meanwhile is resolved by this token too; one
        already running or done keeps what it has.
        """
        self.record(run, worker, jobs=items)

    def record_outcomes(self, run: str, items: Sequence[tuple[str, str]], *, state: str = DONE) -> None:
        """The final outcome of each `(key, outcome)`. A `done` request keeps its first outcome.

        With `state=UNKNOWN`, only requests still `submitting` change (the submission's fate is
        not known); nothing that has a job or an outcome is touched.
        """
        if state == UNKNOWN:
            self.record(run, "", unknown=items)
        else:
            self.record(run, "", outcomes=items)

    def record(
        self,
        run: str,
        worker: str,
        *,
        jobs: Sequence[tuple[str, str]] = (),
        outcomes: Sequence[tuple[str, str]] = (),
        unknown: Sequence[tuple[str, str]] = (),
        claim: tuple[Sequence[str], int, Sequence[str]] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """Jobs, then outcomes, then unknowns (see the two methods above), then, with `claim`
        (candidates, max_running, claimable), a claim of as many as the run has room for: one
        transaction. Returns what the claim returns (nothing without one)."""
        now = time.time()
        with self._write() as cur:
            if claim is not None and claim[0]:
                # The run's lock first, as a claim and an adoption take it: rows after, never before.
                self._lock_run(cur, run)
            self._move(cur, run, worker, now, jobs, outcomes, unknown)
            if claim is None or not claim[0]:
                return [], {}
            candidates, max_running, claimable = claim
            return self._claim(cur, run, worker, candidates, max_running, max_running, claimable)

    def _move(
        self,
        cur: Cursor,
        run: str,
        worker: str,
        now: float,
        jobs: Sequence[tuple[str, str]],
        outcomes: Sequence[tuple[str, str]],
        unknown: Sequence[tuple[str, str]],
    ) -> None:
        """One UPDATE a kind of record, its rows in key order: (the columns it sets, the states a
        request may be in to take it, (key, values) rows). A request past those keeps what it has."""
        changes = (
            (
                "state = ?, token = ?, owner = ?, outcome = NULL",
                (SUBMITTING, UNKNOWN),
                [(key, (RUNNING, token, worker)) for key, token in sorted(jobs)],
            ),
            (
                "state = ?, outcome = ?",
                (SUBMITTING, RUNNING, UNKNOWN),
                [(key, (DONE, text)) for key, text in sorted(outcomes)],
            ),
            (
                "state = ?, outcome = ?",
                (SUBMITTING,),
                [(key, (UNKNOWN, text)) for key, text in sorted(unknown)],
            ),
        )
        for columns, states, rows in changes:
            if rows:
                marks = ", ".join("?" * len(states))
                sql = f"UPDATE ib_ledger_requests SET {columns}, updated = ?"
                sql += f" WHERE run = ? AND key = ? AND state IN ({marks})"
                cur.executemany(self._q(sql), [(*values, now, run, key, *states) for key, values in rows])

    def record_files(self, run: str, items: Sequence[tuple[str, str, str]]) -> None:
        """Each `(key, body, outcome)` of an upload, `done`; a file uploaded again replaces its record."""
        now = time.time()
        with self._write() as cur:
            rows = [(key, ("upload", body, DONE, outcome, now)) for key, body, outcome in sorted(items)]
            replace = (
                "DO UPDATE SET body = excluded.body, state = excluded.state, outcome = excluded.outcome,"
            )
            replace += " updated = excluded.updated"
            self._append(cur, run, now, "kind, body, state, outcome, updated", replace, rows)

    def release(self, run: str, keys: Sequence[str]) -> None:
        """Back to `pending`: claimed requests that were never sent (the worker stopped first)."""
        now = time.time()
        with self._write() as cur:
            cur.executemany(
                self._q(
                    "UPDATE ib_ledger_requests SET state = ?, owner = NULL, updated = ?"
                    " WHERE run = ? AND key = ? AND state = ?"
                ),
                [(PENDING, now, run, key, SUBMITTING) for key in sorted(keys)],
            )

    # ------------------------------------------------------------------ leases

    def renew(self, run: str, worker: str, lease_seconds: float) -> None:
        """This worker is alive for another `lease_seconds`."""
        with self._write() as cur:
            expires = self._now(cur) + lease_seconds
            self._exec(
                cur,
                "INSERT INTO ib_ledger_workers (run, worker, host, pid, expires) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run, worker) DO UPDATE SET expires = excluded.expires",
                (run, worker, self._host, os.getpid(), expires),
            )

    def retire(self, run: str, worker: str) -> None:
        """This worker stops: what it still owns may be adopted at once."""
        with self._write() as cur:
            self._exec(cur, "DELETE FROM ib_ledger_workers WHERE run = ? AND worker = ?", (run, worker))

    def adopt(
        self, run: str, worker: str, lease_seconds: float, keys: AbstractSet[str] | None = None
    ) -> list[Row]:
        """Take over the `submitting` and `running` requests (among `keys`, if given) of workers
        that are gone: a lease expired, a retired worker, or a dead process on this machine.
        Renews this worker's lease."""
        with self._write() as cur:
            self._lock_run(cur, run)
            now = self._now(cur)
            live = {worker}
            dead = []
            for name, host, pid, expires in self._exec(
                cur, "SELECT worker, host, pid, expires FROM ib_ledger_workers WHERE run = ?", (run,)
            ).fetchall():
                gone = expires < now or (
                    bool(self._host) and host == self._host and pid is not None and not _pid_alive(int(pid))
                )
                if gone and name != worker:
                    dead.append(name)
                else:
                    live.add(name)
            orphans = [
                _row(v)
                for v in self._exec(
                    cur,
                    f"SELECT {_COLUMNS} FROM ib_ledger_requests WHERE run = ? AND state IN (?, ?)"
                    " ORDER BY position",
                    (run, *ACTIVE),
                ).fetchall()
                if v[-1] not in live and (keys is None or v[0] in keys)
            ]
            if orphans:
                stamp = time.time()
                cur.executemany(
                    self._q("UPDATE ib_ledger_requests SET owner = ?, updated = ? WHERE run = ? AND key = ?"),
                    [(worker, stamp, run, row.key) for row in orphans],
                )
            if dead:
                cur.executemany(
                    self._q("DELETE FROM ib_ledger_workers WHERE run = ? AND worker = ?"),
                    [(run, name) for name in dead],
                )
            self._exec(
                cur,
                "INSERT INTO ib_ledger_workers (run, worker, host, pid, expires) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run, worker) DO UPDATE SET expires = excluded.expires",
                (run, worker, self._host, os.getpid(), now + lease_seconds),
            )
            return [attrs.evolve(row, owner=worker) for row in orphans]


def _chunks(keys: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]
