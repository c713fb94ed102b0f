"""`ib.files`: the v2 filesystem (`/api/v2/files/<path>`), streamed both ways.

Each path segment is percent-encoded on its own, so a space is `%20` and `#`, `?` and `%`
never leave the path. Bodies move in 1 MiB chunks: a file is never read whole into memory, and
an anyio file is never handed to httpx as `content` (httpx would iterate it line by line).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, Final, TypeAlias
from urllib.parse import quote

import anyio
import httpx
from anyio import AsyncFile

from .._convert import file_info_from_node, http_date
from .._errors import NotFoundError, ResponseValidationError
from .._http import BodyFactory, decode_json
from .._jobs import Job
from .._models import FileInfo, Progress, ServerRetry, TransferOutcome
from ._base import Resource, check_str

__all__ = ["CHUNK_SIZE", "Files", "WriteData", "encode_path"]

_ROOT: Final = "/api/v2/files"
CHUNK_SIZE: Final = 1 << 20

WriteData: TypeAlias = (
    bytes
    | bytearray
    | memoryview
    | str
    | os.PathLike[str]
    | IO[bytes]
    | AsyncIterable[bytes]
    | Iterable[bytes]
)
StrPath: TypeAlias = str | os.PathLike[str]


def encode_path(path: str) -> str:
    """`path` with each segment percent-encoded; `ValueError` for empty, `.` or `..` segments or NUL."""
    check_str("path", path)
    stripped = path[1:] if path.startswith("/") else path
    segments = stripped.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid file path {path!r}: empty, '.' and '..' segments are not allowed")
    try:
        return "/".join(quote(segment, safe="") for segment in segments)
    except UnicodeEncodeError:
        # A lone surrogate (e.g. from a badly decoded local name) has no UTF-8 form to send.
        raise ValueError(f"invalid file path {path!r}: it is not valid Unicode") from None


def _retry_header(server_retry: ServerRetry | None) -> dict[str, str]:
    if server_retry is None:
        return {}
    if not isinstance(server_retry, ServerRetry):
        raise TypeError("server_retry must be a ServerRetry")
    value = {"retries": server_retry.retries, "backoff-seconds": server_retry.backoff_seconds}
    return {"IB-Retry-Config": json.dumps(value)}


async def _file_chunks(
    file: AsyncFile[bytes], start: int, on_chunk: Callable[[int], None] | None
) -> AsyncIterator[bytes]:
    await file.seek(start)
    while chunk := await file.read(CHUNK_SIZE):
        if on_chunk is not None:
            on_chunk(len(chunk))
        yield chunk


async def _iter_chunks(
    source: AsyncIterable[bytes] | Iterable[bytes], on_chunk: Callable[[int], None] | None
) -> AsyncIterator[bytes]:
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"an upload iterable must yield bytes, not {type(chunk).__name__}")
            if on_chunk is not None:
                on_chunk(len(chunk))
            yield bytes(chunk)
    else:
        for chunk in source:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"an upload iterable must yield bytes, not {type(chunk).__name__}")
            if on_chunk is not None:
                on_chunk(len(chunk))
            yield bytes(chunk)


class Files(Resource):
    """Read, write, stream, list and delete files and folders."""

    __slots__ = ()

    def _url(self, path: str) -> str:
        return self._http.url(f"{_ROOT}/{encode_path(path)}")

    # ------------------------------------------------------------------ writing

    async def write(self, path: str, data: WriteData, *, overwrite: bool = True) -> None:
        """Create or replace a file (`PUT`), streaming `data` without reading it all into memory.

        `data` is bytes, str (UTF-8), a local `os.PathLike`, a binary file, or an (async)
        iterable of bytes. `overwrite=False` sends `If-None-Match: *`: an existing file raises
        `PreconditionFailedError` and is left as it was.
        """
        await self._write(path, data, overwrite=overwrite)

    async def _write(
        self,
        path: str,
        data: WriteData,
        *,
        overwrite: bool = True,
        on_chunk: Callable[[int], None] | None = None,
    ) -> int:
        url = self._url(path)
        if not isinstance(overwrite, bool):
            raise TypeError("overwrite must be a bool")
        headers = {"Content-Type": "application/octet-stream"}
        if not overwrite:
            headers["If-None-Match"] = "*"
        http = self._http
        if isinstance(data, os.PathLike):
            # A small file is read in one trip to a worker thread and sent as bytes: streaming it
            # would cost open/tell/seek/read/close trips, several times the cost of the upload.
            small = await anyio.to_thread.run_sync(_read_if_small, data)
            if small is None:
                async with await anyio.open_file(data, "rb") as file:
                    return await self._put_file(url, file, headers, on_chunk)
            data = small
        if isinstance(data, str):
            data = data.encode("utf-8")
        if isinstance(data, bytes | bytearray | memoryview):
            body = bytes(data)
            await http.send("PUT", url, content=body, headers=headers)
            if on_chunk is not None:
                on_chunk(len(body))
            return len(body)
        if isinstance(data, AsyncFile):
            # An anyio file: read it in fixed-size chunks, never line by line as an async iterable.
            return await self._put_file(url, data, headers, on_chunk)
        if hasattr(data, "read"):
            return await self._put_file(url, anyio.wrap_file(data), headers, on_chunk)  # type: ignore[arg-type]
        if isinstance(data, AsyncIterable | Iterable):
            source: AsyncIterable[bytes] | Iterable[bytes] = data  # type: ignore[assignment]
            counted = 0

            def count(n: int) -> None:
                nonlocal counted
                counted += n
                if on_chunk is not None:
                    on_chunk(n)

            await http.send("PUT", url, content=_iter_chunks(source, count), headers=headers)
            return counted
        raise TypeError(
            f"cannot upload {type(data).__name__}: pass bytes, str, a path, a file or an iterable"
        )

    async def _put_file(
        self,
        url: str,
        file: AsyncFile[bytes],
        headers: dict[str, str],
        on_chunk: Callable[[int], None] | None,
    ) -> int:
        raw = file.wrapped
        seekable = raw.seekable() if hasattr(raw, "seekable") else False
        if not seekable:
            return await self._write_stream(url, file, headers, on_chunk)
        start = await file.tell()
        end = await file.seek(0, os.SEEK_END)
        size = end - start
        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n

        def body() -> AsyncIterable[bytes]:
            nonlocal sent
            sent = 0  # a retry starts again from the beginning
            return _file_chunks(file, start, count)

        factory: BodyFactory = body
        await self._http.send("PUT", url, content=factory, headers={**headers, "Content-Length": str(size)})
        if on_chunk is not None:
            on_chunk(sent)
        return sent

    async def _write_stream(
        self,
        url: str,
        file: AsyncFile[bytes],
        headers: dict[str, str],
        on_chunk: Callable[[int], None] | None,
    ) -> int:
        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await file.read(CHUNK_SIZE):
                yield chunk

        sent = 0

        def count(n: int) -> None:
            nonlocal sent
            sent += n
            if on_chunk is not None:
                on_chunk(n)

        await self._http.send("PUT", url, content=_iter_chunks(chunks(), count), headers=headers)
        return sent

    # ------------------------------------------------------------------ reading

    async def read(
        self, path: str, *, range: tuple[int, int] | None = None, server_retry: ServerRetry | None = None
    ) -> bytes:
        """A file's bytes (`GET ?expect-node-type=file`); `range=(a, b)` reads bytes a..b inclusive."""
        url = self._url(path)
        headers = _retry_header(server_retry)
        if range is not None:
            headers["Range"] = _range_header(range)
        response = await self._http.send("GET", url, params={"expect-node-type": "file"}, headers=headers)
        return response.content

    @asynccontextmanager
    async def stream(
        self, path: str, *, chunk_size: int = CHUNK_SIZE, server_retry: ServerRetry | None = None
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """`async with ib.files.stream(path) as chunks: async for chunk in chunks: ...`"""
        url = self._url(path)
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        async with self._http.stream(
            "GET", url, params={"expect-node-type": "file"}, headers=_retry_header(server_retry)
        ) as response:
            yield response.aiter_bytes(chunk_size)

    async def download(self, path: str, local_path: StrPath) -> int:
        """Stream a file to `local_path`; returns the byte count.

        The bytes go to a temporary file beside the target, renamed over it only once complete,
        so a failure or cancellation never leaves a partial file at `local_path`.
        """
        return await self._download(path, local_path)

    async def _download(
        self, path: str, local_path: StrPath, on_chunk: Callable[[int], None] | None = None
    ) -> int:
        url = self._url(path)
        target = Path(local_path)
        fd, temp = await anyio.to_thread.run_sync(_temp_beside, target)
        written = 0
        try:
            try:
                async with self._http.stream("GET", url, params={"expect-node-type": "file"}) as response:
                    # Chunks as the transport delivers them, gathered and written about 1 MiB at a
                    # time with one writev: no re-cut copies, one worker-thread trip per MiB.
                    pending: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        pending.append(chunk)
                        size += len(chunk)
                        if size >= CHUNK_SIZE or len(pending) >= _MAX_IOV:
                            await anyio.to_thread.run_sync(_write_all, fd, pending)
                            written += size
                            if on_chunk is not None:
                                on_chunk(size)
                            pending, size = [], 0
                    if pending:
                        await anyio.to_thread.run_sync(_write_all, fd, pending)
                        written += size
                        if on_chunk is not None:
                            on_chunk(size)
            finally:
                os.close(fd)
            await anyio.to_thread.run_sync(os.replace, temp, target)
        except BaseException:
            # Synchronous on purpose: this also runs when cancelled, where awaiting is not possible.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        return written

    async def stat(self, path: str, *, server_retry: ServerRetry | None = None) -> FileInfo:
        """A file's or folder's metadata (`HEAD`): folder or file, size, last modified."""
        response = await self._http.send("HEAD", self._url(path), headers=_retry_header(server_retry))
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = response.headers.get("Content-Length")
        is_dir = content_type == "application/json"
        return FileInfo(
            path=path,
            is_dir=is_dir,
            size=int(length) if length and length.isdigit() and not is_dir else None,
            modified=http_date(response.headers.get("Last-Modified")),
        )

    async def exists(self, path: str) -> bool:
        """Whether a file or folder exists at `path`."""
        try:
            await self.stat(path)
        except NotFoundError:
            return False
        return True

    # ------------------------------------------------------------------ folders and deletion

    async def delete(self, path: str) -> Job:
        """Delete a file or folder: a job polled at the URL of the 202's `Location` header."""
        response = await self._http.send("DELETE", self._url(path))
        location = response.headers.get("Location")
        if not location:
            raise ResponseValidationError(
                f"DELETE {path!r} answered {response.status_code} without a Location"
            )
        try:
            status_url = self._http.same_origin(location)
        except ValueError as exc:
            raise ResponseValidationError(f"the deletion job's Location is refused: {exc}") from None
        job_id = httpx.URL(status_url).path.rstrip("/").rsplit("/", 1)[-1] or status_url
        return Job(self._client, job_id, type=None, status_url=status_url)

    async def list(self, folder: str) -> AsyncIterator[FileInfo]:
        """Every entry of a folder (`expect-node-type=folder`), following `start-token` pages."""
        url = self._url(folder)
        token: str | None = None
        seen: set[str] = set()
        for _ in range(1_000_000):
            params = {"expect-node-type": "folder", "start-token": token}
            body = decode_json(await self._http.send("GET", url, params=params))
            if not isinstance(body, dict) or not isinstance(body.get("nodes"), list):
                raise ResponseValidationError(f"the listing of {folder!r} has no 'nodes' list")
            for node in body["nodes"]:
                yield file_info_from_node(node)
            has_more = body.get("has_more")
            if isinstance(has_more, list):
                has_more = has_more[0] if has_more else False
            token = body.get("next_page_token")
            if not has_more or not isinstance(token, str) or not token or token in seen:
                return
            seen.add(token)

    async def mkdir(self, path: str) -> None:
        """Create a folder (`POST <parent>` with `{"name", "node_type": "folder"}`)."""
        encoded = encode_path(path)
        parent, _, _ = encoded.rpartition("/")
        name = path.rstrip("/").rsplit("/", 1)[-1]
        http = self._http
        url = http.url(f"{_ROOT}/{parent}" if parent else _ROOT)
        await http.send("POST", url, json_body={"name": name, "node_type": "folder"})

    # ------------------------------------------------------------------ bulk

    async def upload_many(
        self,
        items: Iterable[tuple[StrPath, str]],
        *,
        concurrency: int = 8,
        overwrite: bool = True,
        progress: Callable[[Progress], Any] | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Upload `(local_path, remote_path)` pairs, `concurrency` at a time; one outcome each, in order."""
        from .._bulk import upload_many

        return await upload_many(self, items, concurrency=concurrency, overwrite=overwrite, progress=progress)

    async def upload_dir(
        self,
        local_dir: StrPath,
        remote_dir: str,
        *,
        concurrency: int = 8,
        overwrite: bool = True,
        progress: Callable[[Progress], Any] | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Upload every file under `local_dir` to the same relative path under `remote_dir`."""
        from .._bulk import dir_items, upload_many

        items = await anyio.to_thread.run_sync(dir_items, Path(local_dir), remote_dir)
        return await upload_many(self, items, concurrency=concurrency, overwrite=overwrite, progress=progress)

    async def download_many(
        self,
        items: Iterable[tuple[str, StrPath]],
        *,
        concurrency: int = 8,
        progress: Callable[[Progress], Any] | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Download `(remote_path, local_path)` pairs; no partial file is left behind on failure."""
        from .._bulk import download_many

        return await download_many(self, items, concurrency=concurrency, progress=progress)


def _range_header(value: Sequence[int]) -> str:
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) for v in value)
    ):
        raise TypeError("range must be a (start, end) pair of ints")
    start, end = value
    if start < 0 or end < start:
        raise ValueError(f"range must satisfy 0 <= start <= end, got {value!r}")
    return f"bytes={start}-{end}"


_MAX_IOV: Final = 512  # well under IOV_MAX (1024 on Linux)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write every chunk to `fd`, finishing a partial writev by hand."""
    total = sum(map(len, chunks))
    done = os.writev(fd, chunks)
    if done < total:
        rest = memoryview(b"".join(chunks))[done:]
        while rest:
            rest = rest[os.write(fd, rest) :]


def _read_if_small(path: os.PathLike[str]) -> bytes | None:
    """The whole file if it is at most one chunk, else None (it is then streamed)."""
    with open(path, "rb") as file:
        if os.fstat(file.fileno()).st_size > CHUNK_SIZE:
            return None
        return file.read(CHUNK_SIZE + 1)


def _temp_beside(target: Path) -> tuple[int, str]:
    """An open temporary file in the target's folder (created if need be), so the final rename is atomic."""
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
