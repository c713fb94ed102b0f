"""Callbacks (`on_status`, `on_outcome`, `progress`) may be coroutine functions: the bulk file
transfers and `solutions.run_many` await them like the flow runs do."""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from instabase_async import PollPolicy, Progress, RunOutcome, SolutionRunRequest
from instabase_async.testing import FakeInstabase

DRIVE = "me/repo/fs/Instabase Drive"


@pytest.mark.anyio
async def test_transfers_await_an_async_progress_callback(anyio_backend: str, tmp_path: Path) -> None:
    """`upload_dir` and `download_many` await a coroutine `progress`, ending at every file done."""
    (tmp_path / "src" / "a").mkdir(parents=True)
    (tmp_path / "src" / "a" / "x.txt").write_bytes(b"hello")
    (tmp_path / "src" / "y.txt").write_bytes(b"yo")
    events: list[Progress] = []

    async def progress(event: Progress) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(event)

    fake = FakeInstabase()
    with anyio.fail_after(20):
        async with fake.client() as ib:
            uploaded = await ib.files.upload_dir(tmp_path / "src", f"{DRIVE}/up", progress=progress)
            assert [o.ok for o in uploaded] == [True, True]
            assert (events[-1].done, events[-1].total, events[-1].bytes_done) == (2, 2, 7)
            events.clear()
            items = [(f"{DRIVE}/up/a/x.txt", tmp_path / "dl" / "x.txt")]
            (downloaded,) = await ib.files.download_many(items, progress=progress)
    assert downloaded.ok and (tmp_path / "dl" / "x.txt").read_bytes() == b"hello"
    assert (events[-1].done, events[-1].total, events[-1].bytes_done) == (1, 1, 5)


@pytest.mark.anyio
async def test_solutions_run_many_awaits_async_callbacks(anyio_backend: str) -> None:
    """`solutions.run_many` awaits a coroutine `on_outcome` once per request and a coroutine `progress`."""
    fake = FakeInstabase(job_polls=0)
    solution_id = fake.add_solution(name="app", version="1.0")
    requests = [SolutionRunRequest(solution_id, f"{DRIVE}/in{i}") for i in range(3)]
    outcomes_seen: list[RunOutcome] = []
    events: list[Progress] = []

    async def on_outcome(outcome: RunOutcome) -> None:
        await anyio.lowlevel.checkpoint()
        outcomes_seen.append(outcome)

    async def progress(event: Progress) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(event)

    with anyio.fail_after(20):
        async with fake.client(poll=PollPolicy(initial=0)) as ib:
            outcomes = await ib.solutions.run_many(requests, on_outcome=on_outcome, progress=progress)
    assert all(o.ok for o in outcomes)
    assert sorted(o.request.input_dir for o in outcomes_seen) == [r.input_dir for r in requests]
    assert (events[-1].done, events[-1].total, events[-1].failed) == (3, 3, 0)
