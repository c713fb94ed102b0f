"""The promises of SPEC "Edges that must hold", each tried as a careful user or a hostile server
would: no hangs, no hidden re-sends, no raw third-party exceptions, caps that hold.

Tests on the served fake use the default transport (aiohttp on asyncio when the extra is
installed, as in the second CI run; httpx's own otherwise and on trio); the others answer
through an `httpx.MockTransport`. Every test is bounded with `anyio.fail_after`.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from instabase_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncInstabase,
    FlowRunRequest,
    JobFailedError,
    JobState,
    PollPolicy,
    Progress,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    RunSettings,
    ServerError,
    WaitTimeoutError,
)
from instabase_async.testing import FakeInstabase

BASE = "https://ib.test"
TOKEN = "tok-SECRET-5d1f0c9e7a3b-edges"
DRIVE = "me/repo/fs/Instabase Drive"
FLOW = f"{DRIVE}/flow/a.ibflow"
BIG = f"{DRIVE}/edges/big.bin"
BIG_DATA = os.urandom(3 << 20)
NO_WAIT = RetryPolicy(max_attempts=4, initial_backoff=0.0, max_backoff=0.0)
FAST = PollPolicy(initial=0.01, maximum=0.05, jitter=0.0, adaptive=False)

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeInstabase, str]]:
    """One fake served for the module, from its own thread; tests reset it."""
    instance = FakeInstabase(job_polls=1, seed=3)
    with instance.serve_in_background() as url:
        yield instance, url
    instance.close()


@pytest.fixture
def fake(server: tuple[FakeInstabase, str]) -> FakeInstabase:
    """The served fake without faults or logged requests, holding one 3 MiB file."""
    instance, _ = server
    instance.faults.clear()
    instance.requests.clear()
    instance.write_file(BIG, BIG_DATA)
    return instance


@pytest.fixture
def url(server: tuple[FakeInstabase, str]) -> str:
    """The served fake's base URL."""
    return server[1]


async def logged(fake: FakeInstabase, route: str) -> int:
    """How many requests of `route` the served fake logged, once its log has settled (it logs
    from its own thread, a moment after answering)."""
    seen = -1
    for _ in range(100):
        now = len(fake.requests.filter(route))
        if now == seen:
            return now
        seen = now
        await anyio.sleep(0.05)
    return seen


def mock(handler: Handler, **kwargs: Any) -> AsyncInstabase:
    """A client whose every request is answered by `handler`."""
    return AsyncInstabase(BASE, TOKEN, transport=httpx.MockTransport(handler), **kwargs)


def v1_status(state: str, results: list[Any] | None = None, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "OK", "state": state, "results": results or [], **extra})


# ------------------------------------------------------------------------ 1. caps that hold


@pytest.mark.anyio
async def test_run_many_timed_out_run_keeps_its_slot(anyio_backend: str) -> None:
    """A run whose wait times out gets its outcome at once but keeps its slot until it ends."""
    length = 1.0
    started: dict[str, float] = {}
    most = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal most
        now = time.monotonic()
        if request.url.path.endswith("/run_flow_async"):
            alive = sum(1 for at in started.values() if now < at + length)
            most = max(most, alive + 1)
            job_id = f"j{len(started)}"
            started[job_id] = now
            return httpx.Response(200, json={"status": "OK", "data": {"job_id": job_id}})
        ended = now >= started[request.url.params["job_id"]] + length
        return v1_status("DONE", [{"status": "OK"}]) if ended else v1_status("PENDING")

    seen: list[tuple[Any, float]] = []
    requests = [FlowRunRequest(FLOW, f"{DRIVE}/in/{i}") for i in range(4)]
    async with mock(handler, poll=FAST) as ib:
        with anyio.fail_after(20):
            outcomes = await ib.flows.run_many(
                requests, max_running=2, timeout=0.05, on_outcome=lambda o: seen.append((o, time.monotonic()))
            )
    assert most <= 2
    assert all(isinstance(o.error, WaitTimeoutError) for o in outcomes)
    assert len(seen) == 4
    # Each outcome came at its timeout, while its run was still going on the server.
    assert all(at < started[o.job.job_id] + length for o, at in seen)


@pytest.mark.anyio
async def test_copy_through_the_client_with_one_connection(fake: FakeInstabase, url: str) -> None:
    """Streaming one file into another through the client works at max_connections=1."""
    async with AsyncInstabase(url, fake.token, max_connections=1) as ib:
        with anyio.fail_after(20):
            async with ib.files.stream(BIG) as chunks:
                await ib.files.write(f"{DRIVE}/edges/copy.bin", chunks)
    assert fake.read_file(f"{DRIVE}/edges/copy.bin") == BIG_DATA


@pytest.mark.anyio
async def test_many_copies_at_once(fake: FakeInstabase, url: str) -> None:
    """Many copies through one client, more than its connections, all complete."""

    async def copy(ib: AsyncInstabase, index: int) -> None:
        async with ib.files.stream(BIG) as chunks:
            await ib.files.write(f"{DRIVE}/edges/copy {index}.bin", chunks)

    async with AsyncInstabase(url, fake.token, max_connections=2) as ib:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for index in range(6):
                    tg.start_soon(copy, ib, index)
    for index in range(6):
        assert fake.read_file(f"{DRIVE}/edges/copy {index}.bin") == BIG_DATA


@pytest.mark.anyio
async def test_no_connection_to_be_had_is_a_timeout(fake: FakeInstabase, url: str) -> None:
    """Where no connection slot can come free, waiting ends at the pool timeout: APITimeoutError."""
    retry = RetryPolicy(max_attempts=2, initial_backoff=0.0, max_backoff=0.0)
    timeout = httpx.Timeout(10, pool=0.2)
    async with AsyncInstabase(url, fake.token, max_connections=1, timeout=timeout, retry=retry) as ib:
        with anyio.fail_after(10):
            async with ib.files.stream(BIG), ib.files.stream(BIG):
                with pytest.raises(APITimeoutError):
                    await ib.files.read(BIG)


@asynccontextmanager
async def stalled_server() -> AsyncIterator[str]:
    """A server that reads a request's head, then stops reading; its base URL."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive(1024)
            await anyio.sleep(60)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_upload_to_a_server_that_stops_reading_times_out() -> None:
    """An upload the server stops reading ends with APITimeoutError after the write timeout."""
    with anyio.fail_after(20):
        async with (
            stalled_server() as base,
            AsyncInstabase(base, TOKEN, timeout=1, retry=RetryPolicy.disabled()) as ib,
        ):
            with pytest.raises(APITimeoutError):
                await ib.files.write(f"{DRIVE}/x.bin", os.urandom(32 << 20))


@pytest.mark.anyio
async def test_a_slow_body_source_is_not_a_write_timeout(
    fake: FakeInstabase, url: str, anyio_backend: str
) -> None:
    """The write timeout measures the server taking the body, not the caller's source producing it."""
    path = f"{DRIVE}/edges/slow source {anyio_backend}.bin"
    piece = b"s" * (1 << 17)  # over what a transport sends unwatched

    async def body() -> AsyncIterator[bytes]:
        yield piece
        await anyio.sleep(1.0)  # a source slower than the write timeout, a server that reads at once
        yield piece

    timeout = httpx.Timeout(10, write=0.3)
    async with AsyncInstabase(url, fake.token, timeout=timeout, retry=RetryPolicy.disabled()) as ib:
        with anyio.fail_after(20):
            await ib.files.write(path, body())
    assert fake.read_file(path) == piece + piece


@pytest.mark.anyio
async def test_retry_after_over_the_cap_ends_a_wait_with_rate_limit_error(anyio_backend: str) -> None:
    """A status answered with a Retry-After over max_retry_after ends the wait: RateLimitError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"status": "OK", "state": "PENDING", "results": []}, headers={"Retry-After": "3600"}
        )

    async with mock(handler, poll=FAST) as ib:
        with anyio.fail_after(10):
            with pytest.raises(RateLimitError) as caught:
                await ib.jobs.from_id("j").wait()
            (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("j")])
    assert caught.value.retry_after == pytest.approx(3600)
    assert isinstance(outcome.error, RateLimitError)


@pytest.mark.anyio
async def test_a_429_over_the_cap_does_not_freeze_the_waiter(anyio_backend: str) -> None:
    """A 429 with Retry-After over the cap is that job's outcome; the other jobs go on at once."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["job_id"] == "slow":
            return httpx.Response(429, json={"msg": "slow down"}, headers={"Retry-After": "3600"})
        return v1_status("DONE", [{"status": "OK"}])

    async with mock(handler, poll=FAST, retry=NO_WAIT) as ib:
        with anyio.fail_after(10):
            slow, ok = await ib.jobs.wait_all([ib.jobs.from_id("slow"), ib.jobs.from_id("ok")])
    assert isinstance(slow.error, RateLimitError)
    assert slow.error.retry_after == pytest.approx(3600)
    assert ok.ok


# ------------------------------------------------------------------------ re-sends


@pytest.mark.anyio
async def test_a_conditional_write_is_never_sent_twice(
    fake: FakeInstabase, url: str, anyio_backend: str
) -> None:
    """files.write(overwrite=False) that reached the server is not re-sent: its 503 is the answer."""
    path = f"{DRIVE}/edges/once {anyio_backend}.bin"
    fake.faults.add("files.put", status=503, after_processing=True, times=1)
    async with AsyncInstabase(url, fake.token, retry=NO_WAIT) as ib:
        with anyio.fail_after(10), pytest.raises(ServerError):
            await ib.files.write(path, b"mine", overwrite=False)
    assert await logged(fake, "files.put") == 1
    assert fake.read_file(path) == b"mine"


@pytest.mark.anyio
async def test_endpoint_create_is_never_sent_twice(fake: FakeInstabase, url: str, anyio_backend: str) -> None:
    """endpoints.create (a PUT that creates) is not re-sent after it may have reached the server."""
    fake.faults.add("endpoints.create", status=503, after_processing=True, times=1)
    name = f"edge-once-{anyio_backend}"
    async with AsyncInstabase(url, fake.token, retry=NO_WAIT) as ib:
        with anyio.fail_after(10), pytest.raises(ServerError):
            await ib.endpoints.create(name, path=name, handler_script_path=f"{DRIVE}/h.py")
    assert await logged(fake, "endpoints.create") == 1


@pytest.mark.anyio
@pytest.mark.parametrize(("retry", "expected"), [(RetryPolicy.disabled(), 1), (NO_WAIT, 4)])
async def test_attempts_on_the_wire_are_what_the_policy_allows(
    fake: FakeInstabase, url: str, retry: RetryPolicy, expected: int
) -> None:
    """Dropped connections: the server sees exactly the attempts RetryPolicy allows, no more."""
    async with AsyncInstabase(url, fake.token, retry=retry) as ib:
        with anyio.fail_after(10):
            await ib.files.read(BIG)  # a kept-alive connection first, which a transport may retry on
            await logged(fake, "files.get")
            fake.requests.clear()
            fake.faults.add("files.get", drop=True)
            with pytest.raises(APIConnectionError):
                await ib.files.read(BIG)
    assert await logged(fake, "files.get") == expected


# ------------------------------------------------------------------------ wrong answers


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("results", "state"),
    [
        ([{"status": "error"}], JobState.FAILED),
        ([{"status": "OK"}, {"status": "FAILED"}], JobState.FAILED),
        ([{"status": "Error", "msg": "no"}], JobState.FAILED),
        ([{"status": "ok"}], JobState.COMPLETE),
        ([{"deployed_solution_id": "s1"}], JobState.COMPLETE),
    ],
)
async def test_result_statuses_are_read_in_any_case(
    anyio_backend: str, results: list[Any], state: JobState
) -> None:
    """A result whose status is present and not OK (any case) fails the job; one without does not."""
    async with mock(lambda r: v1_status("DONE", results)) as ib:
        with anyio.fail_after(10):
            status = await ib.jobs.status("j")
    assert status.state is state


async def drain_stream(ib: AsyncInstabase, path: str) -> None:
    async with ib.files.stream(path) as chunks:
        async for _ in chunks:
            pass


@pytest.mark.anyio
async def test_a_body_that_is_not_its_encoding_is_an_api_error(anyio_backend: str) -> None:
    """A 200 claiming gzip with a body that is not: an InstabaseError, never httpx.DecodingError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    async with mock(handler, retry=NO_WAIT) as ib:
        with anyio.fail_after(10):
            with pytest.raises(APIConnectionError):
                await ib.files.read(f"{DRIVE}/a.bin")
            with pytest.raises(APIConnectionError):
                await ib.jobs.status("j")
            with pytest.raises(APIConnectionError):
                await drain_stream(ib, f"{DRIVE}/a.bin")


@pytest.mark.anyio
async def test_a_good_gzip_body_is_read(anyio_backend: str) -> None:
    """A correctly gzip-encoded answer is decoded as before."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = gzip.compress(json.dumps({"status": "OK", "state": "DONE", "results": []}).encode())
        return httpx.Response(200, content=body, headers={"Content-Encoding": "gzip"})

    async with mock(handler) as ib:
        with anyio.fail_after(10):
            assert (await ib.jobs.status("j")).state is JobState.COMPLETE


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"state": "PENDING", "cur_status": "[" * 100_000 + "]" * 100_000},
        {"state": "PENDING", "cur_status": {"status": "RUNNING", "curProgress": 10**400}},
    ],
    ids=["cur_status nested 100k deep", "curProgress of 400 digits"],
)
async def test_absurd_status_bodies_are_validation_errors(anyio_backend: str, body: Any) -> None:
    """A status nested too deep or with a number too large is a ResponseValidationError."""
    content = json.dumps({"status": "OK", **body}).encode()
    async with mock(lambda r: httpx.Response(200, content=content)) as ib:
        with anyio.fail_after(10), pytest.raises(ResponseValidationError):
            await ib.jobs.status("j")


def listing(modified: Any) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        node = {"full_path": f"{DRIVE}/a.bin", "node_type": "file", "modified": modified}
        return httpx.Response(200, json={"nodes": [node], "has_more": False})

    return handler


@pytest.mark.anyio
@pytest.mark.parametrize("modified", ["9999-12-31T23:59:59-01:00", "²", "1" * 5000, 10**30])
async def test_listing_dates_out_of_range_are_validation_errors(anyio_backend: str, modified: Any) -> None:
    """A listing date that no datetime can hold is a ResponseValidationError, not a raw error."""
    async with mock(listing(modified)) as ib:
        with anyio.fail_after(10), pytest.raises(ResponseValidationError):
            [info async for info in ib.files.list(DRIVE)]


@pytest.mark.anyio
async def test_dates_with_an_offset_come_back_in_utc(anyio_backend: str) -> None:
    """An ISO date written with an offset comes back as the same instant, in UTC."""
    async with mock(listing("2024-01-01T12:00:00+02:00")) as ib:
        with anyio.fail_after(10):
            (info,) = [info async for info in ib.files.list(DRIVE)]
    assert info.modified == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert info.modified is not None and info.modified.tzinfo is UTC


@pytest.mark.anyio
async def test_last_modified_out_of_range_is_a_validation_error(anyio_backend: str) -> None:
    """A Last-Modified in year 9999 with a negative offset is a ResponseValidationError."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Last-Modified": "Fri, 31 Dec 9999 23:59:59 -0100"})

    async with mock(handler) as ib:
        with anyio.fail_after(10), pytest.raises(ResponseValidationError):
            await ib.files.stat(f"{DRIVE}/a.bin")


def test_a_base_url_httpx_cannot_parse_is_a_value_error() -> None:
    """A malformed base_url is a ValueError naming what to pass, not httpx.InvalidURL."""
    with pytest.raises(ValueError, match="instance root"):
        AsyncInstabase("http://[::1", TOKEN)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "call",
    [
        lambda ib: ib.endpoints.delete(".."),
        lambda ib: ib.endpoints.get("."),
        lambda ib: ib.endpoints.create("a/b", path="p", handler_script_path="h.py"),
        lambda ib: ib.endpoints.update("x\x00", enabled=True),
        lambda ib: ib.solutions.run("..", input_dir=DRIVE),
        lambda ib: ib.solutions.get(""),
        lambda ib: ib.solutions.delete("a/.."),
    ],
)
async def test_an_id_is_one_path_segment(anyio_backend: str, call: Callable[[AsyncInstabase], Any]) -> None:
    """An id that is empty, '.', '..' or holds '/' or NUL is a ValueError; nothing is sent."""
    sent: list[httpx.Request] = []
    async with mock(lambda r: sent.append(r) or httpx.Response(200, json={})) as ib:
        with anyio.fail_after(10), pytest.raises(ValueError):
            await call(ib)
    assert sent == []


@pytest.mark.anyio
async def test_an_echoed_token_is_redacted_everywhere(anyio_backend: str) -> None:
    """A token the server echoes is in no JobStatus/JobOutcome repr and no error message."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v2/solutions"):
            return httpx.Response(200, json={"solution": {"name": f"by {TOKEN}"}})
        results = [{"status": "ERROR", "msg": f"bad token {TOKEN}"}]
        return v1_status("DONE", results, msg=f"Bearer {TOKEN}")

    async with mock(handler, poll=FAST) as ib:
        with anyio.fail_after(10):
            status = await ib.jobs.status("j")
            (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("j")])
            with pytest.raises(JobFailedError) as failed:
                await ib.jobs.from_id("j").wait()
            with pytest.raises(ResponseValidationError) as invalid:
                await ib.solutions.get("s1")
    for text in (
        repr(status),
        repr(outcome),
        str(failed.value),
        repr(failed.value.status),
        str(invalid.value),
    ):
        assert TOKEN not in text
    assert status.state is JobState.FAILED


# ------------------------------------------------------------------------ inputs read once


@pytest.mark.anyio
async def test_options_given_as_any_iterable_are_sent_in_full(anyio_backend: str) -> None:
    """Tags, e-mails and ids given as generators are sent in full, not consumed by checking."""
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            bodies.append(json.loads(request.content))
            return httpx.Response(200, json={"status": "OK", "job_id": "j", "data": {"job_id": "j"}})
        return v1_status("DONE", [{"status": "OK"}])

    async with mock(handler, poll=FAST) as ib:
        with anyio.fail_after(10):
            await ib.flows.run(FLOW, input_dir=DRIVE, tags=(t for t in ["a", "b"]))
            request = FlowRunRequest(
                FLOW,
                DRIVE,
                notification_emails=(e for e in ["x@y.z"]),  # type: ignore[arg-type]
                pipeline_ids=iter(["p"]),  # type: ignore[arg-type]
            )
            await ib.flows.run_many([request])
            settings = RunSettings(tags=(t for t in ["c"]))  # type: ignore[arg-type]
            await ib.solutions.run("s1", input_dir=DRIVE, settings=settings)
    assert bodies[0]["tags"] == ["a", "b"]
    assert (bodies[1]["notification_emails"], bodies[1]["pipeline_ids"]) == (["x@y.z"], ["p"])
    assert bodies[2]["settings"]["tags"] == ["c"]


# ------------------------------------------------------------------------ downloads


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The common umask for the test, restored after."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.anyio
async def test_a_download_follows_the_umask(
    fake: FakeInstabase, url: str, tmp_path: Path, umask_022: None
) -> None:
    """A downloaded file has the permissions open(path, "wb") would give (0o644 under umask 022)."""
    target = tmp_path / "got.bin"
    async with AsyncInstabase(url, fake.token) as ib:
        with anyio.fail_after(10):
            await ib.files.download(BIG, target)
    assert target.stat().st_mode & 0o777 == 0o644


@pytest.mark.anyio
async def test_a_failed_download_leaves_no_folder_it_made(
    fake: FakeInstabase, url: str, tmp_path: Path
) -> None:
    """A download that fails removes the folders it created for its target, and its temp file."""
    async with AsyncInstabase(url, fake.token, retry=NO_WAIT) as ib:
        with anyio.fail_after(10), pytest.raises(Exception, match="404"):
            await ib.files.download(f"{DRIVE}/edges/missing.bin", tmp_path / "new" / "deeper" / "x.bin")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------ small things


@pytest.mark.parametrize("suffix", ["/api/v1", "/api/v2/", "/prefix/api/v1"])
def test_a_base_url_with_the_api_path_is_refused(suffix: str) -> None:
    """A base_url that already ends in /api/v1 or /api/v2 is a ValueError naming the root to pass."""
    root = f"https://host{suffix.rsplit('/api', 1)[0]}"
    with pytest.raises(ValueError, match=root):
        AsyncInstabase(f"https://host{suffix}", TOKEN)


@pytest.mark.anyio
async def test_timeout_may_be_an_httpx_timeout(anyio_backend: str) -> None:
    """timeout=httpx.Timeout(5, connect=2) is accepted and used."""
    async with mock(lambda r: v1_status("DONE"), timeout=httpx.Timeout(5, connect=2)) as ib:
        with anyio.fail_after(10):
            assert (await ib.jobs.status("j")).state is JobState.COMPLETE


@pytest.mark.anyio
async def test_a_folder_is_listed_with_a_trailing_slash(fake: FakeInstabase, url: str) -> None:
    """files.list("folder/") lists the folder, as files.list("folder") does."""
    async with AsyncInstabase(url, fake.token) as ib:
        with anyio.fail_after(10):
            plain = [info.path async for info in ib.files.list(f"{DRIVE}/edges")]
            slashed = [info.path async for info in ib.files.list(f"{DRIVE}/edges/")]
    assert plain == slashed
    assert f"{DRIVE}/edges/big.bin" in {p.lstrip("/") for p in plain}


@pytest.mark.anyio
async def test_upload_many_reports_bytes_as_they_move(fake: FakeInstabase, url: str, tmp_path: Path) -> None:
    """One large file in upload_many: progress events as its bytes move, before it ends."""
    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(5 << 20))
    events: list[Progress] = []
    async with AsyncInstabase(url, fake.token) as ib:
        with anyio.fail_after(20):
            (outcome,) = await ib.files.upload_many(
                [(local, f"{DRIVE}/edges/up.bin")], progress=events.append
            )
    assert outcome.ok
    moving = [e for e in events if e.done == 0]
    assert moving and all(0 < e.bytes_done < 5 << 20 for e in moving[:-1])
    assert events[-1] == Progress(1, 1, 0, 5 << 20, 5 << 20)


@pytest.mark.parametrize("attempts", [2.5, True, 0])
def test_max_attempts_must_be_a_positive_int(attempts: Any) -> None:
    """RetryPolicy(max_attempts=2.5 or True) is refused, as max_connections=True is."""
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=attempts)
