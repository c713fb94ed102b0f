"""Adaptive polling through the public API, against the fake's progress shapes."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest
from support import wait_each

from instabase_async import JobState, PollPolicy
from instabase_async.testing import FakeInstabase

pytestmark = pytest.mark.anyio

FLOW = "me/repo/fs/d/f.ibflow"
INPUT = "me/repo/fs/d/in"


def policy(adaptive: bool) -> PollPolicy:
    return PollPolicy(initial=0.05, maximum=0.6, multiplier=1.5, jitter=0.0, adaptive=adaptive)


async def polls_to_wait(progress: str, adaptive: bool, *, watch: bool = False) -> int:
    """Status requests one Job.wait (or watch) sent for a 0.6 s flow run reporting `progress`."""
    fake = FakeInstabase(job_seconds=0.6, progress=progress, seed=1)
    fake.write_file(f"{INPUT}/a.pdf", b"%PDF")
    async with fake.client(poll=policy(adaptive)) as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
        with anyio.fail_after(20):
            if watch:
                statuses = [status async for status in job.watch()]
                assert statuses[-1].state is JobState.COMPLETE
            else:
                assert (await job.wait()).state is JobState.COMPLETE
    return fake.requests.count("jobs.status")


async def side_by_side(progress: str, *, watch: bool = False) -> tuple[int, int]:
    """(adaptive, plain): the polls of the same wait with and without adaptive, run at once."""
    counts: dict[bool, int] = {}

    async def one(adaptive: bool) -> None:
        counts[adaptive] = await polls_to_wait(progress, adaptive, watch=watch)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, True)
        tg.start_soon(one, False)
    return counts[True], counts[False]


async def test_linear_progress_needs_fewer_polls_than_the_plain_schedule() -> None:
    """With steady progress, wait aims at the job's end: fewer polls than with adaptive=False."""
    adaptive, plain = await side_by_side("linear")
    assert adaptive < plain
    assert adaptive <= 4


async def test_watch_is_adaptive_too() -> None:
    """job.watch() paces its polls the same way."""
    adaptive, plain = await side_by_side("linear", watch=True)
    assert adaptive < plain


@pytest.mark.parametrize("shape", ["none", "steps", "late"])
async def test_other_shapes_cost_at_most_a_little_more(shape: str) -> None:
    """No progress keeps the plain schedule (within one poll of timing noise); steps and a late
    jump never cost more than two polls over it."""
    adaptive, plain = await side_by_side(shape)
    assert adaptive <= plain + (1 if shape == "none" else 2)


async def waiter_polls(adaptive: bool) -> int:
    """Status requests a waiter sent for 20 flow runs of 0.6 s with linear progress; each run's
    outcome comes out exactly once."""
    fake = FakeInstabase(job_seconds=0.6, progress="linear", seed=3)
    fake.write_file(f"{INPUT}/a.pdf", b"%PDF")
    async with fake.client() as ib:
        jobs = [await ib.flows.run(FLOW, input_dir=INPUT) for _ in range(20)]
        with anyio.fail_after(20):
            seen = await wait_each(ib, jobs, poll=policy(adaptive))
    assert seen == Counter(job.job_id for job in jobs)
    return fake.requests.count("jobs.status")


async def test_waiter_with_linear_progress_sends_fewer_polls_and_reports_each_job_once() -> None:
    """The waiter paces each job like Job.wait: fewer status requests than adaptive=False, every
    job reported exactly once."""
    counts: dict[bool, int] = {}

    async def one(adaptive: bool) -> None:
        counts[adaptive] = await waiter_polls(adaptive)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, True)
        tg.start_soon(one, False)
    assert counts[True] < counts[False]
