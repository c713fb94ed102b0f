"""The waiter: one scheduler for many jobs, with at most `max_in_flight` status requests in the air.

It owns the heap of due times, the pollers, the shared back-off and each job's outcome; it knows
jobs only through `Job.poll_once()` and the client's `HTTP.backoff_until`. Its small internal API
(`add(job, tag=...)`, `add_failure`, `hold()`, `start_soon`, `next_entry`) is what `wait_all`,
bulk runs (`_runs.py`) and their ledger build on. It is one scheduler, not a sleeping task per job:

```
add(job) ──► heap of (due, seq, entry) ──► scheduler ──► memory stream (no buffer) ──► ≤ max_in_flight pollers
                 ▲                                                                          │
                 └──── next due = now + the entry's Pacer (PollPolicy, adaptive) ◄──────────┘
```

- The scheduler sleeps until the earliest due time (or until an `add` brings an earlier one), and
  hands one entry at a time to an idle poller. The stream has no buffer, so handing over blocks
  while every poller is busy: that is the cap on status requests in the air.
- `max_polls_per_second` spaces hand-overs at least `1/rate` apart.
- A 429 (a `RateLimitError` that got past the client's retries, or the client-wide back-off that
  `_http` sets when it retried one, `backoff_until`) pauses the whole waiter: nothing is handed
  over before `_pause_until`, which pushes every due time back at once without touching the heap.
- Deadlines (`timeout`, the same for every job, counted from `add`) grow in the order jobs are
  added, so a plain FIFO of entries finds the next one to expire.
- Each entry is also its job's `Pacer`: with `PollPolicy(adaptive=True)` a job whose progress
  points to its end is polled just after it, never more than `maximum` after the previous poll.
- Deployed-solution runs (`Job.solution_run`) go out in batches: the scheduler gathers the runs
  due within a short window (up to 50) into one request to the multi-job listing; a run the
  listing reports final (or halted), or leaves out, gets a status request of its own (CONFIRM,
  or DIRECT for good). A listing failing past the retries sends each run to its own status once.
- Entries are `__slots__` objects, a few hundred bytes a job, so 100,000 jobs are cheap.

The task group lives in `__aenter__`/`__aexit__`, never in a generator; leaving the block cancels
every poller and request. A body's own exception leaves the block unwrapped (not in an
ExceptionGroup), because the group is closed without it once its children are cancelled.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import RateLimitError, WaitTimeoutError
from ._jobs import Job, Pacer, failure_of, list_solution_runs
from ._models import JobOutcome, JobState, JobStatus, PollPolicy
from ._validate import filled, positive_int

if TYPE_CHECKING:
    from ._client import AsyncInstabase

__all__ = ["OUTCOME", "STILL_RUNNING", "STOPPED_RUNNING", "Entry", "Hold", "Waiter", "wait_all"]

# Entry states. An entry is in the heap only while QUEUED; one taken out by a timeout while in the
# heap stays there, stale, until the scheduler pops and skips it (cheaper than a heap removal).
_QUEUED: Final = 0
_IN_FLIGHT: Final = 1
_DONE: Final = 2

# What a handed-out entry is (Entry.kind). Only a waiter made with linger=True hands out the
# last two: a bulk run keeps a timed-out job's slot until the server says the job has ended.
OUTCOME: Final = 0
STILL_RUNNING: Final = 1
STOPPED_RUNNING: Final = 2

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

# How an entry is polled. DIRECT: its own status request every time. LISTING: a deployed-solution
# run, polled in batches through the multi-job listing. CONFIRM: a run the listing reported final
# (or halted): one status request of its own for its results, then back to the listing if not final.
_DIRECT: Final = 0
_LISTING: Final = 1
_CONFIRM: Final = 2
# At most this many runs in one listing request (about 2.5 KB of URL with UUID ids).
_BATCH: Final = 50


class Entry(Pacer):
    """One added job (or a ready-made failure): small on purpose, since a waiter may hold
    100,000. Once handed out by `next_entry`, `tag`, `job`, `status` and `error` are its outcome.
    An entry is also its job's `Pacer` (one object a job, not two)."""

    __slots__ = ("deadline", "error", "job", "kind", "polls", "route", "state", "status", "strikes", "tag")

    def __init__(self, job: Job | None, tag: int | None, deadline: float, origin: float = 0.0) -> None:
        super().__init__(origin)
        self.job = job
        self.tag = tag  # the caller's index (wait_all, bulk runs); None for a plain add()
        self.deadline = deadline
        self.polls = 0
        self.state = _QUEUED
        self.route = _LISTING if job is not None and job.solution_run else _DIRECT
        self.status: JobStatus | None = None  # the last status seen
        self.error: BaseException | None = None
        self.strikes = 0  # consecutive RateLimitErrors on this job
        # OUTCOME; or, in a lingering waiter, STILL_RUNNING (a timed-out job's outcome, the job
        # still polled) and then STOPPED_RUNNING (that job has ended: a notice, no outcome).
        self.kind = OUTCOME


class Hold:
    """Keeps a waiter's iteration open while more jobs may still be added (a submission in the
    air, a feeder with requests left): `release()` once, or use it as a context manager."""

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Waiter) -> None:
        self._waiter: Waiter | None = waiter
        waiter._holds += 1

    def release(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter._holds -= 1
            waiter._wake_consumer()

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _check_options(
    max_in_flight: int, poll: PollPolicy | None, timeout: float | None, max_polls_per_second: float | None
) -> None:
    """The waiter's arguments, checked before anything starts."""
    positive_int("max_in_flight", max_in_flight)
    if poll is not None and not isinstance(poll, PollPolicy):
        raise TypeError("poll must be a PollPolicy")
    if timeout is not None and not timeout >= 0:
        raise ValueError(f"timeout must be >= 0, got {timeout!r}")
    if max_polls_per_second is not None and not max_polls_per_second > 0:
        raise ValueError(f"max_polls_per_second must be > 0, got {max_polls_per_second!r}")


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
        linger: bool = False,
    ) -> None:
        _check_options(max_in_flight, poll, timeout, max_polls_per_second)
        self._http = client._http
        self._retry = client.retry
        self._policy = poll or client.poll
        # Up to 10% of the shortest poll interval (at most 200 ms) late, for a fraction of the CPU.
        self._coalesce = min(0.2, 0.1 * self._policy.initial)
        # A solution run due this soon joins a listing request going out now.
        self._batch_window = min(0.5, 0.5 * self._policy.initial)
        self._client = client
        self._max_in_flight = max_in_flight
        self._timeout = timeout
        self._interval = 1.0 / max_polls_per_second if max_polls_per_second else 0.0
        self._stop_when_halted = stop_when_halted
        self._linger = linger  # keep polling a timed-out job (at the maximum interval) until it ends

        self._phase = _NEW
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = 0
        self._deadlines: deque[Entry] = deque()  # only with a timeout; deadlines ascend
        self._done: deque[Entry] = deque()  # resolved, not yet handed to the caller
        self._unresolved = 0
        self._holds = 0  # Hold objects alive: iteration stays open while submissions may add jobs
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
        self._send: MemoryObjectSendStream[Entry | list[Entry]] | None = None
        self._receive: MemoryObjectReceiveStream[Entry | list[Entry]] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Waiter:
        if self._phase != _NEW:
            raise RuntimeError("a Waiter can be entered only once")
        send, receive = anyio.create_memory_object_stream[Entry | list[Entry]](0)
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
            self._wake_consumer()  # a consumer in another task sees the end

    # ------------------------------------------------------------------ adding

    def add(self, job: Job, *, tag: int | None = None) -> None:
        """Start waiting on `job`; returns at once. Its outcome comes out of the iteration.

        `tag` (an index) comes back on the entry, for callers that put outcomes in order."""
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
        entry = Entry(job, tag, deadline, now)
        self._unresolved += 1
        if self._timeout is not None:
            self._deadlines.append(entry)
        # Spread first polls over [0, initial]: 10,000 jobs added at once must not poll in lock-step.
        initial = self._policy.initial
        due = now + random.uniform(0.0, initial) if initial > 0 else now
        self._push(entry, min(due, deadline))

    def add_failure(self, error: BaseException, *, tag: int) -> None:
        """A ready-made outcome without a job (a submission that failed)."""
        entry = Entry(None, tag, math.inf)
        entry.state = _DONE
        entry.error = error
        self._deliver(entry)

    def hold(self) -> Hold:
        """Keep iteration open until the returned `Hold` is released (see `Hold`)."""
        return Hold(self)

    def start_soon(self, func: Callable[..., Coroutine[Any, Any, None]], *args: Any) -> None:
        """Run `func(*args)` in the waiter's task group: cancelled when the block ends."""
        if self._tg is None:
            raise RuntimeError("start_soon() needs an open waiter")
        self._tg.start_soon(func, *args)

    # ------------------------------------------------------------------ outcomes

    def __aiter__(self) -> Waiter:
        return self

    async def __anext__(self) -> JobOutcome:
        entry = await self.next_entry()
        if entry is None:
            raise StopAsyncIteration
        assert entry.job is not None
        return JobOutcome(entry.job, entry.status, entry.error)

    async def next_entry(self) -> Entry | None:
        """The next resolved entry, or None once every added job has been handed out (and no
        `Hold` is left)."""
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

    def _deliver(self, entry: Entry) -> None:
        self._done.append(entry)
        self._wake_consumer()

    def _wake_consumer(self) -> None:
        if self._ready is not None:
            self._ready.set()

    def _resolve(self, entry: Entry, status: JobStatus | None, error: BaseException | None) -> None:
        entry.state = _DONE
        if entry.kind == STILL_RUNNING:
            # A lingering job has ended (or its status failed): its outcome went out already.
            entry.kind = STOPPED_RUNNING
            self._deliver(entry)
            return
        entry.status = status
        entry.error = error
        self._unresolved -= 1
        self._deliver(entry)

    def _time_out(self, entry: Entry) -> None:
        assert entry.job is not None
        last = entry.status
        message = f"job {entry.job.job_id} did not finish within {self._timeout} s"
        if last is not None:
            message += f" (last state {last.state})"
        error = WaitTimeoutError(message, last)
        if not self._linger:
            self._resolve(entry, last, error)
            return
        # The outcome goes out now; the job itself stays, polled at the maximum interval.
        outcome = Entry(entry.job, entry.tag, entry.deadline)
        outcome.state = _DONE
        outcome.status = last
        outcome.error = error
        outcome.kind = STILL_RUNNING
        entry.kind = STILL_RUNNING
        self._unresolved -= 1
        self._deliver(outcome)
        if entry.state != _QUEUED:
            self._push(entry, anyio.current_time() + self._policy.maximum)

    # ------------------------------------------------------------------ scheduling

    def _push(self, entry: Entry, due: float) -> None:
        entry.state = _QUEUED
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, entry))
        if due < self._sleep_until:
            assert self._wake is not None
            self._wake.set()

    async def _schedule(self) -> None:
        heap = self._heap
        deadlines = self._deadlines
        while True:
            now = anyio.current_time()
            self._expire(now)
            start = math.inf
            if heap:
                start = max(heap[0][0], self._pause_until, self._next_slot)
                if start <= now:
                    await self._hand_over(heapq.heappop(heap)[2], now)
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

    def _expire(self, now: float) -> None:
        """Time out whatever expired while queued (one being polled is the poller's to end), and
        drop from the heap's top what is no longer queued."""
        deadlines = self._deadlines
        while deadlines and (
            deadlines[0].state == _DONE or deadlines[0].kind != OUTCOME or deadlines[0].deadline <= now
        ):
            expired = deadlines.popleft()
            if expired.state == _QUEUED and expired.kind == OUTCOME:
                self._time_out(expired)
        heap = self._heap
        while heap and heap[0][2].state != _QUEUED:
            heapq.heappop(heap)

    async def _hand_over(self, entry: Entry, now: float) -> None:
        """Give a due entry (with its batch, for a listing) to a poller, starting one if none is idle."""
        send = self._send
        tg = self._tg
        assert send is not None
        assert tg is not None
        entry.state = _IN_FLIGHT
        work: Entry | list[Entry] = entry
        if entry.route == _LISTING:
            work = self._batch(entry, now)
        if self._interval:
            self._next_slot = max(now, self._next_slot) + self._interval
        if self._idle == 0 and self._pollers < self._max_in_flight:
            # Pollers are started as needed: a waiter on 3 jobs runs 3, not 32.
            self._pollers += 1
            self._idle += 1
            tg.start_soon(self._poller)
        await send.send(work)  # blocks while every poller is busy: the in-flight cap
        self._idle -= 1

    def _batch(self, first: Entry, now: float) -> list[Entry]:
        """`first` and the other solution runs due within the batch window: one listing request.
        Other entries met on the way go back into the heap as they were."""
        heap = self._heap
        batch = [first]
        aside = []
        horizon = now + self._batch_window
        while heap and len(batch) < _BATCH and heap[0][0] <= horizon:
            item = heapq.heappop(heap)
            entry = item[2]
            if entry.state != _QUEUED:
                continue  # stale: timed out while queued
            if entry.route == _LISTING:
                entry.state = _IN_FLIGHT
                batch.append(entry)
            else:
                aside.append(item)
        for item in aside:
            heapq.heappush(heap, item)
        return batch

    async def _poller(self) -> None:
        receive = self._receive
        assert receive is not None
        while True:
            work = await receive.receive()
            try:
                if isinstance(work, list):
                    await self._poll_listing(work)
                else:
                    await self._poll(work)
            finally:
                self._idle += 1

    async def _poll(self, entry: Entry) -> None:
        job = entry.job
        assert job is not None
        deadline = entry.deadline if entry.kind == OUTCOME else math.inf
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
                result = await job.poll_once()
            else:
                # The deadline also bounds a poll already in the air.
                with anyio.CancelScope(deadline=deadline):
                    result = await job.poll_once()
        except RateLimitError as exc:
            self._follow_client_backoff()
            self._rate_limited(entry, exc)
            return
        except Exception as exc:
            # Past the client's retries (or a garbage body): this job's outcome, not everyone's.
            self._follow_client_backoff()
            self._resolve(entry, entry.status, exc)
            return
        if result is None:
            self._time_out(entry)
            return
        self._follow_client_backoff()
        status, hint = result
        self._rate_strikes = 0
        entry.strikes = 0
        entry.polls += 1
        entry.status = status
        if status.is_final or (self._stop_when_halted and status.is_halted):
            self._resolve(entry, status, failure_of(status) if status.is_final else None)
            return
        if entry.route == _CONFIRM:
            entry.route = _LISTING  # the listing ran ahead of the job's own status: back to batches
        now = anyio.current_time()
        if now >= deadline:
            self._time_out(entry)
            return
        self._push(entry, now + self._next_delay(entry, now, status.progress, hint, deadline))

    def _next_delay(
        self, entry: Entry, now: float, progress: float | None, hint: float | None, deadline: float
    ) -> float:
        """The delay before an entry's next poll: its Pacer's (a Retry-After on a successful
        answer, the hint, is about this job, as in Job.wait); a lingering job, one whose
        outcome went out already, is polled at the maximum interval."""
        if entry.kind != OUTCOME:
            return max(self._policy.maximum, hint or 0.0)
        return entry.next_delay(self._policy, entry.polls, now, progress, hint=hint, remaining=deadline - now)

    async def _poll_listing(self, batch: list[Entry]) -> None:
        """Poll solution runs with one listing request. A run listed as still going is scheduled
        again; one listed final (or halted) or left out gets a status request of its own."""
        now = anyio.current_time()
        live = []
        for entry in batch:
            if entry.kind == OUTCOME and now >= entry.deadline:
                self._time_out(entry)
            elif now < self._pause_until:
                self._push(entry, now)  # handed over just before a 429 paused the waiter
            else:
                live.append(entry)
        if not live:
            return
        # The earliest deadline of the batch also bounds the listing in the air.
        deadline = min((entry.deadline for entry in live if entry.kind == OUTCOME), default=math.inf)
        listed = None
        try:
            with anyio.CancelScope(deadline=deadline):
                listed = await list_solution_runs(
                    self._client, [entry.job.job_id for entry in live if entry.job]
                )
        except RateLimitError as exc:
            self._follow_client_backoff()
            for entry in live:
                self._rate_limited(entry, exc, pause=entry is live[0])
            return
        except Exception:
            # The listing failed past the client's retries: each run asks on its own this time.
            self._follow_client_backoff()
            for entry in live:
                entry.route = _CONFIRM
                self._push(entry, anyio.current_time())
            return
        self._follow_client_backoff()
        now = anyio.current_time()
        if listed is None:  # a deadline came first: those runs time out, the others go again
            for entry in live:
                if entry.kind == OUTCOME and now >= entry.deadline:
                    self._time_out(entry)
                else:
                    self._push(entry, now)
            return
        self._rate_strikes = 0
        for entry in live:
            assert entry.job is not None
            self._listed(entry, listed.get(entry.job.job_id), now)

    def _listed(self, entry: Entry, found: tuple[JobState, float | None] | None, now: float) -> None:
        """What a listing said of one run (`None`: left out): scheduled again, or sent on to confirm."""
        assert entry.job is not None
        if found is None:
            entry.route = _DIRECT  # the listing does not know it: its own status from now on
            self._push(entry, now)
            return
        state, progress = found
        entry.strikes = 0
        if state.is_final or (self._stop_when_halted and state.is_halted):
            entry.route = _CONFIRM
            self._push(entry, now)
            return
        entry.polls += 1
        if entry.status is None or entry.status.state is not state or entry.status.progress != progress:
            # What the listing said, for a timeout's "last state" (no body: the listing has none).
            entry.status = JobStatus(entry.job.job_id, state, raw_state=str(state), progress=progress)
        deadline = entry.deadline if entry.kind == OUTCOME else math.inf
        if now >= deadline:
            self._time_out(entry)
            return
        self._push(entry, now + self._next_delay(entry, now, progress, None, deadline))

    def _follow_client_backoff(self) -> None:
        # When _http retried a 429 it set the client-wide back-off; the waiter pauses as well
        # instead of handing out polls that would only sleep in _http.
        not_before = self._http.backoff_until
        if not_before > self._pause_until:
            self._pause_until = not_before

    def _rate_limited(self, entry: Entry, exc: RateLimitError, *, pause: bool = True) -> None:
        """A 429 that got past the client's retries slows the whole waiter, not one job (a
        listing's 429 pauses once for its whole batch: `pause` for the first entry only)."""
        self._rate_strikes += pause
        entry.strikes += 1
        too_long = exc.retry_after is not None and exc.retry_after > self._retry.max_retry_after
        if entry.strikes >= _MAX_RATE_LIMITED or too_long:
            # A pause over the cap is never waited out: it is this job's outcome instead.
            self._resolve(entry, entry.status, exc)
            return
        delay = exc.retry_after
        if delay is None:
            retry = self._retry
            delay = min(retry.max_backoff, retry.initial_backoff * 2 ** min(self._rate_strikes - 1, 32))
        now = anyio.current_time()
        if pause:
            self._pause_until = max(self._pause_until, now + delay)
        if entry.kind == OUTCOME and now >= entry.deadline:
            self._time_out(entry)
            return
        self._push(entry, now)  # due at once; the pause holds it back with every other job


async def wait_all(waiter: Waiter, jobs: Iterable[Job]) -> list[JobOutcome]:
    """Wait on every job with `waiter` (not yet entered); the outcomes in input order (a repeated
    job gets one each)."""
    job_list = list(jobs)
    for job in job_list:
        if not isinstance(job, Job):
            raise TypeError(f"wait_all waits on Job handles, not {type(job).__name__}")
    outcomes: list[JobOutcome | None] = [None] * len(job_list)
    if not job_list:
        return []
    async with waiter:
        for index, job in enumerate(job_list):
            waiter.add(job, tag=index)
        while (entry := await waiter.next_entry()) is not None:
            assert entry.tag is not None
            assert entry.job is not None
            outcomes[entry.tag] = JobOutcome(entry.job, entry.status, entry.error)
    return filled(outcomes)
