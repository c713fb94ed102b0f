"""Cancellation at random points leaves nothing behind: no task, no request, no busy connection,
no partial download.

Each operation runs against the served fake under `anyio.move_on_after(delay)` for a few delays,
over httpx's own transport (whose pool the test can inspect). Afterwards: the pool holds no
connection in use and no queued request, the fake's request log stops growing once the client
is closed, (on asyncio) no task outlives the call, and no partial or `*.part` file is left.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from instabase_async import (
    AsyncInstabase,
    FlowRunRequest,
    PollPolicy,
    RetryPolicy,
)
from instabase_async.testing import FakeInstabase

DELAYS = [0.0, 0.01, 0.05, 0.2]
DRIVE = "me/repo/fs/Instabase Drive"
FLOW = f"{DRIVE}/flow/a.ibflow"
POLL = PollPolicy(initial=0.01, maximum=0.02)
RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
FILES = {f"{DRIVE}/data/file {i}.bin": random.Random(i).randbytes(1_500_000 + i) for i in range(8)}
BIG = f"{DRIVE}/data/big.bin"
BIG_DATA = random.Random(99).randbytes(24 << 20)
HAS_AIOHTTP = importlib.util.find_spec("httpx_aiohttp") is not None


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeInstabase, str]]:
    """One fake served for the whole module (from its own thread and event loop), to save a
    server start and stop per test; each test resets its faults, log and job length."""
    instance = FakeInstabase(job_polls=100, seed=5)
    for path, data in FILES.items():
        instance.write_file(path, data)
    instance.write_file(BIG, BIG_DATA)
    with instance.serve_in_background() as url:
        yield instance, url
    instance.close()


@pytest.fixture
def fake(server: tuple[FakeInstabase, str]) -> FakeInstabase:
    """The served fake, reset: jobs run for 100 polls (longer than any delay here), no faults."""
    instance, _ = server
    instance.faults.clear()
    instance.requests.clear()
    instance.job_polls = 100
    return instance


@pytest.fixture
def url(server: tuple[FakeInstabase, str]) -> str:
    """The served fake's base URL."""
    return server[1]


@pytest.fixture(
    params=[("asyncio", "httpx"), ("asyncio", "default"), ("trio", "httpx")],
    ids=["asyncio-httpx", "asyncio-default", "trio-httpx"],
)
def loop_and_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """httpx's own transport on both loops, and asyncio's default one (aiohttp when installed)."""
    backend, transport = request.param
    if transport == "httpx":
        monkeypatch.setenv("INSTABASE_ASYNC_TRANSPORT", "httpx")
    elif not HAS_AIOHTTP:
        pytest.skip("without the aiohttp extra the default transport is httpx's own: covered")
    else:
        monkeypatch.delenv("INSTABASE_ASYNC_TRANSPORT", raising=False)
    return backend, transport


@pytest.fixture
def anyio_backend(loop_and_transport: tuple[str, str]) -> str:
    """The event loop of this run."""
    return loop_and_transport[0]


@pytest.fixture
def transport(loop_and_transport: tuple[str, str]) -> str:
    """The transport of this run: "httpx" or "default"."""
    return loop_and_transport[1]


def tasks_now(anyio_backend: str) -> set[Any]:
    return set(asyncio.all_tasks()) if anyio_backend == "asyncio" else set()


def busy_connections(ib: AsyncInstabase) -> int:
    """Connections of httpx's pool that are in use (not idle, not closed), plus queued requests."""
    transport = ib._http.client._transport
    pool = getattr(transport, "_pool", None)
    if pool is None:  # the aiohttp transport: count what its connector holds
        session = getattr(transport, "client", None)
        connector = getattr(session, "connector", None)
        acquired = getattr(connector, "_acquired", ())
        return len(acquired)
    connections = pool.connections
    return sum(1 for c in connections if not c.is_idle() and not c.is_closed()) + len(pool._requests)


@asynccontextmanager
async def served(fake: FakeInstabase, url: str, anyio_backend: str) -> AsyncIterator[AsyncInstabase]:
    """A client on the served fake; afterwards, everything that must hold after a cancellation is checked."""
    before = tasks_now(anyio_backend)
    ib = AsyncInstabase(url, fake.token, retry=RETRY, poll=POLL, max_connections=8)
    async with ib:
        yield ib
        # Give closed streams a moment to hand their connection back.
        for _ in range(50):
            if busy_connections(ib) == 0:
                break
            await anyio.sleep(0.01)
        assert busy_connections(ib) == 0
    await anyio.sleep(0.08)  # whatever the server was still doing for an abandoned request ends
    seen = len(fake.requests)
    await anyio.sleep(0.08)  # a poller left behind would poll several times in this window
    assert len(fake.requests) == seen  # nothing is polling or sending any more
    if anyio_backend == "asyncio":
        await asyncio.sleep(0)
        leftover = {t for t in tasks_now(anyio_backend) - before if not t.done()}
        assert leftover == set()


async def cancelled_after(delay: float, work: Callable[[], Awaitable[Any]]) -> bool:
    """Run `work` under move_on_after(delay); True if it was cut short."""
    with anyio.move_on_after(delay) as scope:
        await work()
    return scope.cancelled_caught


def no_partial_files(folder: Path, expected: dict[str, bytes]) -> None:
    """Every file in `folder` is complete; no temp file is left."""
    if not folder.exists():
        return
    for path in folder.rglob("*"):
        assert not path.name.endswith(".part"), path
        assert not path.name.startswith("."), path
        if path.is_file():
            assert path.read_bytes() == expected[path.name], path


# ---------------------------------------------------------------------------------- jobs


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_job_wait(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float
) -> None:
    """Cancelling job.wait stops its polling at once and leaves the job alone."""
    async with served(fake, url, anyio_backend) as ib:
        job = await ib.flows.run(FLOW, input_dir=f"{DRIVE}/in")
        await cancelled_after(delay, job.wait)
        status = await job.status()  # the client is still fine, the job still runs
    assert not status.is_final
    assert fake.get_job(job.job_id).status == "RUNNING"


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_waiter(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float
) -> None:
    """Cancelling a waiter with 200 jobs in it cancels every poller and request."""
    fake.faults.add("jobs.status", delay=0.02, fraction=0.3)
    async with served(fake, url, anyio_backend) as ib:
        jobs = [ib.jobs.from_id(f"unknown-{i}") for i in range(180)]
        jobs += [await ib.flows.run(FLOW, input_dir=f"{DRIVE}/in") for _ in range(20)]

        async def wait() -> None:
            async with ib.jobs.waiter(max_in_flight=16) as waiter:
                for job in jobs:
                    waiter.add(job)
                async for _ in waiter:
                    pass

        assert await cancelled_after(delay, wait)


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_wait_all_with_fast_jobs(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float
) -> None:
    """wait_all on jobs that end quickly, cancelled anywhere from before the start to near the end."""
    if transport != "httpx":
        pytest.skip("one transport is enough here")
    fake.job_polls = 1
    async with served(fake, url, anyio_backend) as ib:
        jobs = [await ib.flows.run(FLOW, input_dir=f"{DRIVE}/in") for _ in range(40)]
        outcomes: list[Any] = []

        async def wait() -> None:
            outcomes.extend(await ib.jobs.wait_all(jobs, max_in_flight=8))

        if not await cancelled_after(delay, wait):
            assert len(outcomes) == 40


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_run_many(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float
) -> None:
    """Cancelling run_many stops submitting and polling: the cap held, and the server hears nothing more."""
    fake.faults.add("flow.run", delay=0.01)
    requests = [FlowRunRequest(FLOW, f"{DRIVE}/in/{i}") for i in range(40)]
    before = len(fake.jobs)
    async with served(fake, url, anyio_backend) as ib:
        assert await cancelled_after(delay, lambda: ib.flows.run_many(requests, max_running=4))
    # Counted once served() saw the server's log stop growing: a submission that was already on
    # the wire when the call was cancelled may land a moment later, and counts here.
    assert len(fake.jobs) - before <= 4  # the cap held: nothing was submitted past it


@pytest.mark.anyio
async def test_cancelled_run_many_as_a_submission_answers(anyio_backend: str) -> None:
    """A submission answered in the same step as the cancellation: only the cancellation surfaces."""
    scope = anyio.CancelScope()

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/run_flow_async"):
            scope.cancel()
            # The answer is already on its way: the transport finishes without seeing the cancellation.
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return httpx.Response(200, json={"status": "OK", "data": {"job_id": "j"}})
        return httpx.Response(200, json={"status": "OK", "state": "PENDING"})

    requests = [FlowRunRequest(FLOW, f"{DRIVE}/in/{i}") for i in range(3)]
    # The order in which the woken tasks run varies on trio: a few rounds meet the bad order.
    for _ in range(8):
        scope = anyio.CancelScope()
        with anyio.fail_after(5):
            async with AsyncInstabase("https://ib.test", "tok", transport=httpx.MockTransport(handler)) as ib:
                with scope:
                    await ib.flows.run_many(requests, max_running=2)
        assert scope.cancelled_caught


# ---------------------------------------------------------------------------------- transfers


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_download_many(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float, tmp_path: Path
) -> None:
    """Cancelling download_many leaves only complete files and no `*.part` temp file."""
    fake.faults.add("files.get", delay=0.02, fraction=0.5)
    target = tmp_path / "dl"
    items = [(path, target / path.rsplit("/", 1)[1]) for path in FILES]
    expected = {path.rsplit("/", 1)[1]: data for path, data in FILES.items()}
    async with served(fake, url, anyio_backend) as ib:
        await cancelled_after(delay, lambda: ib.files.download_many(items, concurrency=3))
    no_partial_files(target, expected)


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_download(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float, tmp_path: Path
) -> None:
    """Cancelling one large download leaves nothing at its target, or the whole file."""
    target = tmp_path / "dl" / "big.bin"
    async with served(fake, url, anyio_backend) as ib:
        await cancelled_after(delay, lambda: ib.files.download(BIG, target))
    no_partial_files(target.parent, {"big.bin": BIG_DATA})


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_stream(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float
) -> None:
    """Cancelling a caller reading files.stream closes the response and frees its connection."""
    if transport != "httpx":
        pytest.skip("one transport is enough here")
    async with served(fake, url, anyio_backend) as ib:

        async def read() -> None:
            async with ib.files.stream(BIG, chunk_size=65536) as chunks:
                async for _ in chunks:
                    await anyio.lowlevel.checkpoint()

        await cancelled_after(delay, read)


@pytest.mark.anyio
@pytest.mark.parametrize("delay", DELAYS)
async def test_cancelled_upload_many(
    fake: FakeInstabase, url: str, anyio_backend: str, transport: str, delay: float, tmp_path: Path
) -> None:
    """Cancelling upload_many: every file on the server is complete or absent; nothing keeps sending."""
    fake.faults.add("files.put", delay=0.02, fraction=0.5)
    local = tmp_path / "up"
    local.mkdir()
    items = []
    for index, data in enumerate(FILES.values()):
        path = local / f"u{index}.bin"
        path.write_bytes(data)
        items.append((path, f"{DRIVE}/up/u{index}.bin"))
    async with served(fake, url, anyio_backend) as ib:
        await cancelled_after(delay, lambda: ib.files.upload_many(items, concurrency=3))
    for path, remote in items:
        if fake.exists(remote):  # (a file left by an earlier test is complete as well)
            assert fake.read_file(remote) == path.read_bytes()
