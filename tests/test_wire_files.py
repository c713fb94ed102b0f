"""Wire tests of `ib.files` (reference/03-filesystem-api-v2.txt and 05-job-status-facts.md)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx

from instabase_async import (
    APIConnectionError,
    AsyncInstabase,
    AuthenticationError,
    FileInfo,
    JobState,
    NotFoundError,
    PreconditionFailedError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    ServerRetry,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-files-0123456789"
FILE = "jaydoe/my_repo/fs/Instabase Drive/dir #1/a?b%c.txt"
ENCODED = "/api/v2/files/jaydoe/my_repo/fs/Instabase%20Drive/dir%20%231/a%3Fb%25c.txt"
ROUTE = {"path__startswith": "/api/v2/files/"}
MIB = 1 << 20


def client(**kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
    return AsyncInstabase(BASE, TOKEN, **kwargs)


def raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode().split("?")[0]


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return sorted(request.url.params.multi_items())


# ---------------------------------------------------------------------------------- paths


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        (FILE, ENCODED),
        ("/o/r/fs/Instabase Drive/x.txt", "/api/v2/files/o/r/fs/Instabase%20Drive/x.txt"),
        ("o/r/fs/d/100%.txt", "/api/v2/files/o/r/fs/d/100%25.txt"),
        ("o/r/fs/d/é.txt", "/api/v2/files/o/r/fs/d/%C3%A9.txt"),
    ],
)
async def test_each_segment_is_percent_encoded(router: respx.MockRouter, path: str, encoded: str) -> None:
    """Each path segment is percent-encoded (' ' %20, '#' %23, '?' %3F, '%' %25); a leading '/' is ignored."""
    route = router.get(**ROUTE).respond(200, content=b"x")
    async with client() as ib:
        await ib.files.read(path)
    request = route.calls.last.request
    assert raw_path(request) == encoded
    assert query(request) == [("expect-node-type", "file")]


# ---------------------------------------------------------------------------------- write


@pytest.mark.anyio
async def test_write_bytes(router: respx.MockRouter) -> None:
    """files.write PUTs the bytes with Authorization and Content-Length, and no If-None-Match."""
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        assert await ib.files.write(FILE, b"hello world") is None
    request = route.calls.last.request
    assert request.method == "PUT"
    assert raw_path(request) == ENCODED
    assert request.url.query == b""
    assert request.content == b"hello world"
    assert request.headers["Content-Length"] == "11"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "If-None-Match" not in request.headers


@pytest.mark.anyio
async def test_write_str_is_utf8(router: respx.MockRouter) -> None:
    """A str is sent as UTF-8 with its byte length."""
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, "héllo")
    request = route.calls.last.request
    assert request.content == "héllo".encode()
    assert request.headers["Content-Length"] == "6"


@pytest.mark.anyio
async def test_write_overwrite_false_sends_if_none_match(router: respx.MockRouter) -> None:
    """overwrite=False sends If-None-Match: *; a 201 is success and a 412 is PreconditionFailedError."""
    route = router.put(**ROUTE)
    route.side_effect = [httpx.Response(201, headers={"Location": f"{BASE}{ENCODED}"}), httpx.Response(412)]
    async with client() as ib:
        await ib.files.write(FILE, b"new", overwrite=False)
        with pytest.raises(PreconditionFailedError) as info:
            await ib.files.write(FILE, b"new", overwrite=False)
    assert info.value.status_code == 412
    assert route.call_count == 2
    assert all(c.request.headers["If-None-Match"] == "*" for c in route.calls)


@pytest.mark.anyio
async def test_write_path_streams_the_file_with_content_length(
    router: respx.MockRouter, tmp_path: Path
) -> None:
    """A local Path is sent whole, with Content-Length set to its size."""
    data = os.urandom(3000)
    local = tmp_path / "in.bin"
    local.write_bytes(data)
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, local)
    request = route.calls.last.request
    assert request.content == data
    assert request.headers["Content-Length"] == "3000"


@pytest.mark.anyio
async def test_write_5mb_file_in_1mib_reads(
    router: respx.MockRouter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5 MB file is read in chunks of at most 1 MiB (never whole) and arrives intact."""
    data = os.urandom(5 * MIB + 123)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    sizes: list[int] = []
    real_read = anyio.AsyncFile.read

    async def spy(self: anyio.AsyncFile[Any], size: int = -1) -> Any:
        sizes.append(size)
        return await real_read(self, size)

    monkeypatch.setattr(anyio.AsyncFile, "read", spy)
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, local)
    request = route.calls.last.request
    assert request.headers["Content-Length"] == str(len(data))
    assert request.content == data
    assert sizes
    assert all(0 < size <= MIB for size in sizes)
    assert len(sizes) >= 6


@pytest.mark.anyio
async def test_write_binary_file_object(router: respx.MockRouter, tmp_path: Path) -> None:
    """A binary file object (BytesIO or an open file) is sent whole with Content-Length."""
    local = tmp_path / "f.bin"
    local.write_bytes(b"0123456789")
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, io.BytesIO(b"from bytesio"))
        with local.open("rb") as handle:
            await ib.files.write(FILE, handle)
    first, second = (c.request for c in route.calls)
    assert first.content == b"from bytesio"
    assert first.headers["Content-Length"] == "12"
    assert second.content == b"0123456789"
    assert second.headers["Content-Length"] == "10"


@pytest.mark.anyio
async def test_write_anyio_async_file(router: respx.MockRouter, tmp_path: Path) -> None:
    """An anyio async file opened in binary mode is sent whole with Content-Length."""
    local = tmp_path / "f.bin"
    local.write_bytes(b"async file body")
    route = router.put(**ROUTE).respond(204)
    async with client() as ib, await anyio.open_file(local, "rb") as handle:
        await ib.files.write(FILE, handle)
    request = route.calls.last.request
    assert request.content == b"async file body"
    assert request.headers["Content-Length"] == "15"


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.anyio
async def test_write_unseekable_file_is_streamed(router: respx.MockRouter) -> None:
    """A file that cannot seek (size unknown) is streamed whole, chunked."""
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, _Unseekable(b"pipe data" * 1000))
    request = route.calls.last.request
    assert request.content == b"pipe data" * 1000
    assert "Content-Length" not in request.headers


@pytest.mark.anyio
async def test_write_async_iterable(router: respx.MockRouter) -> None:
    """An async iterable of bytes is streamed whole (chunked, no Content-Length)."""

    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"ab", b"", b"cd", b"e" * 70_000):
            yield part

    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, chunks())
    request = route.calls.last.request
    assert request.content == b"abcd" + b"e" * 70_000
    assert "Content-Length" not in request.headers
    assert request.headers["Transfer-Encoding"] == "chunked"


@pytest.mark.anyio
async def test_write_sync_iterable(router: respx.MockRouter) -> None:
    """A sync iterable of bytes (list or generator) is streamed whole."""
    route = router.put(**ROUTE).respond(204)
    async with client() as ib:
        await ib.files.write(FILE, [b"one", b"two"])
        await ib.files.write(FILE, (bytes([i]) * 10 for i in range(3)))
    first, second = (c.request for c in route.calls)
    assert first.content == b"onetwo"
    assert second.content == b"\x00" * 10 + b"\x01" * 10 + b"\x02" * 10


# ---------------------------------------------------------------------------------- read


@pytest.mark.anyio
async def test_read_returns_bytes(router: respx.MockRouter) -> None:
    """files.read GETs ?expect-node-type=file with no Range or IB-Retry-Config and returns the body."""
    route = router.get(**ROUTE).respond(
        200, content=b"hello world", headers={"Content-Type": "application/octet-stream"}
    )
    async with client() as ib:
        assert await ib.files.read(FILE) == b"hello world"
    request = route.calls.last.request
    assert request.method == "GET"
    assert raw_path(request) == ENCODED
    assert query(request) == [("expect-node-type", "file")]
    assert "Range" not in request.headers
    assert "IB-Retry-Config" not in request.headers


@pytest.mark.anyio
async def test_read_range_and_server_retry(router: respx.MockRouter) -> None:
    """range=(0, 4) sends Range: bytes=0-4 (206 accepted); ServerRetry sends the exact IB-Retry-Config."""
    route = router.get(**ROUTE).respond(
        206,
        content=b"hello",
        headers={"Content-Range": "bytes 0-4/*", "Content-Type": "application/octet-stream"},
    )
    async with client() as ib:
        data = await ib.files.read(FILE, range=(0, 4), server_retry=ServerRetry(retries=2, backoff_seconds=1))
    assert data == b"hello"
    request = route.calls.last.request
    assert request.headers["Range"] == "bytes=0-4"
    assert request.headers["IB-Retry-Config"] == '{"retries": 2, "backoff-seconds": 1}'


@pytest.mark.anyio
async def test_read_missing_is_not_found(router: respx.MockRouter) -> None:
    """A 404 on read raises NotFoundError."""
    router.get(**ROUTE).respond(404, json={"message": "no such file"})
    async with client() as ib:
        with pytest.raises(NotFoundError):
            await ib.files.read(FILE)


@pytest.mark.anyio
async def test_stream_yields_the_body_in_chunks(router: respx.MockRouter) -> None:
    """files.stream GETs ?expect-node-type=file and yields chunks that join to the body."""
    data = os.urandom(3 * MIB + 5)
    route = router.get(**ROUTE).respond(200, content=data)
    async with client() as ib, ib.files.stream(FILE) as chunks:
        parts = [chunk async for chunk in chunks]
    assert b"".join(parts) == data
    assert all(len(p) <= MIB for p in parts)
    assert query(route.calls.last.request) == [("expect-node-type", "file")]


@pytest.mark.anyio
async def test_stream_sends_server_retry(router: respx.MockRouter) -> None:
    """files.stream with server_retry sends IB-Retry-Config."""
    route = router.get(**ROUTE).respond(200, content=b"x")
    async with client() as ib, ib.files.stream(FILE, server_retry=ServerRetry(3, 2)) as chunks:
        assert [c async for c in chunks] == [b"x"]
    assert route.calls.last.request.headers["IB-Retry-Config"] == '{"retries": 3, "backoff-seconds": 2}'


# ---------------------------------------------------------------------------------- download


class _BrokenBody(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"partial" * 1000
        raise httpx.ReadError("connection reset by peer")


@pytest.mark.anyio
async def test_download_writes_the_file(router: respx.MockRouter, tmp_path: Path) -> None:
    """files.download streams the body to local_path, returns the byte count and leaves no temp file."""
    data = os.urandom(2 * MIB + 7)
    route = router.get(**ROUTE).respond(200, content=data)
    target = tmp_path / "sub" / "out.bin"
    async with client() as ib:
        assert await ib.files.download(FILE, target) == len(data)
    assert target.read_bytes() == data
    assert os.listdir(target.parent) == ["out.bin"]
    assert query(route.calls.last.request) == [("expect-node-type", "file")]


@pytest.mark.anyio
async def test_download_failing_mid_body_leaves_nothing(router: respx.MockRouter, tmp_path: Path) -> None:
    """A connection lost mid-body raises APIConnectionError; no file at the target and no temp file remain."""
    router.get(**ROUTE).mock(return_value=httpx.Response(200, stream=_BrokenBody()))
    target = tmp_path / "out.bin"
    async with client() as ib:
        with pytest.raises(APIConnectionError) as info:
            await ib.files.download(FILE, target)
    assert isinstance(info.value.__cause__, httpx.ReadError)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


@pytest.mark.anyio
async def test_download_failure_keeps_the_previous_file(router: respx.MockRouter, tmp_path: Path) -> None:
    """A failed download leaves an existing file at the target as it was."""
    router.get(**ROUTE).mock(return_value=httpx.Response(200, stream=_BrokenBody()))
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    async with client() as ib:
        with pytest.raises(APIConnectionError):
            await ib.files.download(FILE, target)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.anyio
async def test_download_404_leaves_nothing(router: respx.MockRouter, tmp_path: Path) -> None:
    """A 404 raises NotFoundError and creates no file."""
    router.get(**ROUTE).respond(404)
    async with client() as ib:
        with pytest.raises(NotFoundError):
            await ib.files.download(FILE, tmp_path / "out.bin")
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------------- stat / exists


@pytest.mark.anyio
async def test_stat_file_from_head_headers(router: respx.MockRouter) -> None:
    """files.stat sends HEAD and reads a file's size and Last-Modified (aware UTC) from the headers."""
    route = router.head(**ROUTE).respond(
        200,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Length": "4",
            "Last-Modified": "Wed, 03 Aug 2022 17:25:51 GMT",
        },
    )
    async with client() as ib:
        info = await ib.files.stat(FILE, server_retry=ServerRetry(retries=2, backoff_seconds=1))
    request = route.calls.last.request
    assert request.method == "HEAD"
    assert raw_path(request) == ENCODED
    assert request.headers["IB-Retry-Config"] == '{"retries": 2, "backoff-seconds": 1}'
    assert info == FileInfo(
        path=FILE, is_dir=False, size=4, modified=datetime(2022, 8, 3, 17, 25, 51, tzinfo=UTC)
    )


@pytest.mark.anyio
async def test_stat_folder(router: respx.MockRouter) -> None:
    """A HEAD answered with Content-Type application/json is a folder, with no size or date."""
    route = router.head(**ROUTE).respond(200, headers={"Content-Type": "application/json"})
    async with client() as ib:
        info = await ib.files.stat("o/r/fs/Instabase Drive/folder")
    assert "IB-Retry-Config" not in route.calls.last.request.headers
    assert info.is_dir is True
    assert info.size is None
    assert info.modified is None


@pytest.mark.anyio
async def test_exists(router: respx.MockRouter) -> None:
    """files.exists is True on 200, False on 404, and raises on other errors."""
    route = router.head(**ROUTE)
    route.side_effect = [
        httpx.Response(200, headers={"Content-Type": "application/octet-stream", "Content-Length": "1"}),
        httpx.Response(404),
        httpx.Response(401),
        httpx.Response(500),
    ]
    async with client(retry=RetryPolicy.disabled()) as ib:
        assert await ib.files.exists(FILE) is True
        assert await ib.files.exists(FILE) is False
        with pytest.raises(AuthenticationError):
            await ib.files.exists(FILE)
        with pytest.raises(ServerError):
            await ib.files.exists(FILE)
    assert all(c.request.method == "HEAD" for c in route.calls)


# ---------------------------------------------------------------------------------- delete


DELETE_JOB = "53275652-abc8-479e-89f2-ccb12af401a0"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "location",
    [f"/api/v2/files/delete/jobs/{DELETE_JOB}", f"{BASE}/api/v2/files/delete/jobs/{DELETE_JOB}"],
    ids=["relative", "absolute"],
)
async def test_delete_follows_location(router: respx.MockRouter, location: str) -> None:
    """files.delete sends DELETE and returns a Job polled at the 202's Location (relative or absolute)."""
    route = router.delete(**ROUTE).respond(202, headers={"Location": location})
    status_route = router.get(f"/api/v2/files/delete/jobs/{DELETE_JOB}")
    status_route.side_effect = [
        httpx.Response(200, json={"state": "RUNNING"}),
        httpx.Response(200, json={"state": "COMPLETE", "message": "done"}),
    ]
    async with client() as ib:
        job = await ib.files.delete(FILE)
        first = await job.status()
        second = await job.status()
    request = route.calls.last.request
    assert request.method == "DELETE"
    assert raw_path(request) == ENCODED
    assert request.content == b""
    assert job.type is None
    assert job.job_id == DELETE_JOB
    assert job.status_url == f"{BASE}/api/v2/files/delete/jobs/{DELETE_JOB}"
    assert first.state is JobState.RUNNING
    assert second.state is JobState.COMPLETE
    assert status_route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.anyio
async def test_delete_without_location_is_validation_error(router: respx.MockRouter) -> None:
    """A 202 without Location raises ResponseValidationError."""
    router.delete(**ROUTE).respond(202)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.files.delete(FILE)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "location",
    [
        "https://evil.test/api/v2/files/delete/jobs/1",
        "//evil.test/jobs/1",
        "http://ib.test/api/v2/files/delete/jobs/1",
        "https://ib.test:8443/api/v2/files/delete/jobs/1",
    ],
)
async def test_delete_location_on_another_origin_is_refused(router: respx.MockRouter, location: str) -> None:
    """A Location on another origin raises ResponseValidationError, and nothing is sent there."""
    router.delete(**ROUTE).respond(202, headers={"Location": location})
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.files.delete(FILE)
    assert len(router.calls) == 1
    assert router.calls.last.request.url.host == "ib.test"


# ---------------------------------------------------------------------------------- list / mkdir


@pytest.mark.anyio
async def test_list_pages_by_start_token(router: respx.MockRouter) -> None:
    """files.list GETs ?expect-node-type=folder and follows next_page_token as start-token."""
    route = router.get(**ROUTE)
    route.side_effect = [
        httpx.Response(
            200,
            json={
                "nodes": [
                    {"full_path": "o/r/fs/Instabase Drive/d/a.txt", "node_type": "file", "size": 4},
                    {"full_path": "o/r/fs/Instabase Drive/d/sub", "node_type": "folder"},
                ],
                "has_more": True,
                "next_page_token": "tok 2+/=",
            },
        ),
        httpx.Response(
            200,
            json={
                "nodes": [{"full_path": "o/r/fs/Instabase Drive/d/z"}],
                "has_more": False,
                "next_page_token": "",
            },
        ),
    ]
    async with client() as ib:
        entries = [entry async for entry in ib.files.list("o/r/fs/Instabase Drive/d")]
    assert entries == [
        FileInfo(path="o/r/fs/Instabase Drive/d/a.txt", is_dir=False, size=4),
        FileInfo(path="o/r/fs/Instabase Drive/d/sub", is_dir=True),
        FileInfo(path="o/r/fs/Instabase Drive/d/z", is_dir=False),
    ]
    first, second = (c.request for c in route.calls)
    assert raw_path(first) == "/api/v2/files/o/r/fs/Instabase%20Drive/d"
    assert query(first) == [("expect-node-type", "folder")]
    assert query(second) == [("expect-node-type", "folder"), ("start-token", "tok 2+/=")]


@pytest.mark.anyio
async def test_list_without_nodes_is_validation_error(router: respx.MockRouter) -> None:
    """A listing without a 'nodes' list raises ResponseValidationError."""
    router.get(**ROUTE).respond(200, json={"has_more": False})
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            [entry async for entry in ib.files.list("o/r/fs/d")]


@pytest.mark.anyio
async def test_mkdir_posts_to_the_parent(router: respx.MockRouter) -> None:
    """files.mkdir POSTs {"name", "node_type": "folder"} to the parent folder."""
    route = router.post(**ROUTE).respond(201)
    async with client() as ib:
        await ib.files.mkdir("o/r/fs/Instabase Drive/new folder")
    request = route.calls.last.request
    assert raw_path(request) == "/api/v2/files/o/r/fs/Instabase%20Drive"
    assert json.loads(request.content) == {"name": "new folder", "node_type": "folder"}
    assert request.headers["Content-Type"] == "application/json"
