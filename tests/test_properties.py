"""Property-based tests: any Unicode file name round-trips through the fake byte-exact, ranged
reads return exactly the bytes asked for, and any v2 job body normalises without a crash."""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from instabase_async import AsyncInstabase, JobState, ResponseValidationError, RetryPolicy
from instabase_async.testing import FakeInstabase

DRIVE = "me/repo/fs/Instabase Drive"
# A token as long and random as a real one: the client redacts the token wherever a server echoes
# it, so a short literal one (hypothesis draws the source's string constants, "fake-token" among
# them) would turn a file named after it into "[REDACTED]".
TOKEN = secrets.token_urlsafe(32)
PROPERTY = settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A path segment: any text without '/' or NUL, and not '', '.' or '..'.
segments = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"),
    min_size=1,
    max_size=40,
).filter(lambda s: s not in (".", ".."))
folders = st.lists(segments, min_size=0, max_size=3)
contents = st.binary(max_size=4096)

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_v2_states = st.sampled_from(
    ["PENDING", "RUNNING", "COMPLETE", "FAILED", "CANCELLED", "complete", "DONE", ""]
)


@pytest.mark.anyio
@PROPERTY
@given(folder=folders, name=segments, data=contents)
async def test_any_file_name_round_trips_byte_exact(folder: list[str], name: str, data: bytes) -> None:
    """write then read any Unicode name gives the same bytes; the name shows in its folder's listing."""
    fake = FakeInstabase(token=TOKEN)
    parent = "/".join([DRIVE, *folder])
    path = f"{parent}/{name}"
    async with fake.client(retry=RetryPolicy.disabled()) as ib:
        await ib.files.write(path, data)
        assert await ib.files.read(path) == data
        info = await ib.files.stat(path)
        listed = [entry.path async for entry in ib.files.list(parent)]
    assert fake.read_file(path) == data
    assert not info.is_dir and info.size == len(data)
    assert [p.rsplit("/", 1)[-1] for p in listed] == [name]
    assert listed[0].lstrip("/").endswith(path)


_examples = itertools.count()


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """One fake on a loopback port for the module (its own thread and event loop)."""
    fake = FakeInstabase(token=TOKEN)
    with fake.serve_in_background() as url:
        yield fake, url
    fake.close()


@pytest.mark.anyio
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=folders, name=segments, data=contents)
async def test_any_file_name_round_trips_over_a_socket(
    served: tuple[FakeInstabase, str], folder: list[str], name: str, data: bytes
) -> None:
    """The same round trip through a real HTTP server, whose path parsing is not ours."""
    fake, url = served
    parent = "/".join([DRIVE, f"served-{next(_examples)}", *folder])  # a fresh folder per example
    path = f"{parent}/{name}"
    async with AsyncInstabase(url, fake.token, retry=RetryPolicy.disabled()) as ib:
        await ib.files.write(path, data)
        assert await ib.files.read(path) == data
        listed = [entry.path.rsplit("/", 1)[-1] async for entry in ib.files.list(parent)]
    assert listed == [name]
    assert fake.read_file(path) == data


@pytest.mark.anyio
@PROPERTY
@given(
    data=st.binary(min_size=1, max_size=2048), bounds=st.tuples(st.integers(0, 4096), st.integers(0, 4096))
)
async def test_ranged_reads_return_the_inclusive_slice(data: bytes, bounds: tuple[int, int]) -> None:
    """read(range=(a, b)) returns bytes a..b inclusive (clipped to the file), as HTTP ranges do."""
    start, end = sorted(bounds)
    if start >= len(data):
        start = len(data) - 1
    fake = FakeInstabase()
    fake.write_file(f"{DRIVE}/r.bin", data)
    async with fake.client(retry=RetryPolicy.disabled()) as ib:
        got = await ib.files.read(f"{DRIVE}/r.bin", range=(start, max(start, end)))
    assert got == data[start : max(start, end) + 1]


@pytest.mark.anyio
@settings(max_examples=150, deadline=None)
@given(
    body=st.fixed_dictionaries(
        {}, optional={"state": _v2_states | _json, "message": _json, "progress": _json | st.floats()}
    )
    | _json
)
async def test_any_v2_job_body_normalises_without_raising(body: Any) -> None:
    """Any body at a Location-polled job maps to one JobState, or is a ResponseValidationError."""
    content = json.dumps(body).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=content))
    async with AsyncInstabase(
        "https://ib.test", "t", transport=transport, retry=RetryPolicy.disabled()
    ) as ib:
        job = ib.jobs.from_token(
            json.dumps({"v": 1, "job_id": "d1", "type": None, "status_url": "/api/v2/files/delete/jobs/d1"})
        )
        try:
            status = await job.status()
        except ResponseValidationError:
            assert not isinstance(body, dict)
            return
    assert isinstance(body, dict)
    assert isinstance(status.state, JobState)
    assert status.progress is None or 0.0 <= status.progress <= 1.0
    assert not (status.is_final and status.is_halted)
    assert status.message is None or isinstance(status.message, str)
    state = body.get("state")
    expected = {
        "PENDING": JobState.PENDING,
        "RUNNING": JobState.RUNNING,
        "COMPLETE": JobState.COMPLETE,
        "FAILED": JobState.FAILED,
        "CANCELLED": JobState.CANCELLED,
    }
    want = expected.get(state.upper(), JobState.UNKNOWN) if isinstance(state, str) else JobState.UNKNOWN
    assert status.state is want


@pytest.mark.anyio
async def test_a_lone_surrogate_in_a_path_is_refused_before_sending() -> None:
    """A path with no UTF-8 form (a lone surrogate) is a ValueError, and nothing is sent."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(204)

    async with AsyncInstabase("https://ib.test", "tok", transport=httpx.MockTransport(handler)) as ib:
        with pytest.raises(ValueError, match="not valid Unicode"):
            await ib.files.write("me/repo/fs/Instabase Drive/bad\ud800name.txt", b"x")
    assert sent == []
