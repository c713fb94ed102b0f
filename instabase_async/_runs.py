"""Bulk runs on top of the waiter: submit requests so that at most `max_running` are alive on the
server, wait on each, and hand back one outcome per request.

`run_capped` is the engine: it knows nothing of flows or solutions. A caller gives it a `submit`
coroutine (index -> Job: a POST, or a job resumed from a ledger) and a `deliver` hook (called
in this task, one entry at a time, in completion order). `run_all` is the plain form behind
`flows.run_many` and `solutions.run_many` (without a ledger): input-ordered `RunOutcome`s,
`on_outcome` and `progress` callbacks; `RunOptions` carries what those two take.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import attrs

from ._http import call_maybe_async
from ._jobs import Job
from ._models import PollPolicy, Progress, RunOutcome
from ._validate import filled, positive_int
from ._waiter import STILL_RUNNING, STOPPED_RUNNING, Entry, Hold, Waiter

if TYPE_CHECKING:
    from ._client import AsyncInstabase

__all__ = ["RunOptions", "checked_requests", "run_all", "run_capped"]

# The waiter's pollers for a bulk run: one per running job, up to this many.
_MAX_POLLERS = 32

R = TypeVar("R")


@attrs.frozen
class RunOptions:
    """The options `flows.run_many` and `solutions.run_many` share, checked once: how many run
    at once, how each is polled and for how long, and the callbacks."""

    max_running: int = attrs.field(validator=lambda _, __, value: positive_int("max_running", value))
    poll: PollPolicy | None
    timeout: float | None
    on_outcome: Callable[[RunOutcome], Any] | None
    progress: Callable[[Progress], Any] | None


def checked_requests(requests: Iterable[Any], kind: type[R]) -> list[R]:
    """The requests of a `run_many`, all of them of `kind`, before any is sent."""
    found = list(requests)
    for request in found:
        if not isinstance(request, kind):
            raise TypeError(f"run_many takes {kind.__name__} items, not {type(request).__name__}")
    return found


async def run_capped(
    client: AsyncInstabase,
    indexes: Iterable[int],
    submit: Callable[[int], Awaitable[Job]],
    deliver: Callable[[Entry], Awaitable[None]],
    *,
    max_running: int,
    poll: PollPolicy | None = None,
    timeout: float | None = None,
) -> None:
    """For each index, in order: wait for a free slot, `submit(index)`, then wait on its job.

    At most `max_running` submissions and jobs are alive at once; a slot is freed when a job's
    wait ends (final, halted, its status failing past the retries) or its submission fails. A
    job whose wait times out gets its `WaitTimeoutError` outcome at once but keeps its slot,
    polled at the maximum interval, until the server reports it ended: the cap holds whatever
    the timeout. A failing `submit` is that index's outcome (`entry.job` None, `entry.error` set), not
    an abort. `deliver` gets every index's entry exactly once; an exception it raises ends the run
    (cancelling what is in the air) and propagates."""
    slots = anyio.Semaphore(max_running)
    waiter = Waiter(
        client, max_in_flight=min(max_running, _MAX_POLLERS), poll=poll, timeout=timeout, linger=True
    )

    async def submit_one(index: int, hold: Hold) -> None:
        with hold:
            try:
                job = await submit(index)
            except Exception as exc:
                waiter.add_failure(exc, tag=index)
            else:
                waiter.add(job, tag=index)

    async def feed(hold: Hold) -> None:
        with hold:
            for index in indexes:
                await slots.acquire()
                # Held from here, so iteration cannot end before the submission adds its job.
                waiter.start_soon(submit_one, index, waiter.hold())

    async with waiter:
        # The feeder's own hold: iteration waits until every request has been submitted.
        waiter.start_soon(feed, waiter.hold())
        while (entry := await waiter.next_entry()) is not None:
            if entry.kind != STILL_RUNNING:
                slots.release()
            if entry.kind != STOPPED_RUNNING:
                await deliver(entry)


async def run_all(
    client: AsyncInstabase,
    requests: Sequence[Any],
    submit: Callable[[int], Awaitable[Job]],
    options: RunOptions,
) -> list[RunOutcome]:
    """One `RunOutcome` per request, in input order; `submit(index)` starts `requests[index]`
    (every request already checked by the caller).

    Callbacks run one at a time, in completion order; `Progress.failed` counts every outcome that
    is not `ok` (a halted run included)."""
    total = len(requests)
    outcomes: list[RunOutcome | None] = [None] * total
    if not total:
        return []
    done = failed = 0

    async def deliver(entry: Entry) -> None:
        nonlocal done, failed
        assert entry.tag is not None
        outcome = RunOutcome(requests[entry.tag], entry.job, entry.status, entry.error)
        outcomes[entry.tag] = outcome
        done += 1
        failed += not outcome.ok
        await call_maybe_async(options.on_outcome, outcome)
        await call_maybe_async(options.progress, Progress(done, total, failed))

    await run_capped(
        client,
        range(total),
        submit,
        deliver,
        max_running=options.max_running,
        poll=options.poll,
        timeout=options.timeout,
    )
    return filled(outcomes)
