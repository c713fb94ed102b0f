"""``FakeInstabase``: the fake server's public face and its ASGI entry point.

Every request goes through :meth:`FakeInstabase.__call__`: route it, let a fault have its way,
check the bearer token, run the handler, send the reply, and log the request.
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import anyio
import httpx

from instabase_async import AsyncInstabase

from . import _serve
from ._asgi import ApiError, ClientGone, Receive, Reply, Request, Scope, Send, V1Error, json_reply, send_reply
from ._endpoints import PATH_RE
from ._faults import ConnectionDropped, Fault, Faults, RequestLog, RequestRecord
from ._jobs import (
    FakeJob,
    JobKind,
    Outcome,
    OutcomeRule,
    ProgressRule,
    ProgressSetting,
    ProgressShape,
    check_seconds,
    coerce_progress,
)
from ._routes import Route, resolve
from ._solutions import STATES, VISIBILITIES
from ._state import FakeEndpoint, FakeSolution, State
from ._store import FileNode, FolderNode, StoreConflict, split_path

__all__ = ["FakeInstabase"]


class FakeInstabase:
    """An in-memory Instabase: every endpoint of the API documents, as one ASGI application.

    Authentication: every request must carry ``Authorization: Bearer <fake.token>``. Without it,
    v2 routes answer 401 ``{"message": ...}`` and v1 routes answer 401 too, with the v1 body
    ``{"status": "ERROR", "msg": ...}``: a real gateway refuses a bad token before any v1 handler
    could apply the 200-with-ERROR convention, and a client must see it as an authentication error.

    Args:
        token: the bearer token the fake accepts.
        username: the user the fake acts as (output folders ``run_<username>``, solution authors).
        job_polls: a job is reported running on its first ``job_polls`` status polls and finished
            on the next one (0: finished at its first poll).
        job_seconds: if set, jobs last this many seconds instead (monotonic clock), or a duration
            drawn uniformly from a ``(low, high)`` range with the seeded RNG.
        outcome: how jobs end by default (an :class:`Outcome` or ``"OK"``, ``"ERROR"``, ...).
        outcome_for: ``outcome_for(job) -> Outcome | str | None`` picks each new job's outcome.
        progress: how running jobs report ``curProgress`` (v1 status and the solution-jobs
            listing): a :class:`ProgressShape` or ``"linear"`` (default), ``"steps"``, ``"late"``
            (0 until a late jump), ``"none"`` (no ``curProgress`` at all), or ``"mixed"`` (each
            new job takes the next of those four in turn).
        progress_for: ``progress_for(job) -> ProgressShape | str | None`` picks each new job's shape.
        seed: seeds the RNG behind ids, durations and fault fractions.
        page_size: nodes per page of a folder listing.
        path_prefix: serve the APIs under this prefix (``"/ib"``), as an on-premises install may.
        log_requests: record requests in :attr:`requests`; ``max_logged_requests`` keeps only the
            newest; ``max_logged_body`` caps the body bytes kept per record.
    """

    def __init__(
        self,
        *,
        token: str = "fake-token",
        username: str = "fakeuser",
        job_polls: int = 2,
        job_seconds: float | tuple[float, float] | None = None,
        outcome: Outcome | str = Outcome.OK,
        outcome_for: OutcomeRule | None = None,
        progress: ProgressShape | str = ProgressShape.LINEAR,
        progress_for: ProgressRule | None = None,
        seed: int | None = None,
        page_size: int = 100,
        path_prefix: str = "",
        log_requests: bool = True,
        max_logged_requests: int | None = None,
        max_logged_body: int = 64 * 1024,
    ) -> None:
        self._state = State(
            token=token,
            username=username,
            job_polls=job_polls,
            job_seconds=job_seconds,
            outcome=outcome,
            outcome_for=outcome_for,
            progress=progress,
            progress_for=progress_for,
            seed=seed,
            page_size=page_size,
            path_prefix=path_prefix,
        )
        self._expected_auth = f"Bearer {token}".encode("latin-1")
        self._capture = max_logged_body
        #: Injected faults: ``fake.faults.add(route, status=..., drop=..., delay=..., ...)``.
        self.faults = Faults(self._state.rng)
        #: The requests seen, oldest first: :class:`RequestRecord` items.
        self.requests = RequestLog(enabled=log_requests, maxlen=max_logged_requests)

    # -- settings ---------------------------------------------------------------------------

    @property
    def token(self) -> str:
        """The bearer token the fake accepts."""
        return self._state.token

    @property
    def username(self) -> str:
        """The user the fake acts as."""
        return self._state.username

    @property
    def job_polls(self) -> int:
        """Polls a new job stays running for (settable; affects jobs created afterwards)."""
        return self._state.jobs.polls

    @job_polls.setter
    def job_polls(self, value: int) -> None:
        if value < 0:
            raise ValueError("job_polls must be >= 0")
        self._state.jobs.polls = value

    @property
    def job_seconds(self) -> float | tuple[float, float] | None:
        """Seconds a new job runs for, or ``None`` to count polls (settable)."""
        return self._state.jobs.seconds

    @job_seconds.setter
    def job_seconds(self, value: float | tuple[float, float] | None) -> None:
        check_seconds(value)
        self._state.jobs.seconds = value

    @property
    def outcome(self) -> Outcome:
        """The default outcome of new jobs (settable, also with a string)."""
        return self._state.jobs.outcome

    @outcome.setter
    def outcome(self, value: Outcome | str) -> None:
        self._state.jobs.outcome = Outcome.coerce(value)

    @property
    def outcome_for(self) -> OutcomeRule | None:
        """``outcome_for(job)``, consulted for each new job after :meth:`set_next_outcomes` (settable)."""
        return self._state.jobs.outcome_for

    @outcome_for.setter
    def outcome_for(self, rule: OutcomeRule | None) -> None:
        self._state.jobs.outcome_for = rule

    @property
    def progress(self) -> ProgressSetting:
        """How new jobs report progress: a :class:`ProgressShape` or ``"mixed"`` (settable, also
        with ``"linear"``, ``"steps"``, ``"late"``, ``"none"``)."""
        return self._state.jobs.progress

    @progress.setter
    def progress(self, value: ProgressShape | str) -> None:
        self._state.jobs.progress = coerce_progress(value)

    @property
    def progress_for(self) -> ProgressRule | None:
        """``progress_for(job)``, consulted for each new job before :attr:`progress` (settable)."""
        return self._state.jobs.progress_for

    @progress_for.setter
    def progress_for(self, rule: ProgressRule | None) -> None:
        self._state.jobs.progress_for = rule

    # -- serving ----------------------------------------------------------------------------

    @property
    def app(self) -> FakeInstabase:
        """The ASGI application (the fake itself is the ASGI callable)."""
        return self

    def client(self, **kwargs: Any) -> AsyncInstabase:
        """An ``AsyncInstabase`` talking to this fake in process, through ``httpx.ASGITransport``.

        ``kwargs`` go to the constructor (``retry=``, ``poll=``, ...). Note that httpx's timeouts
        do not apply in process (there is no socket); use :meth:`serve` to test timeouts.
        """
        return AsyncInstabase(
            base_url="http://localhost" + self._state.path_prefix,
            token=self.token,
            transport=httpx.ASGITransport(app=self.app),
            **kwargs,
        )

    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        """Serve the fake on a real socket for the duration of the block; yields its base URL.

        Uvicorn runs in a background thread with its own event loop, so this works under asyncio
        and trio alike. ``port=0`` picks a free port. HTTP endpoint handlers run Python code:
        keep the default loopback ``host`` unless you mean otherwise.
        """
        async with _serve.serve_in_thread(self.app, host, port) as url:
            yield url + self._state.path_prefix

    @contextlib.contextmanager
    def serve_in_background(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Like :meth:`serve`, from synchronous code: ``with fake.serve_in_background() as url:``.

        For module-scoped fixtures and for testing synchronous clients against the fake.
        """
        with _serve.serve_in_background(self.app, host, port) as url:
            yield url + self._state.path_prefix

    def close(self) -> None:
        """Remove the temporary files of large uploads now (they also go when the fake is collected)."""
        self._state.store.close()

    # -- files ------------------------------------------------------------------------------

    def write_file(self, path: str, data: bytes | str) -> None:
        """Put a file in the fake's store (parents are made); ``str`` is stored as UTF-8."""
        self._state.write_bytes(path, data.encode("utf-8") if isinstance(data, str) else data)

    def read_file(self, path: str) -> bytes:
        """The content of a stored file (``FileNotFoundError`` if there is none)."""
        self._state.jobs.sweep()
        data = self._state.read_bytes(path)
        if data is None:
            raise FileNotFoundError(path)
        return data

    def exists(self, path: str) -> bool:
        """Whether a file or folder is stored at ``path``."""
        self._state.jobs.sweep()
        with self._state.lock:
            return self._state.store.get(split_path(path)) is not None

    def is_folder(self, path: str) -> bool:
        """Whether a folder is stored at ``path``."""
        self._state.jobs.sweep()
        with self._state.lock:
            return isinstance(self._state.store.get(split_path(path)), FolderNode)

    def mkdir(self, path: str) -> None:
        """Make a folder (and its parents); nothing happens if it exists."""
        try:
            with self._state.lock:
                self._state.store.mkdir(split_path(path))
        except StoreConflict as exc:
            raise NotADirectoryError(str(exc)) from None

    def list_dir(self, path: str = "") -> list[str]:
        """The names in a stored folder, sorted (``FileNotFoundError``/``NotADirectoryError``)."""
        self._state.jobs.sweep()
        with self._state.lock:
            try:
                return [name for name, _ in self._state.store.children(split_path(path))]
            except KeyError:
                raise FileNotFoundError(path) from None

    def file_size(self, path: str) -> int:
        """The size of a stored file."""
        self._state.jobs.sweep()
        with self._state.lock:
            node = self._state.store.get(split_path(path))
        if not isinstance(node, FileNode):
            raise FileNotFoundError(path)
        return node.size

    def remove(self, path: str) -> bool:
        """Remove a stored file or folder now; return whether it existed."""
        with self._state.lock:
            return self._state.store.remove(split_path(path))

    # -- solutions --------------------------------------------------------------------------

    def add_solution(
        self,
        *,
        name: str,
        version: str = "0.0.1",
        owner: str = "IB_DEPLOYED",
        author: str | None = None,
        summary: str = "",
        description: str = "",
        state: str = "ACTIVE",
        visibility: str = "PUBLIC",
        metadata: Mapping[str, Any] | None = None,
        solution_path: str | None = None,
    ) -> str:
        """Seed a deployed solution directly (no deploy job) and return its id.

        The default owner ``IB_DEPLOYED`` is what a run by name looks for when no owner is given.
        """
        if state not in STATES or visibility not in VISIBILITIES:
            raise ValueError(f"state must be one of {STATES} and visibility one of {VISIBILITIES}")
        with self._state.lock:
            solution = FakeSolution(
                id=self._state.new_id(),
                name=name,
                version=version,
                owner=owner,
                author=author or self.username,
                summary=summary,
                description=description,
                state=state,
                visibility=visibility,
                metadata=dict(metadata or {}),
                solution_path=solution_path,
            )
            self._state.solutions[solution.id] = solution
        return solution.id

    @property
    def solutions(self) -> Mapping[str, FakeSolution]:
        """The deployed solutions by id (a read-only view)."""
        return MappingProxyType(self._state.solutions)

    # -- HTTP endpoints ---------------------------------------------------------------------

    def add_endpoint(
        self,
        endpoint_id: str,
        *,
        path: str,
        handler_script_path: str,
        script: str | bytes | None = None,
        enabled: bool = True,
    ) -> None:
        """Seed an HTTP endpoint; with ``script``, also store that handler source at its path."""
        if not PATH_RE.fullmatch(path):
            raise ValueError("path must match [A-Za-z0-9_-]+")
        if script is not None:
            self.write_file(handler_script_path, script)
        with self._state.lock:
            self._state.endpoints[endpoint_id] = FakeEndpoint(endpoint_id, path, handler_script_path, enabled)

    @property
    def endpoints(self) -> Mapping[str, FakeEndpoint]:
        """The HTTP endpoints by id (a read-only view)."""
        return MappingProxyType(self._state.endpoints)

    # -- jobs -------------------------------------------------------------------------------

    @property
    def jobs(self) -> Mapping[str, FakeJob]:
        """Every job by id, in creation order (a read-only view, brought up to date with the clock
        when read; a job read from it earlier is a live object that moves on with it)."""
        self._state.jobs.sweep()
        return MappingProxyType(self._state.jobs.jobs)

    def get_job(self, job_id: str) -> FakeJob:
        """A job, brought up to date with the clock, without counting a poll (``KeyError``)."""
        job = self._state.jobs.look(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def finish_job(self, job_id: str, outcome: Outcome | str | None = None) -> FakeJob:
        """End a job now with ``outcome`` (default: its planned one), or move on a job stopped
        at a checkpoint (default ``OK``). ``ValueError`` if it is finished already."""
        return self._state.jobs.finish(job_id, outcome)

    def set_next_outcomes(self, outcomes: Iterable[Outcome | str], *, kind: JobKind | None = None) -> None:
        """Outcomes for the next jobs created, one each, in order; ``kind`` (``"flow"``,
        ``"deploy"``, ``"solution_delete"``, ``"file_delete"``, ``"file_copy"``,
        ``"file_extract"``) limits them to jobs of that kind. Replaces what was queued for that
        kind. Takes precedence over ``outcome_for`` and the default outcome."""
        self._state.jobs.set_next_outcomes(outcomes, kind)

    def set_job_duration(
        self, job_id: str, *, polls: int | None = None, seconds: float | None = None
    ) -> None:
        """Change one job's duration, counted from its start: ``seconds`` or ``polls``."""
        self._state.jobs.set_duration(job_id, polls=polls, seconds=seconds)

    def jobs_running(self) -> int:
        """How many jobs are running now (a job stopped at a checkpoint is not running)."""
        return self._state.jobs.running()

    @property
    def max_running_jobs(self) -> int:
        """The most jobs that were running at once (high-water mark, counted as each job starts)."""
        return self._state.jobs.max_running

    def reset_max_running_jobs(self) -> None:
        """Restart the high-water mark from the number running now."""
        self._state.jobs.reset_max_running()

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI application."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        self._state.jobs.sweep()  # jobs take effect on their own clock, whether or not anyone polls
        req = Request(
            scope,
            receive,
            prefix=self._state.path_prefix,
            capture=self._capture if self.requests.enabled else 0,
        )
        route: Route | ApiError
        try:
            route = resolve(req)
        except ApiError as exc:
            route = exc
        name = route.name if isinstance(route, Route) else None
        fault = self.faults.pick(name, req.method, req.path)
        status: int | None = None
        dropped = False
        try:
            reply = await self._respond(req, route, fault)
            await req.drain()
            status = reply.status
            await send_reply(send, reply)
        except ConnectionDropped:
            dropped = True
            raise
        except ClientGone:
            status = None
        finally:
            if self.requests.enabled:
                self._log(req, name, status, dropped=dropped, faulted=fault is not None)

    async def _respond(self, req: Request, route: Route | ApiError, fault: Fault | None) -> Reply:
        """The reply to send once ``fault`` (if any) had its way; a drop raises :class:`ConnectionDropped`.

        Before a drop the request body is read to its end: closing a socket with unread data sends a
        reset, and the client would see a read error or a protocol error by chance.
        """
        if fault is None:
            return await self._handle(req, route)
        if fault.delay:
            await anyio.sleep(fault.delay)
        if fault.after_processing:
            (await self._handle(req, route)).close()
        elif fault.status is None and not fault.drop:  # a delay and nothing else
            return await self._handle(req, route)
        await req.drain()
        if fault.drop:
            raise ConnectionDropped
        return _fault_reply(fault)

    def _authorized(self, req: Request) -> bool:
        for key, value in req.headers:
            if key == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    b"Bearer " + token.strip(), self._expected_auth
                )
        return False

    async def _handle(self, req: Request, route: Route | ApiError) -> Reply:
        v1 = req.path.startswith("/api/v1/")
        if not self._authorized(req):
            message = "missing or invalid bearer token"
            headers = [(b"www-authenticate", b"Bearer")]
            body = {"status": "ERROR", "msg": message} if v1 else {"message": message}
            return json_reply(body, 401, headers)
        try:
            if isinstance(route, ApiError):
                raise route
            return await route.handler(self._state, req, route.arg)
        except V1Error as exc:
            return json_reply({"status": "ERROR", "msg": exc.msg})
        except ApiError as exc:
            return json_reply({"message": exc.message}, exc.status, exc.headers)

    def _log(
        self, req: Request, route: str | None, status: int | None, *, dropped: bool, faulted: bool
    ) -> None:
        headers: dict[str, str] = {}
        for raw_key, raw_value in req.headers:
            key = raw_key.decode("latin-1").lower()
            value = "REDACTED" if key == "authorization" else raw_value.decode("latin-1")
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.requests.append(
            RequestRecord(
                method=req.method,
                path=req.raw_path,
                query=req.query,
                headers=headers,
                body=bytes(req.captured),
                body_size=req.body_size,
                status=status,
                route=route,
                dropped=dropped,
                faulted=faulted,
                time=time.time(),
            )
        )


def _fault_reply(fault: Fault) -> Reply:
    return json_reply({"message": fault.message}, fault.status or 500, fault.headers())


async def _lifespan(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol (nothing to set up or tear down)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
