"""Retry safety: a POST or PATCH that may have reached the server is never sent twice.

Proved against the fake with `after_processing=True` faults (the run is created, then the answer
is lost), in process and served on a socket, over httpx's transport and over aiohttp's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from instabase_async import (
    APIConnectionError,
    AsyncInstabase,
    RetryPolicy,
    ServerError,
)
from instabase_async.testing import FakeInstabase

FLOW = "me/repo/fs/Instabase Drive/flow/a.ibflow"
INPUT = "me/repo/fs/Instabase Drive/in"
DRIVE = "me/repo/fs/Instabase Drive"
RETRY = RetryPolicy(max_attempts=5, initial_backoff=0.0, max_backoff=0.0)
HAS_AIOHTTP = (
    importlib.util.find_spec("httpx_aiohttp") is not None and importlib.util.find_spec("aiohttp") is not None
)

Call = Callable[[AsyncInstabase], Awaitable[object]]


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fake with a deployed solution and an HTTP endpoint to act on."""
    instance = FakeInstabase(job_polls=1, seed=7)
    instance.add_solution(name="Invoices", version="1.0.0")
    instance.add_endpoint(
        "ep", path="ep", handler_script_path=f"{DRIVE}/h.py", script="def handler(r): return 'x'"
    )
    yield instance
    instance.close()


@asynccontextmanager
async def connect(fake: FakeInstabase, where: str) -> AsyncIterator[AsyncInstabase]:
    """A client on the fake: "process" (ASGI transport) or served with the default transport."""
    if where == "process":
        async with fake.client(retry=RETRY) as ib:
            yield ib
        return
    async with fake.serve() as url, AsyncInstabase(url, fake.token, retry=RETRY) as ib:
        yield ib


def solution_id(fake: FakeInstabase) -> str:
    return next(iter(fake.solutions))


# Each: (route, method, the call, whether it creates a job).
CALLS: list[tuple[str, str, Callable[[FakeInstabase], Call], bool]] = [
    ("flow.run", "POST", lambda f: lambda ib: ib.flows.run(FLOW, input_dir=INPUT), True),
    ("flow.run_step", "POST", lambda f: lambda ib: ib.flows.run_step(FLOW, 0), True),
    (
        "flow.run_step",
        "POST",
        lambda f: lambda ib: ib.flows.process_files(input_folder=INPUT, output_folder=f"{DRIVE}/out"),
        True,
    ),
    (
        "flow.run_metaflow",
        "POST",
        lambda f: (
            lambda ib: ib.flows.run_metaflow(
                input_dir=INPUT,
                flow_root_dir=f"{DRIVE}/flows",
                classifier_file_path=f"{DRIVE}/c.ibclassifier",
            )
        ),
        True,
    ),
    ("solutions.run", "POST", lambda f: lambda ib: ib.solutions.run(solution_id(f), input_dir=INPUT), True),
    (
        "solutions.run_by_name",
        "POST",
        lambda f: lambda ib: ib.solutions.run_by_name("Invoices", input_dir=INPUT),
        True,
    ),
    ("solutions.deploy", "POST", lambda f: lambda ib: ib.solutions.deploy(f"{DRIVE}/s.ibsolution"), True),
    ("files.mkdir", "POST", lambda f: lambda ib: ib.files.mkdir(f"{DRIVE}/new folder"), False),
    ("endpoints.update", "PATCH", lambda f: lambda ib: ib.endpoints.update("ep", enabled=False), False),
    (
        "solutions.update",
        "PATCH",
        lambda f: lambda ib: ib.solutions.update(solution_id(f), visibility="PRIVATE"),
        False,
    ),
]
CALL_IDS = [f"{route}-{i}" for i, (route, *_rest) in enumerate(CALLS)]


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["process", "served"])
async def test_flow_run_dropped_after_processing_is_not_resent(fake: FakeInstabase, where: str) -> None:
    """flows.run whose answer is lost raises APIConnectionError; the fake saw one request, made one job."""
    fake.faults.add("flow.run", drop=True, after_processing=True, times=1)
    async with connect(fake, where) as ib:
        with pytest.raises(APIConnectionError):
            await ib.flows.run(FLOW, input_dir=INPUT)
    assert len(fake.jobs) == 1
    assert len(fake.requests.filter("flow.run")) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_flow_run_dropped_after_processing_on_each_transport(
    fake: FakeInstabase, transport: str, anyio_backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same over a socket with httpx's own transport and with the optional aiohttp one."""
    if transport == "aiohttp":
        if not HAS_AIOHTTP:
            pytest.skip("httpx_aiohttp is not installed")
        if anyio_backend != "asyncio":
            pytest.skip("the aiohttp transport runs on asyncio only")
        monkeypatch.delenv("INSTABASE_ASYNC_TRANSPORT", raising=False)
    else:
        monkeypatch.setenv("INSTABASE_ASYNC_TRANSPORT", "httpx")
    from instabase_async._transport import fast_transport_available

    assert fast_transport_available() == (transport == "aiohttp")
    async with fake.serve() as url, AsyncInstabase(url, fake.token, retry=RETRY) as ib:
        await ib.flows.run(FLOW, input_dir=INPUT)  # a warm keep-alive connection first
        fake.faults.add("flow.run", drop=True, after_processing=True, times=1)
        with pytest.raises(APIConnectionError) as info:
            await ib.flows.run(FLOW, input_dir=INPUT)
        job = await ib.flows.run(FLOW, input_dir=INPUT)  # the client still works afterwards
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert len(fake.jobs) == 3
    assert len(fake.requests.filter("flow.run")) == 3
    assert job.job_id in fake.jobs


@pytest.mark.anyio
@pytest.mark.parametrize(("route", "method", "make", "creates_job"), CALLS, ids=CALL_IDS)
async def test_every_post_and_patch_dropped_after_processing_is_sent_once(
    fake: FakeInstabase, route: str, method: str, make: Callable[[FakeInstabase], Call], creates_job: bool
) -> None:
    """Every POST/PATCH call: a drop after the server acted is APIConnectionError, one request only."""
    fake.faults.add(route, method=method, drop=True, after_processing=True, times=1)
    async with fake.client(retry=RETRY) as ib:
        with pytest.raises(APIConnectionError):
            await make(fake)(ib)
    assert len(fake.requests.filter(route, method=method)) == 1
    if creates_job:
        assert len(fake.jobs) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("route", "method", "make", "creates_job"), CALLS, ids=CALL_IDS)
async def test_every_post_and_patch_answered_503_after_processing_is_sent_once(
    fake: FakeInstabase, route: str, method: str, make: Callable[[FakeInstabase], Call], creates_job: bool
) -> None:
    """A 5xx on a POST/PATCH is not retried: ServerError, one request, at most one job."""
    fake.faults.add(route, method=method, status=503, after_processing=True, times=1)
    async with fake.client(retry=RETRY) as ib:
        with pytest.raises(ServerError):
            await make(fake)(ib)
    assert len(fake.requests.filter(route, method=method)) == 1
    if creates_job:
        assert len(fake.jobs) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["process", "served"])
async def test_post_rate_limited_before_processing_is_retried_once_done(
    fake: FakeInstabase, where: str
) -> None:
    """A 429 means the run was not made: the POST is retried and exactly one job results."""
    fake.faults.add("flow.run", status=429, retry_after=0, times=2)
    async with connect(fake, where) as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
    assert list(fake.jobs) == [job.job_id]
    assert [r.status for r in fake.requests.filter("flow.run")] == [429, 429, 200]


@pytest.mark.anyio
async def test_post_that_never_left_is_retried() -> None:
    """A connect error (the request never left) is retried, even for a POST: one run is made."""
    fake = FakeInstabase(job_polls=1)
    inner = httpx.ASGITransport(app=fake.app)
    failures = [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow connect")]

    class Flaky(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if failures:
                raise failures.pop(0)
            return await inner.handle_async_request(request)

    async with AsyncInstabase("http://localhost", fake.token, transport=Flaky(), retry=RETRY) as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
    assert list(fake.jobs) == [job.job_id]
    assert len(fake.requests.filter("flow.run")) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["process", "served"])
async def test_put_dropped_is_retried_and_stored_once(fake: FakeInstabase, where: str) -> None:
    """PUT is idempotent: a dropped upload is re-sent from the start and stored byte-exact."""
    data = bytes(range(256)) * 4096  # 1 MiB: more than one chunk
    fake.faults.add("files.put", drop=True, times=1)
    fake.faults.add("files.put", status=503, after_processing=True, times=1)
    async with connect(fake, where) as ib:
        await ib.files.write(f"{DRIVE}/big.bin", data)
    assert fake.read_file(f"{DRIVE}/big.bin") == data
    statuses = [r.status for r in fake.requests.filter("files.put")]
    assert statuses[:2] == [None, 503]
    assert len(statuses) == 3 and statuses[2] in (200, 201, 204)


@pytest.mark.anyio
async def test_one_shot_stream_body_is_not_resent(fake: FakeInstabase) -> None:
    """An async-iterable upload cannot be replayed: a drop after it was read is an error, one request."""
    fake.faults.add("files.put", drop=True, times=1)

    async def body() -> AsyncIterator[bytes]:
        yield b"part one, "
        yield b"part two"

    async with fake.client(retry=RETRY) as ib:
        with pytest.raises(APIConnectionError):
            await ib.files.write(f"{DRIVE}/once.txt", body())
    assert len(fake.requests.filter("files.put")) == 1
    assert not fake.exists(f"{DRIVE}/once.txt")
