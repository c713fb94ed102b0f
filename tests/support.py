"""Helpers shared by the fake's own tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from typing import Any

import httpx

from instabase_async import AsyncInstabase, Job, JobState
from instabase_async.testing import FakeInstabase


def connect(fake: FakeInstabase, token: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """A plain httpx client on the fake's ASGI app, with the fake's token unless told otherwise."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app),
        base_url="http://localhost",
        headers={"Authorization": f"Bearer {token or fake.token}"},
        **kwargs,
    )


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    """A zip archive holding `entries` (name -> content; a name ending in `/` is a folder)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


async def wait_each(ib: AsyncInstabase, jobs: list[Job], **waiter_options: Any) -> Counter[str]:
    """Wait on `jobs` with one waiter; how often each job id came out (every outcome must be a
    successful COMPLETE)."""
    seen: Counter[str] = Counter()
    async with ib.jobs.waiter(**waiter_options) as waiter:
        for job in jobs:
            waiter.add(job)
        async for outcome in waiter:
            assert outcome.ok, outcome
            assert outcome.status is not None
            assert outcome.status.state is JobState.COMPLETE
            seen[outcome.job.job_id] += 1
    return seen
