"""Bulk runs recorded in a ledger: a re-run carries on after a crash, and workers share one run.

One call of `run_requests` with a ledger is one worker. It registers every request (keyed), then:

```
done rows ─────────────────────────────────────────────────────────────► outcome (no request)
pending ──► claim (one transaction: count running, take ≤ max_running) ──► POST ──► token ──► waiter
running (ours, or adopted from a dead worker) ─────────────────────────────────────────────► waiter
submitting (ours) ──► solution: ask the server about its derived job id; flow: `unknown`
another live worker's rows ──► watched: read back from the ledger until they are done
```

`submitting` is committed by the claim, before the POST; the token is written as soon as the
answer comes (the POST and that write are shielded from cancellation together: a submission sent
records its answer); outcomes are written when final. Writes and claims go in rounds of one task
(`_book`), so a burst of completions and the claims of the slots they free are one transaction.
A ticker renews this worker's lease, adopts the requests of workers that went silent, reads back
watched requests, and starts a round, since another worker's completions free slots too.

A wait that times out gives its `WaitTimeoutError` outcome at once, but the job keeps its slot and
is polled on until final, when its real outcome is recorded.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.lowlevel

from ._errors import ConflictError, NotFoundError, OperationError, SubmissionUnknownError, WaitTimeoutError
from ._http import call_maybe_async
from ._jobs import Job
from ._ledger import DONE, PENDING, RUNNING, SUBMITTING, UNKNOWN, Ledger, Row
from ._ledger._records import (
    SOLUTION,
    UPLOAD,
    decode_outcome,
    decode_upload,
    derived_job_id,
    encode_outcome,
    encode_request,
    encode_upload,
    request_key,
)
from ._models import (
    FlowRunRequest,
    JobStatus,
    Progress,
    RunOutcome,
    SolutionRunRequest,
    TransferOutcome,
)
from ._runs import RunOptions, run_all
from ._waiter import Entry, Waiter

if TYPE_CHECKING:
    from ._client import AsyncInstabase

__all__ = ["run_requests", "upload_recorded"]

# The waiter's pollers for a bulk run: one per running job, up to this many.
_MAX_POLLERS: Final = 32
# How long a round waits for more records before its transaction: a tenth of the transactions
# for a delay of a few ms in recording a job (a crash inside it leaves the request `submitting`).
_COALESCE: Final = 0.02
# How often a worker renews its lease and looks at the other workers' requests (at most).
_MAX_TICK: Final = 1.0

Request = FlowRunRequest | SolutionRunRequest
# Starts request `index`; for a solution run in a ledger, under the given job id.
Submit = Callable[[int, str | None], Awaitable[Job]]


def _keys(run: str, requests: Sequence[Request]) -> tuple[list[str], list[tuple[str, str, str, str | None]]]:
    """Each request's key, and its `(key, kind, body, job_id)` for the ledger; a repeated key is a
    `ValueError` before anything is recorded or sent."""
    keys: list[str] = []
    items: list[tuple[str, str, str, str | None]] = []
    seen: dict[str, int] = {}
    for index, request in enumerate(requests):
        kind, body = encode_request(request)
        key = request_key(request, kind, body)
        if key in seen:
            raise ValueError(
                f"requests {seen[key]} and {index} have the same key {key!r}: "
                + (
                    "give each a distinct key="
                    if request.key is not None
                    else "they are equal; give each a key="
                )
            )
        seen[key] = index
        job_id = None
        if kind == SOLUTION:
            assert isinstance(request, SolutionRunRequest)
            job_id = request.job_id or derived_job_id(run, key)
        keys.append(key)
        items.append((key, kind, body, job_id))
    return keys, items


def _not_known(exc: Exception) -> bool:
    """The server's answer for a job id it has never seen (v2: 404; v1: ERROR "not found")."""
    return isinstance(exc, NotFoundError) or (
        isinstance(exc, OperationError) and "not found" in str(exc.message).lower()
    )


class _Worker:
    """The state of one `run_requests` call with a ledger: one worker of the run."""

    def __init__(
        self,
        client: AsyncInstabase,
        ledger: Ledger,
        requests: Sequence[Request],
        submit: Submit,
        options: RunOptions,
        *,
        resubmit_unknown: bool,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.requests = requests
        self.submit = submit
        self.max_running = max_running = options.max_running
        self.timeout = options.timeout
        self.on_outcome = options.on_outcome
        self.progress = options.progress
        self.resubmit_unknown = resubmit_unknown
        self.claimable = (PENDING, UNKNOWN) if resubmit_unknown else (PENDING,)
        self.keys, self.items = _keys(ledger.run, requests)
        self.index_of = {key: index for index, key in enumerate(self.keys)}
        self.total = len(requests)
        self.outcomes: list[RunOutcome | None] = [None] * self.total
        self.queue: dict[int, None] = {}  # pending here, in input order: to claim
        self.watched: set[int] = set()  # another live worker's: read back until done
        self.deadlines: list[tuple[float, int]] = []  # ascending: timeouts of this call's waits
        self.jobs: dict[int, Job] = {}
        self.new_deadline = anyio.Event()  # wakes the timer when it has nothing to wait for
        self.waiter = Waiter(client, max_in_flight=min(max_running, _MAX_POLLERS), poll=options.poll)
        self.wake = anyio.Event()  # something to record, or room to claim: a round of `_book`
        self.claimed: set[int] = set()  # claimed, not yet being sent: released if the call ends
        # Records waiting for the next round: (key, token), (key, outcome), (key, unknown outcome).
        self.new_jobs: list[tuple[str, str]] = []
        self.new_outcomes: list[tuple[str, str]] = []
        self.new_unknown: list[tuple[str, str]] = []
        self.tick = min(_MAX_TICK, ledger.lease_seconds / 4)

    # ------------------------------------------------------------------ the call

    async def run(self) -> list[RunOutcome]:
        rows = await self.ledger._register(self.items)
        adopted = {row.key for row in await self.ledger._adopt(set(self.keys))}
        # Outcomes (or a task's error) for `_collect`, in the order they come.
        self.send, self.receive = anyio.create_memory_object_stream[tuple[int, RunOutcome] | BaseException](
            math.inf
        )
        try:
            async with self.waiter:
                hold = self.waiter.hold()  # the waiter's iteration stays open for the whole call
                try:
                    for index, row in enumerate(rows):
                        # This ledger's own rows too: an earlier call's waits that timed out.
                        self._start(index, row, mine=row.key in adopted or row.owner == self.ledger._worker)
                    self.wake.set()  # the first round: claims at once
                    for task in (self._pump, self._book, self._ticker):
                        self.waiter.start_soon(self._guard, task)
                    if self.timeout is not None:
                        self.waiter.start_soon(self._guard, self._timer)
                    await self._collect()
                finally:
                    hold.release()
        finally:
            with anyio.CancelScope(shield=True):
                await self._round(claim=False)
                if self.claimed:  # never sent: pending again, for this run or another worker
                    await self.ledger._release([self.keys[index] for index in self.claimed])
                # Whatever this worker still holds (timed-out waits) may be taken over at once.
                await self.ledger._retire()
            self.send.close()
            self.receive.close()
        return [outcome for outcome in self.outcomes if outcome is not None]

    async def _collect(self) -> None:
        done = failed = 0
        while done < self.total:
            item = await self.receive.receive()
            if isinstance(item, BaseException):
                raise item
            index, outcome = item
            self.outcomes[index] = outcome
            done += 1
            failed += not outcome.ok
            await call_maybe_async(self.on_outcome, outcome)
            await call_maybe_async(self.progress, Progress(done, self.total, failed))

    async def _guard(self, task: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A task's error ends the call from `_collect`, unwrapped, instead of as a group."""
        try:
            await task()
        except Exception as exc:
            self.send.send_nowait(exc)

    def _deliver(self, index: int, outcome: RunOutcome) -> None:
        if not self.delivered(index):
            self.outcomes[index] = outcome  # marks it delivered; _collect sets it again, the same
            self.send.send_nowait((index, outcome))

    def delivered(self, index: int) -> bool:
        return self.outcomes[index] is not None

    def _recorded(self, row: Row) -> RunOutcome:
        assert row.outcome is not None
        return decode_outcome(row.kind, row.body, row.outcome, self.client)

    # ------------------------------------------------------------------ each request

    def _start(self, index: int, row: Row, *, mine: bool) -> None:
        """Act on a request as the ledger holds it now."""
        state = row.state
        if state == DONE or (state == UNKNOWN and not self.resubmit_unknown):
            self._deliver(index, self._recorded(row))
        elif state in self.claimable:
            self.queue[index] = None
        elif not mine:
            self.watched.add(index)
        elif state == RUNNING:
            assert row.token is not None
            self._wait(index, self.client.jobs.from_token(row.token))
        else:
            assert state == SUBMITTING
            self.waiter.start_soon(self._guard, lambda: self._resolve(index, row))

    async def _resolve(self, index: int, row: Row) -> None:
        """A request found in `submitting`: the process that sent it died before the answer."""
        with self.waiter.hold():
            if row.kind == SOLUTION:
                assert row.job_id is not None
                job = self._solution_job(index, row.job_id)
                try:
                    await job.status()
                except Exception as exc:
                    if not _not_known(exc):
                        self._deliver(index, RunOutcome(self.requests[index], job, None, exc))
                        return  # still `submitting`: the next run asks again
                else:
                    self._record_job(row.key, job)
                    self._wait(index, job)
                    return
            elif not self.resubmit_unknown:
                error = SubmissionUnknownError(
                    f"flow run {index} (key {row.key!r}) may or may not have been submitted: the process "
                    "stopped between sending it and recording the answer. Check the server, then run "
                    "again with resubmit_unknown=True to submit it again"
                )
                self.new_unknown.append((row.key, encode_outcome(None, None, error)))
                self.wake.set()
                self._deliver(index, RunOutcome(self.requests[index], None, None, error))
                return
            await self._submit(index)

    async def _submit(self, index: int) -> None:
        """POST a claimed request and record its job; a failed POST is its outcome."""
        key, _, _, job_id = self.items[index]
        with self.waiter.hold():
            # Cancelled before sending: the claim is released at the end, the request stays pending.
            await anyio.lowlevel.checkpoint_if_cancelled()
            try:
                # Shielded together: a submission that was sent gets its answer recorded.
                with anyio.CancelScope(shield=True):
                    self.claimed.discard(index)
                    job = await self.submit(index, job_id)
                    self._record_job(key, job)
            except ConflictError as exc:
                if not self._derived(index):
                    self._failed(index, exc)
                    return
                # Our derived id is taken: by our own earlier POST (another worker resubmitted
                # after this one's lease ran out, or the other way round). It is that run.
                assert job_id is not None
                known = self._solution_job(index, job_id)
                self._record_job(key, known)
                self._wait(index, known)
            except Exception as exc:
                self._failed(index, exc)
            else:
                self._wait(index, job)

    def _solution_job(self, index: int, job_id: str) -> Job:
        """The handle of a solution run known by id: polled in batches, like one `run` returned."""
        request = self.requests[index]
        assert isinstance(request, SolutionRunRequest)
        return Job(self.client, job_id, type="flow", solution_id=request.solution_id)

    def _derived(self, index: int) -> bool:
        request = self.requests[index]
        return isinstance(request, SolutionRunRequest) and request.job_id is None

    def _failed(self, index: int, exc: Exception) -> None:
        """A submission the server refused: that request's outcome, recorded `done`."""
        self._record_outcome(self.keys[index], None, None, exc)
        self._deliver(index, RunOutcome(self.requests[index], None, None, exc))

    def _record_job(self, key: str, job: Job) -> None:
        self.new_jobs.append((key, job.to_token()))
        self.wake.set()

    def _record_outcome(
        self, key: str, job: Job | None, status: JobStatus | None, error: BaseException | None
    ) -> None:
        self.new_outcomes.append((key, encode_outcome(job, status, error)))
        self.wake.set()

    def _wait(self, index: int, job: Job) -> None:
        self.jobs[index] = job
        self.waiter.add(job, tag=index)
        if self.timeout is not None:
            self.deadlines.append((anyio.current_time() + self.timeout, index))
            self.new_deadline.set()

    # ------------------------------------------------------------------ tasks

    async def _pump(self) -> None:
        """Waiter outcomes: recorded when the job is final (or halted), delivered once."""
        while (entry := await self.waiter.next_entry()) is not None:
            self._finished(entry)

    def _finished(self, entry: Entry) -> None:
        index = entry.tag
        assert index is not None and entry.job is not None
        self._record_outcome(self.keys[index], entry.job, entry.status, entry.error)
        self._deliver(index, RunOutcome(self.requests[index], entry.job, entry.status, entry.error))

    async def _book(self) -> None:
        """The ledger's rounds: what piled up is recorded, and pending requests claimed while the
        run has room, in one transaction; then the claimed ones are submitted."""
        while True:
            await self.wake.wait()
            # A short pause gathers what ends together into one round.
            await anyio.sleep(_COALESCE)
            self.wake = anyio.Event()
            await self._round(claim=True)

    async def _round(self, *, claim: bool) -> None:
        jobs, outcomes, unknown = self.new_jobs, self.new_outcomes, self.new_unknown
        self.new_jobs, self.new_outcomes, self.new_unknown = [], [], []
        window = (
            [self.keys[index] for index in itertools.islice(self.queue, self.max_running)] if claim else []
        )
        if not (jobs or outcomes or unknown or window):
            return
        # Shielded: records taken from the buffers reach the ledger, and claims are noted, even
        # if the call ends now (a claim never sent is released at the end).
        with anyio.CancelScope(shield=True):
            claimed, others = await self.ledger._record(
                jobs=jobs,
                outcomes=outcomes,
                unknown=unknown,
                claim=(window, self.max_running, self.claimable),
            )
            fresh = [self.index_of[key] for key in claimed]
            for index in fresh:
                self.queue.pop(index, None)
                self.claimed.add(index)
        for index in fresh:
            self.waiter.start_soon(self._guard, lambda index=index: self._submit(index))
        for key, state in others.items():
            index = self.index_of[key]
            if state not in self.claimable and index in self.queue:  # another worker took it
                del self.queue[index]
                self.watched.add(index)
        if window and not any(self.index_of[key] in self.queue for key in window):
            # Every candidate was claimed or taken: the run may have room for more right away.
            self.wake.set()

    async def _ticker(self) -> None:
        while True:
            await anyio.sleep(self.tick)
            for row in await self.ledger._adopt(set(self.keys)):
                # Ours now, whether this worker was watching it or still took it for pending.
                self._take(self.index_of[row.key], row)
            if self.watched:
                watched = sorted(self.watched)
                for row in await self.ledger._rows(keys=[self.keys[index] for index in watched]):
                    index = self.index_of[row.key]
                    if index not in self.watched:
                        continue  # taken over meanwhile
                    if row.state == DONE or (row.state == UNKNOWN and not self.resubmit_unknown):
                        self.watched.discard(index)
                        self._deliver(index, self._recorded(row))
                    elif row.state in self.claimable:  # released, or unknown to submit again
                        self.watched.discard(index)
                        self.queue[index] = None
                    elif row.owner == self.ledger._worker:  # adopted in an earlier tick
                        self._take(index, row)
            if self.queue:  # another worker's requests may have ended: room to claim
                self.wake.set()

    def _take(self, index: int, row: Row) -> None:
        """A request this worker now owns: wait on it, or settle its submission."""
        if self.delivered(index) or index in self.jobs:
            return
        self.watched.discard(index)
        self.queue.pop(index, None)
        self._start(index, row, mine=True)

    async def _timer(self) -> None:
        """Each wait's `timeout`: the outcome now; the job keeps its slot and is polled on."""
        position = 0
        while True:
            if position >= len(self.deadlines):
                self.new_deadline = anyio.Event()
                await self.new_deadline.wait()
                continue
            deadline, index = self.deadlines[position]
            await anyio.sleep_until(deadline)
            position += 1
            if not self.delivered(index):
                job = self.jobs[index]
                error = WaitTimeoutError(f"job {job.job_id} did not finish within {self.timeout} s", None)
                self._deliver(index, RunOutcome(self.requests[index], job, None, error))


async def run_requests(
    client: AsyncInstabase,
    requests: Sequence[Request],
    submit: Submit,
    options: RunOptions,
    *,
    ledger: Ledger | None,
    resubmit_unknown: bool,
) -> list[RunOutcome]:
    """`run_many` of flows or solutions: one `RunOutcome` per (checked) request, in input order;
    with a ledger, durably (see the module), otherwise on the plain bulk-run engine."""
    if not isinstance(resubmit_unknown, bool):
        raise TypeError("resubmit_unknown must be a bool")
    if ledger is None:
        return await run_all(client, requests, lambda index: submit(index, None), options)
    if not isinstance(ledger, Ledger):
        raise TypeError(f"ledger must be a Ledger, not {type(ledger).__name__}")
    if not requests:
        return []
    return await _Worker(client, ledger, requests, submit, options, resubmit_unknown=resubmit_unknown).run()


# --------------------------------------------------------------------------- uploads

Upload = Callable[
    [Sequence[int], Callable[[int, TransferOutcome], Awaitable[None]], Callable[[Progress], Any] | None],
    Awaitable[list[TransferOutcome]],
]


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None  # uploading it will say why, as that file's outcome


async def upload_recorded(
    ledger: Ledger,
    items: Sequence[tuple[Path, str]],
    upload: Upload,
    progress: Callable[[Progress], Any] | None,
) -> list[TransferOutcome]:
    """`files.upload_many` with a ledger: a file recorded as uploaded from the same local path,
    with the same size and modification time, is skipped (its recorded outcome is returned); the
    others are uploaded by `upload(indexes, on_done, progress)`, and each is recorded as it ends."""
    if not isinstance(ledger, Ledger):
        raise TypeError(f"ledger must be a Ledger, not {type(ledger).__name__}")
    outcomes: list[TransferOutcome | None] = [None] * len(items)
    rows = {row.key: row for row in await ledger._rows(keys=[remote for _, remote in items])}
    stats = await anyio.to_thread.run_sync(lambda: [_stat(local) for local, _ in items])
    for index, ((local, remote), now) in enumerate(zip(items, stats, strict=True)):
        row = rows.get(remote)
        if now is None or row is None or row.kind != UPLOAD or row.state != DONE or row.outcome is None:
            continue
        recorded, size, mtime_ns = decode_upload(row.body, row.outcome)
        if (recorded.source, size, mtime_ns) == (os.fspath(local), now.st_size, now.st_mtime_ns):
            outcomes[index] = recorded
    todo = [index for index, outcome in enumerate(outcomes) if outcome is None]
    skipped = len(items) - len(todo)
    skipped_bytes = sum(outcome.bytes for outcome in outcomes if outcome is not None)

    async def record(position: int, outcome: TransferOutcome) -> None:
        index = todo[position]
        before = stats[index]
        if before is not None:  # the file as it was before it was read: a change since re-uploads
            body, text = encode_upload(outcome.source, outcome.target, outcome.bytes, before)
            await ledger._record_files([(outcome.target, body, text)])

    async def report(event: Progress) -> None:
        total = None if event.bytes_total is None else event.bytes_total + skipped_bytes
        await call_maybe_async(
            progress,
            Progress(event.done + skipped, len(items), event.failed, event.bytes_done + skipped_bytes, total),
        )

    for index, outcome in zip(todo, await upload(todo, record, report if progress else None), strict=True):
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]
