"""Many jobs and many files at once: the waiter's scheduler, `run_many`, and bulk transfers.

The waiter is one scheduler, not a sleeping task per job:

```
add(job) ──► heap of (due, seq, entry) ──► scheduler ──► memory stream (no buffer) ──► ≤ max_in_flight pollers
                 ▲                                                                          │
                 └──────────── next due = now + PollPolicy.delay(n) (jittered) ◄────────────┘
```

- The scheduler sleeps until the earliest due time (or until an `add` brings an earlier one), and
  hands one entry at a time to an idle poller. The stream has no buffer, so handing over blocks
  while every poller is busy: that is the cap on status requests in the air.
- `max_polls_per_second` spaces hand-overs at least `1/rate` apart.
- A 429 (a `RateLimitError` that got past the client's retries, or the client-wide back-off that
  `_http` sets when it retried one) pauses the whole waiter: nothing is handed over before
  `_pause_until`, which pushes every due time back at once without touching the heap.
- Deadlines (`timeout`, the same for every job, counted from `add`) grow in the order jobs are
  added, so a plain FIFO of entries finds the next one to expire.
- Entries are `__slots__` objects, a few hundred bytes a job, so 10,000 jobs are cheap.

The task group lives in `__aenter__`/`__aexit__`, never in a generator; leaving the block cancels
every poller and request. A body's own exception leaves the block unwrapped (not in an
ExceptionGroup), because the group is closed without it once its children are cancelled.
"""

from __future__ import annotations

import heapq
import math
import os
import random
import stat
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import JobError, RateLimitError, WaitTimeoutError
from ._http import call_maybe_async
from ._jobs import Job, raise_for_outcome
from ._models import (
    FlowRunRequest,
    JobOutcome,
    JobStatus,
    PollPolicy,
    Progress,
    RunOutcome,
    TransferOutcome,
)
from ._resources.files import encode_path
from ._resources.flows import flow_run_body

if TYPE_CHECKING:
    from ._client import AsyncInstabase
    from ._resources.files import Files

__all__ = ["Waiter", "dir_items", "download_many", "run_many", "upload_many", "wait_all"]

# Entry states. An entry is in the heap only while QUEUED; one taken out by a timeout while in the
# heap stays there, stale, until the scheduler pops and skips it (cheaper than a heap removal).
_QUEUED: Final = 0
_IN_FLIGHT: Final = 1
_DONE: Final = 2

# Waiter phases. While CLOSING, the waiter's own tasks are being cancelled; one of them may still
# finish a submission whose answer landed in the same step as the cancellation, and its add() is
# accepted and dropped (nothing is polled any more) instead of raising into the task group.
_NEW: Final = 0
_OPEN: Final = 1
_CLOSING: Final = 2
_CLOSED: Final = 3

# A job whose status keeps answering 429 past the client's retries this many times in a row
# becomes that job's outcome, so a waiter without a timeout cannot spin forever on it.
_MAX_RATE_LIMITED: Final = 10


class _Entry:
    """One added job: small on purpose, since a waiter may hold tens of thousands."""

    __slots__ = ("deadline", "error", "job", "polls", "state", "status", "strikes", "tag")

    def __init__(self, job: Job | None, tag: int | None, deadline: float) -> None:
        self.job = job
        self.tag = tag  # the caller's index (wait_all, run_many); None for a plain add()
        self.deadline = deadline
        self.polls = 0
        self.state = _QUEUED
        self.status: JobStatus | None = None  # the last status seen
        self.error: BaseException | None = None
        self.strikes = 0  # consecutive RateLimitErrors on this job


def _failure(status: JobStatus) -> JobError | None:
    """The JobFailedError/JobCancelledError a final status stands for, if any."""
    try:
        raise_for_outcome(status)
    except JobError as exc:
        return exc
    return None


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        # A limit of 0 would hang forever (LESSONS: other SDKs did), so it is refused outright.
        raise ValueError(f"{name} must be >= 1, got {value}")


class Waiter:
    """Waits on many jobs with a bounded number of status requests in the air.

    ```python
    async with ib.jobs.waiter(max_in_flight=32, timeout=600) as waiter:
        for job in jobs:
            waiter.add(job)
        async for outcome in waiter:  # completion order, each job exactly once
            ...
    ```

    Iteration ends once every added job has its outcome, so add jobs before iterating or inside
    the loop. `timeout` applies to each job from when it was added. `max_polls_per_second` caps
    the rate of status requests; a 429 pauses every job's polling, not one. One job's failure, or its
    status endpoint failing past the client's retries, is that job's outcome and never stops the
    others. Leaving the block cancels all polling; jobs still pending get no outcome (the jobs
    themselves are left alone on the server).
    """

    def __init__(
        self,
        client: AsyncInstabase,
        *,
        max_in_flight: int = 32,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        max_polls_per_second: float | None = None,
        stop_when_halted: bool = True,
    ) -> None:
        _check_positive_int("max_in_flight", max_in_flight)
        if poll is not None and not isinstance(poll, PollPolicy):
            raise TypeError("poll must be a PollPolicy")
        if timeout is not None and not timeout >= 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        if max_polls_per_second is not None and not max_polls_per_second > 0:
            raise ValueError(f"max_polls_per_second must be > 0, got {max_polls_per_second!r}")
        self._client = client
        self._policy = poll or client.poll
        # Up to 10% of the shortest poll interval (at most 200 ms) late, for a fraction of the CPU.
        self._coalesce = min(0.2, 0.1 * self._policy.initial)
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._interval = 1.0 / max_polls_per_second if max_polls_per_second else 0.0
        self._stop_when_halted = stop_when_halted

        self._phase = _NEW
        self._heap: list[tuple[float, int, _Entry]] = []
        self._seq = 0
        self._deadlines: deque[_Entry] = deque()  # only with a timeout; deadlines ascend
        self._done: deque[_Entry] = deque()  # resolved, not yet handed to the caller
        self._unresolved = 0
        self._holds = 0  # run_many keeps iteration open while submissions may still add jobs
        self._pause_until = -math.inf  # the shared back-off: nothing is polled before it
        self._next_slot = -math.inf  # the rate cap: the next hand-over not before it
        self._rate_strikes = 0  # consecutive 429s, waiter-wide, to grow an unhinted pause
        self._pollers = 0
        self._idle = 0  # pollers able to take an entry now
        self._sleep_until = -math.inf  # when the scheduler sleeps, until when; -inf when busy
        # Built in __aenter__: anyio primitives need a running event loop.
        self._tg: TaskGroup | None = None
        self._wake: anyio.Event | None = None
        self._ready: anyio.Event | None = None
        self._send: MemoryObjectSendStream[_Entry] | None = None
        self._receive: MemoryObjectReceiveStream[_Entry] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Waiter:
        if self._phase != _NEW:
            raise RuntimeError("a Waiter can be entered only once")
        send, receive = anyio.create_memory_object_stream[_Entry](0)
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._send, self._receive, self._tg = send, receive, tg
        self._wake = anyio.Event()
        self._phase = _OPEN
        tg.start_soon(self._schedule)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._phase = _CLOSING
        tg = self._tg
        assert tg is not None
        assert self._send is not None
        assert self._receive is not None
        tg.cancel_scope.cancel()
        try:
            # Closed without the body's exception: it then propagates as it was, not wrapped in an
            # ExceptionGroup; a crashed child still surfaces as the group's error.
            await tg.__aexit__(None, None, None)
        finally:
            self._phase = _CLOSED
            self._send.close()
            self._receive.close()
            self._heap.clear()
            self._deadlines.clear()
            if self._ready is not None:
                self._ready.set()  # a consumer in another task sees the end

    # ------------------------------------------------------------------ adding

    def add(self, job: Job) -> None:
        """Start waiting on `job`; returns at once. Its outcome comes out of the iteration."""
        self._add(job, None)

    def _add(self, job: Job, tag: int | None) -> None:
        if self._phase == _CLOSING:
            return  # the block is ending: whatever is still pending gets no outcome
        if self._phase != _OPEN:
            raise RuntimeError(
                "add() needs an open waiter: use `async with ib.jobs.waiter() as waiter`"
                if self._phase == _NEW
                else "this waiter is closed"
            )
        if not isinstance(job, Job):
            raise TypeError(f"a waiter waits on Job handles, not {type(job).__name__}")
        now = anyio.current_time()
        deadline = math.inf if self._timeout is None else now + self._timeout
        entry = _Entry(job, tag, deadline)
        self._unresolved += 1
        if self._timeout is not None:
            self._deadlines.append(entry)
        # Spread first polls over [0, initial]: 10,000 jobs added at once must not poll in lock-step.
        initial = self._policy.initial
        due = now + random.uniform(0.0, initial) if initial > 0 else now
        self._push(entry, min(due, deadline))

    def _inject(self, tag: int, error: BaseException) -> None:
        """A ready-made outcome without a job (run_many: a submission that failed)."""
        entry = _Entry(None, tag, math.inf)
        entry.state = _DONE
        entry.error = error
        self._deliver(entry)

    def _release_hold(self) -> None:
        self._holds -= 1
        if self._ready is not None:
            self._ready.set()

    def _start_soon(self, func: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        assert self._tg is not None
        self._tg.start_soon(func, *args)

    # ------------------------------------------------------------------ outcomes

    def __aiter__(self) -> Waiter:
        return self

    async def __anext__(self) -> JobOutcome:
        entry = await self._next_done()
        if entry is None:
            raise StopAsyncIteration
        assert entry.job is not None
        return JobOutcome(entry.job, entry.status, entry.error)

    async def _next_done(self) -> _Entry | None:
        """The next resolved entry, or None once every added job has been handed out."""
        if self._phase == _NEW:
            raise RuntimeError("iterate inside `async with ib.jobs.waiter() as waiter`")
        await anyio.lowlevel.checkpoint_if_cancelled()
        while not self._done:
            if self._phase >= _CLOSING or (self._unresolved == 0 and self._holds == 0):
                return None
            ready = self._ready
            if ready is None or ready.is_set():
                ready = self._ready = anyio.Event()
            await ready.wait()
        return self._done.popleft()

    def _deliver(self, entry: _Entry) -> None:
        self._done.append(entry)
        if self._ready is not None:
            self._ready.set()

    def _resolve(self, entry: _Entry, status: JobStatus | None, error: BaseException | None) -> None:
        entry.state = _DONE
        entry.status = status
        entry.error = error
        self._unresolved -= 1
        self._deliver(entry)

    def _time_out(self, entry: _Entry) -> None:
        assert entry.job is not None
        last = entry.status
        message = f"job {entry.job.job_id} did not finish within {self._timeout} s"
        if last is not None:
            message += f" (last state {last.state})"
        self._resolve(entry, last, WaitTimeoutError(message, last))

    # ------------------------------------------------------------------ scheduling

    def _push(self, entry: _Entry, due: float) -> None:
        entry.state = _QUEUED
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, entry))
        if due < self._sleep_until:
            assert self._wake is not None
            self._wake.set()

    async def _schedule(self) -> None:
        heap = self._heap
        deadlines = self._deadlines
        send = self._send
        tg = self._tg
        assert send is not None
        assert tg is not None
        while True:
            now = anyio.current_time()
            # Time out whatever expired while queued; one being polled is the poller's to end.
            while deadlines and (deadlines[0].state == _DONE or deadlines[0].deadline <= now):
                expired = deadlines.popleft()
                if expired.state == _QUEUED:
                    self._time_out(expired)
            while heap and heap[0][2].state != _QUEUED:
                heapq.heappop(heap)
            start = math.inf
            if heap:
                start = max(heap[0][0], self._pause_until, self._next_slot)
                if start <= now:
                    entry = heapq.heappop(heap)[2]
                    entry.state = _IN_FLIGHT
                    if self._interval:
                        self._next_slot = max(now, self._next_slot) + self._interval
                    if self._idle == 0 and self._pollers < self._max_in_flight:
                        # Pollers are started as needed: a waiter on 3 jobs runs 3, not 32.
                        self._pollers += 1
                        self._idle += 1
                        tg.start_soon(self._poller)
                    await send.send(entry)  # blocks while every poller is busy: the in-flight cap
                    self._idle -= 1
                    continue
            if start != math.inf:
                # Wake a little after the earliest due time, so the polls due close together go
                # out as one burst: one wake-up and one pass of the event loop serve many.
                start += self._coalesce
            wake_at = min(start, deadlines[0].deadline) if deadlines else start
            wake = self._wake = anyio.Event()
            self._sleep_until = wake_at
            try:
                if wake_at == math.inf:
                    await wake.wait()
                else:
                    with anyio.move_on_after(wake_at - now):
                        await wake.wait()
            finally:
                self._sleep_until = -math.inf

    async def _poller(self) -> None:
        receive = self._receive
        assert receive is not None
        while True:
            entry = await receive.receive()
            try:
                await self._poll(entry)
            finally:
                self._idle += 1

    async def _poll(self, entry: _Entry) -> None:
        job = entry.job
        assert job is not None
        deadline = entry.deadline
        now = anyio.current_time()
        if now >= deadline:
            self._time_out(entry)
            return
        if now < self._pause_until:
            # Handed over just before a 429 paused the waiter: back in the queue with the rest.
            self._push(entry, now)
            return
        result: tuple[JobStatus, float | None] | None = None
        try:
            if deadline == math.inf:
                result = await job._poll()
            else:
                # The deadline also bounds a poll already in the air.
                with anyio.CancelScope(deadline=deadline):
                    result = await job._poll()
        except RateLimitError as exc:
            self._follow_client_backoff(job)
            self._rate_limited(entry, exc)
            return
        except Exception as exc:
            # Past the client's retries (or a garbage body): this job's outcome, not everyone's.
            self._follow_client_backoff(job)
            self._resolve(entry, entry.status, exc)
            return
        if result is None:
            self._time_out(entry)
            return
        self._follow_client_backoff(job)
        status, hint = result
        self._rate_strikes = 0
        entry.strikes = 0
        entry.polls += 1
        entry.status = status
        if status.is_final or (self._stop_when_halted and status.is_halted):
            self._resolve(entry, status, _failure(status) if status.is_final else None)
            return
        now = anyio.current_time()
        if now >= deadline:
            self._time_out(entry)
            return
        delay = self._policy.delay(entry.polls)
        if hint is not None and hint > delay:
            # A Retry-After on a successful answer is about this job, as in Job.wait.
            delay = hint
        self._push(entry, min(now + delay, deadline))

    def _follow_client_backoff(self, job: Job) -> None:
        # When _http retried a 429 it set the client-wide not-before; the waiter pauses as well
        # instead of handing out polls that would only sleep in _http.
        not_before = job._client._http._not_before
        if not_before > self._pause_until:
            self._pause_until = not_before

    def _rate_limited(self, entry: _Entry, exc: RateLimitError) -> None:
        """A 429 that got past the client's retries slows the whole waiter, not one job."""
        self._rate_strikes += 1
        entry.strikes += 1
        if entry.strikes >= _MAX_RATE_LIMITED:
            self._resolve(entry, entry.status, exc)
            return
        pause = exc.retry_after
        if pause is None:
            retry = self._client.retry
            pause = min(retry.max_backoff, retry.initial_backoff * 2 ** min(self._rate_strikes - 1, 32))
        now = anyio.current_time()
        self._pause_until = max(self._pause_until, now + pause)
        if now >= entry.deadline:
            self._time_out(entry)
            return
        self._push(entry, now)  # due at once; the pause holds it back with every other job


async def wait_all(
    client: AsyncInstabase,
    jobs: Iterable[Job],
    *,
    max_in_flight: int = 32,
    poll: PollPolicy | None = None,
    timeout: float | None = None,
    max_polls_per_second: float | None = None,
    stop_when_halted: bool = True,
) -> list[JobOutcome]:
    """Wait on every job with one waiter; the outcomes in input order (a repeated job gets one each)."""
    job_list = list(jobs)
    waiter = Waiter(
        client,
        max_in_flight=max_in_flight,
        poll=poll,
        timeout=timeout,
        max_polls_per_second=max_polls_per_second,
        stop_when_halted=stop_when_halted,
    )
    for job in job_list:
        if not isinstance(job, Job):
            raise TypeError(f"wait_all waits on Job handles, not {type(job).__name__}")
    outcomes: list[JobOutcome | None] = [None] * len(job_list)
    if not job_list:
        return []
    async with waiter:
        for index, job in enumerate(job_list):
            waiter._add(job, index)
        while (entry := await waiter._next_done()) is not None:
            assert entry.tag is not None
            assert entry.job is not None
            outcomes[entry.tag] = JobOutcome(entry.job, entry.status, entry.error)
    return _complete(outcomes)


def _complete(items: Sequence[Any | None]) -> list[Any]:
    missing = sum(1 for item in items if item is None)
    if missing:  # pragma: no cover - an invariant, not a user error
        raise RuntimeError(f"internal error: {missing} items got no outcome")
    return list(items)


# --------------------------------------------------------------------------- run_many


async def run_many(
    client: AsyncInstabase,
    requests: Iterable[FlowRunRequest],
    *,
    max_running: int = 8,
    poll: PollPolicy | None = None,
    timeout: float | None = None,
    on_outcome: Callable[[RunOutcome], Any] | None = None,
    progress: Callable[[Progress], Any] | None = None,
) -> list[RunOutcome]:
    """Run flows so that at most `max_running` are alive on the server (submitted, not yet
    ended), starting the next as soon as one ends; one `RunOutcome` per request, in input order.

    Every request is checked before the first is sent. A failed submission is that request's
    outcome (`job=None`). A job's slot is freed when its wait ends: final, halted, timed out, or
    its status failing past the retries. Callbacks run one at a time, in completion order;
    `Progress.failed` counts every outcome that is not `ok` (a halted run included).
    """
    _check_positive_int("max_running", max_running)
    request_list = list(requests)
    for request in request_list:
        if not isinstance(request, FlowRunRequest):
            raise TypeError(f"run_many takes FlowRunRequest items, not {type(request).__name__}")
        flow_run_body(request)  # ValueError/TypeError now, before anything is sent
    total = len(request_list)
    outcomes: list[RunOutcome | None] = [None] * total
    if not total:
        return []
    slots = anyio.Semaphore(max_running)
    done = failed = 0
    waiter = Waiter(client, max_in_flight=min(max_running, 32), poll=poll, timeout=timeout)

    async def submit(index: int, request: FlowRunRequest) -> None:
        try:
            job = await client.flows.submit(request)
        except Exception as exc:
            waiter._inject(index, exc)
        else:
            waiter._add(job, index)
        finally:
            waiter._release_hold()

    async def feed() -> None:
        try:
            for index, request in enumerate(request_list):
                await slots.acquire()
                waiter._holds += 1
                waiter._start_soon(submit, index, request)
        finally:
            waiter._release_hold()

    async with waiter:
        waiter._holds += 1  # the feeder's own: iteration waits until every request is submitted
        waiter._start_soon(feed)
        while (entry := await waiter._next_done()) is not None:
            slots.release()
            assert entry.tag is not None
            outcome = RunOutcome(request_list[entry.tag], entry.job, entry.status, entry.error)
            outcomes[entry.tag] = outcome
            done += 1
            failed += not outcome.ok
            await call_maybe_async(on_outcome, outcome)
            await call_maybe_async(progress, Progress(done, total, failed))
    return _complete(outcomes)


# --------------------------------------------------------------------------- transfers


def _local_path(value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"a local path must be a str or os.PathLike, not {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError("a local path must be a str path, not bytes")
    if not path or "\x00" in path:
        raise ValueError(f"invalid local path {path!r}")
    return Path(path)


def _pairs(items: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    pairs = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(f"each item must be a (source, target) pair, got {item!r}")
        pairs.append((item[0], item[1]))
    return pairs


def dir_items(local_dir: Path, remote_dir: str) -> list[tuple[Path, str]]:
    """Every regular file under `local_dir` (recursively, symlinked folders not followed), sorted,
    paired with `remote_dir/<its relative posix path>`."""
    if not isinstance(remote_dir, str) or not remote_dir.strip("/"):
        raise ValueError(f"remote_dir must name a folder, got {remote_dir!r}")
    root = Path(local_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    found: list[tuple[str, Path]] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError:
                continue  # a dangling symlink, or gone since the listing
            if regular:
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    base = remote_dir.rstrip("/")
    return [(path, f"{base}/{relative}") for relative, path in found]


def _sizes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            pass  # it will be that item's failed outcome
    return total


@asynccontextmanager
async def _task_scope() -> AsyncIterator[TaskGroup]:
    """A task group whose children are cancelled when the body ends, and whose body's own
    exception (a progress callback's, say) propagates unwrapped."""
    tg = anyio.create_task_group()
    await tg.__aenter__()
    try:
        yield tg
    finally:
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)


async def _transfer_all(
    count: int,
    concurrency: int,
    work: Callable[[int], Awaitable[TransferOutcome]],
    progress: Callable[[Progress], Any] | None,
    bytes_total: int | None,
) -> list[TransferOutcome]:
    """Run `work(i)` for every index on a fixed pool of `concurrency` workers; progress events
    are sent from this task, one at a time, in completion order."""
    outcomes: list[TransferOutcome | None] = [None] * count
    if not count:
        return []
    indexes = iter(range(count))
    send, receive = anyio.create_memory_object_stream[int](count)

    async def worker() -> None:
        for index in indexes:  # shared: each index is taken by exactly one worker
            outcomes[index] = await work(index)
            send.send_nowait(index)

    done = failed = bytes_done = 0
    with send, receive:
        async with _task_scope() as tg:
            for _ in range(min(concurrency, count)):
                tg.start_soon(worker)
            for _ in range(count):
                outcome = outcomes[await receive.receive()]
                assert outcome is not None
                done += 1
                failed += outcome.error is not None
                bytes_done += outcome.bytes
                await call_maybe_async(progress, Progress(done, count, failed, bytes_done, bytes_total))
    return _complete(outcomes)


async def upload_many(
    files: Files,
    items: Iterable[tuple[str | os.PathLike[str], str]],
    *,
    concurrency: int = 8,
    overwrite: bool = True,
    progress: Callable[[Progress], Any] | None = None,
) -> list[TransferOutcome]:
    """Upload `(local_path, remote_path)` pairs, `concurrency` at a time, each file streamed in
    chunks; one outcome per pair, in input order. Every pair is checked before anything is sent;
    a local file that cannot be read is that pair's failed outcome. `progress` gets an event as
    each file ends (`bytes_done` counts whole files sent; `bytes_total` is the local sizes)."""
    _check_positive_int("concurrency", concurrency)
    if not isinstance(overwrite, bool):
        raise TypeError("overwrite must be a bool")
    pairs = [(_local_path(local), remote) for local, remote in _pairs(items)]
    for _, remote in pairs:
        encode_path(remote)
    locals_ = [local for local, _ in pairs]
    bytes_total = await anyio.to_thread.run_sync(_sizes, locals_) if pairs else 0

    async def work(index: int) -> TransferOutcome:
        local, remote = pairs[index]
        try:
            sent = await files._write(remote, local, overwrite=overwrite)
        except Exception as exc:
            return TransferOutcome(os.fspath(local), remote, 0, exc)
        return TransferOutcome(os.fspath(local), remote, sent)

    return await _transfer_all(len(pairs), concurrency, work, progress, bytes_total)


async def download_many(
    files: Files,
    items: Iterable[tuple[str, str | os.PathLike[str]]],
    *,
    concurrency: int = 8,
    progress: Callable[[Progress], Any] | None = None,
) -> list[TransferOutcome]:
    """Download `(remote_path, local_path)` pairs, `concurrency` at a time; a failed file leaves
    nothing at its local path. One outcome per pair, in input order; `progress` gets an event as
    each file ends (`bytes_total` is None: sizes are not asked for up front)."""
    _check_positive_int("concurrency", concurrency)
    pairs = [(remote, _local_path(local)) for remote, local in _pairs(items)]
    for remote, _ in pairs:
        encode_path(remote)

    async def work(index: int) -> TransferOutcome:
        remote, local = pairs[index]
        try:
            received = await files._download(remote, local)
        except Exception as exc:
            return TransferOutcome(remote, os.fspath(local), 0, exc)
        return TransferOutcome(remote, os.fspath(local), received)

    return await _transfer_all(len(pairs), concurrency, work, progress, None)
