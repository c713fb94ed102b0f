"""Fault soaks against the served fake: thousands of jobs and hundreds of uploads under injected faults.

The bounded soaks run in the normal test run; the larger `@pytest.mark.slow` variants run only
under `nox -s soak` (`pytest -m slow`) or with `INSTABASE_ASYNC_SOAK=1`.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from instabase_async import (
    APIConnectionError,
    AsyncInstabase,
    FlowRunRequest,
    InstabaseError,
    JobFailedError,
    JobState,
    PollPolicy,
    PreconditionFailedError,
    RetryPolicy,
    ServerError,
)
from instabase_async.testing import FakeInstabase, FakeJob, Outcome

FLOW = "me/repo/fs/Instabase Drive/flow/soak.ibflow"
INPUT = "me/repo/fs/Instabase Drive/in"
REMOTE = "me/repo/fs/Instabase Drive/soak"
POLL = PollPolicy(initial=0.05, maximum=0.2)
RETRY = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05, max_retry_after=2)
SOAK = os.environ.get("INSTABASE_ASYNC_SOAK") == "1"

slow = pytest.mark.slow


@pytest.fixture(autouse=True)
def _soak_gate(request: pytest.FixtureRequest) -> None:
    """Slow variants run only when asked for: `-m slow` (nox -s soak) or INSTABASE_ASYNC_SOAK=1."""
    if request.node.get_closest_marker("slow") is None or SOAK:
        return
    if "slow" not in (request.config.getoption("-m") or ""):
        pytest.skip("slow soak: run with `nox -s soak`, `-m slow` or INSTABASE_ASYNC_SOAK=1")


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fake whose jobs end at their second poll; every 7th job fails."""

    def outcome(job: FakeJob) -> Outcome | None:
        return Outcome.error("soak failure") if job.params.get("input_dir", "").endswith("/7") else None

    instance = FakeInstabase(job_polls=1, seed=20240611, outcome_for=outcome)
    yield instance
    instance.close()


def add_status_faults(fake: FakeInstabase, fraction: float) -> None:
    """About `fraction` of status polls fail: 503, 429 + Retry-After 0, dropped, or slow."""
    each = fraction / 4
    fake.faults.add("jobs.status", status=429, retry_after=1, times=2)  # a real 1 s back-off, twice
    fake.faults.add("jobs.status", status=503, fraction=each)
    fake.faults.add("jobs.status", status=429, retry_after=0, fraction=each)
    fake.faults.add("jobs.status", drop=True, fraction=each)
    fake.faults.add("jobs.status", delay=0.05, fraction=each)


async def start_jobs(fake: FakeInstabase, count: int) -> list[str]:
    """Start `count` flow runs in process (fast, no faults) and return their ids; input dirs end in i % 10."""
    ids: list[str] = []
    async with fake.client() as ib:
        for index in range(count):
            job = await ib.flows.run(FLOW, input_dir=f"{INPUT}/{index % 10}")
            ids.append(job.job_id)
    return ids


async def soak_jobs(fake: FakeInstabase, count: int, bound: float) -> None:
    ids = await start_jobs(fake, count)
    add_status_faults(fake, 0.10)
    started = time.monotonic()
    seen: list[str] = []
    outcomes = {}
    with anyio.fail_after(bound):
        async with (
            fake.serve() as url,
            AsyncInstabase(url, fake.token, retry=RETRY, poll=POLL) as ib,
            ib.jobs.waiter(max_in_flight=32, timeout=bound) as waiter,
        ):
            for job_id in ids:
                waiter.add(ib.jobs.from_id(job_id))
            async for outcome in waiter:
                seen.append(outcome.job.job_id)
                outcomes[outcome.job.job_id] = outcome
    elapsed = time.monotonic() - started
    assert elapsed < bound
    duplicates = [job_id for job_id, n in Counter(seen).items() if n > 1]
    assert duplicates == []
    assert sorted(seen) == sorted(ids)  # none lost, none invented
    lost_to_faults = 0
    for job_id, outcome in outcomes.items():
        planned = fake.jobs[job_id]
        if outcome.error is not None and not isinstance(outcome.error, JobFailedError):
            # A status request failing past every retry is that job's outcome, never a crash.
            assert isinstance(outcome.error, InstabaseError), repr(outcome.error)
            lost_to_faults += 1
        elif planned.outcome.kind == "ERROR":
            assert isinstance(outcome.error, JobFailedError)
            assert outcome.status is not None and outcome.status.state is JobState.FAILED
        else:
            assert outcome.ok and outcome.status is not None
            assert outcome.status.state is JobState.COMPLETE
    # Six attempts against ~10% faults: a job lost to faults is a one-in-a-million event.
    assert lost_to_faults <= 2
    statuses = fake.requests.filter("jobs.status")
    assert sum(1 for r in statuses if r.faulted) > count // 20  # the faults really happened


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Both event loops (the soak is sized to run on each within the time bound)."""
    return str(request.param)


@pytest.mark.anyio
@pytest.mark.parametrize(("anyio_backend", "count"), [("asyncio", 2000), ("trio", 500)])
async def test_soak_jobs_waited_under_status_faults(fake: FakeInstabase, count: int) -> None:
    """2,000 jobs (500 on trio, whose transport is slower) waited under ~10% faulty status polls."""
    await soak_jobs(fake, count, bound=40)


@slow
@pytest.mark.anyio
async def test_soak_20000_jobs_waited_under_status_faults(fake: FakeInstabase) -> None:
    """The large variant: 20,000 jobs under the same faults."""
    await soak_jobs(fake, 20_000, bound=400)


# ---------------------------------------------------------------------------------- run_many


async def soak_run_many(fake: FakeInstabase, count: int, max_running: int, bound: float) -> None:
    add_status_faults(fake, 0.10)
    fake.faults.add("flow.run", status=429, retry_after=0, fraction=0.05)  # retried: never reached the run
    fake.faults.add("flow.run", status=503, fraction=0.02)  # not retried: the submission's outcome
    fake.faults.add("flow.run", drop=True, after_processing=True, fraction=0.02)  # created, answer lost
    requests = [FlowRunRequest(FLOW, f"{INPUT}/{i % 10}") for i in range(count)]
    with anyio.fail_after(bound):
        async with (
            fake.serve() as url,
            AsyncInstabase(url, fake.token, retry=RETRY, poll=POLL) as ib,
        ):
            outcomes = await ib.flows.run_many(requests, max_running=max_running, timeout=bound)
    assert len(outcomes) == count
    assert [o.request for o in outcomes] == requests
    submitted = [o for o in outcomes if o.job is not None]
    job_ids = [o.job.job_id for o in submitted if o.job is not None]
    assert len(set(job_ids)) == len(job_ids)
    runs = fake.requests.filter("flow.run", method="POST")
    dropped_after_create = sum(1 for r in runs if r.dropped)
    # Every POST that the fake processed created exactly one job: none was re-sent after it arrived.
    assert len(fake.jobs) == len(submitted) + dropped_after_create
    for outcome in outcomes:
        if outcome.job is None:
            assert isinstance(outcome.error, APIConnectionError | InstabaseError)
    # A run whose answer was lost is unknown to the client (and, polled by nobody, runs on in the
    # fake): only those may exceed the cap.
    assert fake.max_running_jobs <= max_running + dropped_after_create


@pytest.mark.anyio
async def test_soak_run_many_300_flows_under_faults(fake: FakeInstabase) -> None:
    """300 flow runs with faulty submissions and polls: one outcome each, no double run, cap kept."""
    await soak_run_many(fake, 300, max_running=16, bound=40)


@slow
@pytest.mark.anyio
async def test_soak_run_many_3000_flows_under_faults(fake: FakeInstabase) -> None:
    """The large variant of the run_many soak."""
    await soak_run_many(fake, 3000, max_running=32, bound=400)


# ---------------------------------------------------------------------------------- uploads


async def soak_uploads(fake: FakeInstabase, tmp_path: Path, count: int, bound: float) -> None:
    rng = random.Random(count)
    local = tmp_path / "up"
    local.mkdir()
    items: list[tuple[Path, str]] = []
    for index in range(count):
        path = local / f"f{index:04d}.bin"
        path.write_bytes(rng.randbytes(rng.randrange(0, 20_000)))
        items.append((path, f"{REMOTE}/dir {index % 7}/f #{index}.bin"))
    seeded = {remote: f"original {remote}".encode() for _, remote in items[::25]}
    for remote, data in seeded.items():
        fake.write_file(remote, data)
    fake.faults.add("files.put", status=503, fraction=0.03)
    fake.faults.add("files.put", status=429, retry_after=0, fraction=0.03)
    fake.faults.add("files.put", drop=True, fraction=0.02)
    fake.faults.add("files.put", delay=0.05, fraction=0.02)
    with anyio.fail_after(bound):
        async with (
            fake.serve() as url,
            AsyncInstabase(url, fake.token, retry=RETRY) as ib,
        ):
            outcomes = await ib.files.upload_many(items, concurrency=16, overwrite=False)
    assert len(outcomes) == count
    failed = 0
    for (path, remote), outcome in zip(items, outcomes, strict=True):
        assert (outcome.source, outcome.target) == (os.fspath(path), remote)
        if remote in seeded:
            # overwrite=False never clobbers: the pre-seeded file is untouched and the outcome says
            # why (or is the fault that stopped the one attempt a conditional create gets).
            assert isinstance(outcome.error, PreconditionFailedError | ServerError | APIConnectionError)
            assert fake.read_file(remote) == seeded[remote]
        elif outcome.ok:
            assert fake.read_file(remote) == path.read_bytes()
            assert outcome.bytes == path.stat().st_size
        else:
            # Reported failed, never silently skipped.
            assert isinstance(outcome.error, InstabaseError), repr(outcome.error)
            failed += 1
    puts = fake.requests.filter("files.put", method="PUT")
    faulted = sum(1 for r in puts if r.faulted)
    # A conditional create (overwrite=False) that may have reached the server is not sent again
    # (SPEC "Edges that must hold"): only such a fault fails a file, a 429 is retried.
    assert failed <= faulted
    assert faulted > count // 20


@pytest.mark.anyio
async def test_soak_500_uploads_under_faults(fake: FakeInstabase, tmp_path: Path) -> None:
    """500 uploads with overwrite=False under faults: stored byte-exact or reported, seeded files kept."""
    await soak_uploads(fake, tmp_path, 500, bound=40)


@slow
@pytest.mark.anyio
async def test_soak_5000_uploads_under_faults(fake: FakeInstabase, tmp_path: Path) -> None:
    """The large variant of the upload soak."""
    await soak_uploads(fake, tmp_path, 5000, bound=400)
