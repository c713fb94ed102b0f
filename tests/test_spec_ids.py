"""Job ids, wherever they travel (a URL path, a query, a JSON body), are one path segment: an id
that is empty, `.`, `..`, or holds `/` or a NUL is a `ValueError` before anything is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest

from instabase_async import AsyncInstabase

DRIVE = "me/repo/fs/Instabase Drive"
BAD_IDS = ["", ".", "..", "a/b", "a\x00b"]


def recording_client(sent: list[httpx.Request]) -> AsyncInstabase:
    """A client whose requests are recorded and answered with an empty OK."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"status": "OK"})

    return AsyncInstabase("https://ib.test", "t", transport=httpx.MockTransport(handler))


CALLS: list[Callable[[AsyncInstabase, str], Awaitable[Any]]] = [
    lambda ib, job_id: ib.jobs.status(job_id),
    lambda ib, job_id: ib.jobs.status(job_id, type="async"),
    lambda ib, job_id: ib.flows.restart(job_id),
    lambda ib, job_id: ib.solutions.run("sol-1", input_dir=DRIVE, job_id=job_id),
    lambda ib, job_id: ib.solutions.run_by_name("app", input_dir=DRIVE, job_id=job_id),
]


@pytest.mark.anyio
@pytest.mark.parametrize("job_id", BAD_IDS)
@pytest.mark.parametrize("call", CALLS)
async def test_a_job_id_that_is_not_one_segment_is_refused_before_sending(
    anyio_backend: str, call: Callable[[AsyncInstabase, str], Awaitable[Any]], job_id: str
) -> None:
    """status, restart and a solution run's caller-chosen job_id refuse a bad id; nothing is sent."""
    sent: list[httpx.Request] = []
    async with recording_client(sent) as ib:
        with anyio.fail_after(10), pytest.raises(ValueError, match="job_id"):
            await call(ib, job_id)
    assert sent == []


@pytest.mark.parametrize("job_id", BAD_IDS)
@pytest.mark.parametrize("job_type", ["flow", "async", None, "file"])
def test_from_id_refuses_an_id_that_is_not_one_segment(job_id: str, job_type: str | None) -> None:
    """`jobs.from_id` refuses a bad id whatever the job type (a v1 id too, though it goes in the query)."""
    ib = AsyncInstabase("https://ib.test", "t")
    with pytest.raises(ValueError, match="job_id"):
        ib.jobs.from_id(job_id, type=job_type)


@pytest.mark.anyio
async def test_ids_that_are_one_segment_are_sent_as_they_are(anyio_backend: str) -> None:
    """A usual id (a UUID, or one with dots and dashes) is accepted and sent unchanged."""
    sent: list[httpx.Request] = []
    async with recording_client(sent) as ib:
        with anyio.fail_after(10):
            await ib.jobs.status("894a5fbc-7d8a-4374-aff5-d2481587a689")
            await ib.jobs.status("v1.2_run-3", type="async")
    assert [r.url.params["job_id"] for r in sent] == ["894a5fbc-7d8a-4374-aff5-d2481587a689", "v1.2_run-3"]
    assert ib.jobs.from_id("...", type="flow").job_id == "..."
