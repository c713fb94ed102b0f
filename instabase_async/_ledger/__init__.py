"""Durable runs: the `Ledger`, its states, and the calls the bulk code makes on it.

A request moves `pending -> submitting -> running -> done` (or `unknown`: a flow run that may or
may not have been sent). Each move is one transaction of a backend (`_sqlite.py`, `_postgres.py`);
blocking driver calls run in a worker thread, one at a time per ledger, so the event loop (asyncio
or trio) never waits on the database. The bulk code never writes SQL: it calls the methods below.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio
import anyio.to_thread

from .._models import RunOutcome, TransferOutcome
from ._postgres import PostgresBackend
from ._records import UPLOAD, decode_outcome, decode_upload
from ._sql import ACTIVE, DONE, PENDING, RUNNING, STATES, SUBMITTING, UNKNOWN, Backend, Row
from ._sqlite import SQLiteBackend

if TYPE_CHECKING:
    from .._client import AsyncInstabase

__all__ = ["ACTIVE", "DONE", "PENDING", "RUNNING", "STATES", "SUBMITTING", "UNKNOWN", "Ledger", "Row"]

_T = TypeVar("_T")

_POSTGRES_SCHEMES: Final = ("postgresql", "postgres")


def _backend(url: str | os.PathLike[str]) -> tuple[Backend, str]:
    """The backend a ledger URL names, and a description of it without any password."""
    if isinstance(url, os.PathLike):
        url = os.fspath(url)
    if not isinstance(url, str):
        raise TypeError(f"a ledger is a path or a URL string, not {type(url).__name__}")
    if not url or "\x00" in url:
        raise ValueError(f"invalid ledger path {url!r}")
    scheme, sep, rest = url.partition("://")
    if not sep or "/" in scheme or "\\" in scheme:
        return SQLiteBackend(url), url
    scheme = scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path and sqlite:////absolute/path, as SQLAlchemy spells them.
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"a SQLite ledger URL is sqlite:///PATH, got {url!r}")
        path = unquote(rest[1:])
        return SQLiteBackend(path), path
    if scheme in _POSTGRES_SCHEMES:
        return PostgresBackend(url, _redact(url)), _redact(url)
    raise ValueError(f"a ledger is a file path, sqlite:///PATH or postgresql://..., not a {scheme!r} URL")


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _check_run(run: Any) -> str:
    if not isinstance(run, str):
        raise TypeError(f"run must be a string, not {type(run).__name__}")
    if not run or "\x00" in run or len(run) > 200:
        raise ValueError(f"run must be 1 to 200 characters without NUL, got {run!r}")
    return run


class Ledger:
    """A durable record of bulk runs: re-running the same script carries on where it stopped.

    ```python
    async with Ledger("nightly.db", run="2026-11-29") as ledger:
        outcomes = await ib.flows.run_many(requests, max_running=8, ledger=ledger)
    ```

    `url` is a path or `sqlite:///PATH` (SQLite, made if missing) or `postgresql://...` (the
    `postgres` extra). `run` names one run among those the ledger holds. A worker that stays
    silent for `lease_seconds` (its process died) has its running jobs taken over by the others.
    """

    def __init__(
        self, url: str | os.PathLike[str], *, run: str = "default", lease_seconds: float = 60
    ) -> None:
        self._run = _check_run(run)
        if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int | float):
            raise TypeError("lease_seconds must be a number")
        if not lease_seconds > 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds!r}")
        self._backend, self._describe = _backend(url)
        self._lease = float(lease_seconds)
        self._worker = uuid.uuid4().hex
        self._limiter: anyio.CapacityLimiter | None = None
        self._open = False
        self._entered = False

    def __repr__(self) -> str:
        return f"Ledger({self._describe!r}, run={self._run!r})"

    @property
    def run(self) -> str:
        """The run name this ledger records."""
        return self._run

    @property
    def lease_seconds(self) -> float:
        return self._lease

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Ledger:
        if self._entered:
            raise RuntimeError("a Ledger can be entered only once")
        self._entered = True
        self._limiter = anyio.CapacityLimiter(1)
        await self._call(self._backend.connect)
        self._open = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._open = False
        with anyio.CancelScope(shield=True):
            try:
                # What this worker still owns may be taken over at once, not after the lease.
                await self._call(self._backend.retire, self._run, self._worker)
            finally:
                await self._call(self._backend.close)

    async def _call(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        assert self._limiter is not None
        return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs), limiter=self._limiter)

    async def _do(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if not self._open:
            raise RuntimeError("use the ledger inside `async with Ledger(...) as ledger`")
        return await self._call(func, *args, **kwargs)

    # ------------------------------------------------------------------ public reading

    async def summary(self) -> dict[str, int]:
        """The run's requests counted by state: pending, submitting, running, done, unknown."""
        return await self._do(self._backend.summary, self._run)

    async def outcomes(self, client: AsyncInstabase | None = None) -> list[RunOutcome | TransferOutcome]:
        """The outcomes recorded for the run, in the order the requests were first given:
        `RunOutcome`s (finished runs, and `unknown` ones with their `SubmissionUnknownError`), or
        `TransferOutcome`s for uploads. With `client`, each outcome's job is bound to it (otherwise
        polling such a job says to pass one)."""
        rows = await self._do(self._backend.rows, self._run, states=(DONE, UNKNOWN))
        found: list[RunOutcome | TransferOutcome] = []
        for row in rows:
            if row.outcome is None:
                continue
            if row.kind == UPLOAD:
                found.append(decode_upload(row.body, row.outcome)[0])
            else:
                found.append(decode_outcome(row.kind, row.body, row.outcome, client))
        return found

    @classmethod
    async def runs(cls, url: str | os.PathLike[str]) -> list[str]:
        """The names of the runs a ledger holds. A SQLite file that does not exist is an error."""
        backend, describe = _backend(url)

        def read() -> list[str]:
            if isinstance(backend, SQLiteBackend) and not os.path.exists(backend.path):
                raise FileNotFoundError(f"no ledger at {describe!r}")
            backend.connect()
            try:
                return backend.runs()
            finally:
                backend.close()

        return await anyio.to_thread.run_sync(read)

    # ------------------------------------------------------------------ the bulk code's calls

    async def _register(self, items: Sequence[tuple[str, str, str, str | None]]) -> list[Row]:
        return await self._do(self._backend.register, self._run, items)

    async def _claim(
        self, candidates: Sequence[str], limit: int, max_running: int, claimable: Sequence[str] = (PENDING,)
    ) -> tuple[list[str], dict[str, str]]:
        return await self._do(
            self._backend.claim, self._run, self._worker, candidates, limit, max_running, claimable
        )

    async def _record_jobs(self, items: Sequence[tuple[str, str]]) -> None:
        await self._do(self._backend.record_jobs, self._run, self._worker, items)

    async def _record_outcomes(self, items: Sequence[tuple[str, str]], *, state: str = DONE) -> None:
        await self._do(self._backend.record_outcomes, self._run, items, state=state)

    async def _record(
        self,
        *,
        jobs: Sequence[tuple[str, str]] = (),
        outcomes: Sequence[tuple[str, str]] = (),
        unknown: Sequence[tuple[str, str]] = (),
        claim: tuple[Sequence[str], int, Sequence[str]] | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        return await self._do(
            self._backend.record,
            self._run,
            self._worker,
            jobs=jobs,
            outcomes=outcomes,
            unknown=unknown,
            claim=claim,
        )

    async def _record_files(self, items: Sequence[tuple[str, str, str]]) -> None:
        await self._do(self._backend.record_files, self._run, items)

    async def _release(self, keys: Sequence[str]) -> None:
        await self._do(self._backend.release, self._run, keys)

    async def _rows(
        self, *, keys: Sequence[str] | None = None, states: Sequence[str] | None = None
    ) -> list[Row]:
        return await self._do(self._backend.rows, self._run, keys=keys, states=states)

    async def _renew(self) -> None:
        await self._do(self._backend.renew, self._run, self._worker, self._lease)

    async def _adopt(self, keys: AbstractSet[str] | None = None) -> list[Row]:
        return await self._do(self._backend.adopt, self._run, self._worker, self._lease, keys)

    async def _retire(self) -> None:
        await self._do(self._backend.retire, self._run, self._worker)
