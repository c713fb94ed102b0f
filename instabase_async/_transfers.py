"""Moving bytes: upload bodies, atomic downloads, and many files at once (`upload_many`,
`download_many`). `_resources/files.py` builds the URLs and calls down into this module.

An upload body is one abstraction whatever the caller passed (bytes, str, a local path, a binary
file, an (async) iterable of bytes): its `content` for `HTTP.send`, its size when known, whether a
retry can send it again, and the bytes it has sent. Bodies move in 1 MiB chunks: a file is never
read whole into memory, and an anyio file is never handed to httpx as `content` (httpx would
iterate it line by line). A download goes to a temporary file beside its target, renamed over it
only once complete.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any, Final, TypeAlias

import anyio
from anyio import AsyncFile
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectSendStream

from ._http import HTTP, BodyFactory, Params, call_maybe_async
from ._models import Progress, TransferOutcome
from ._validate import filled

__all__ = [
    "CHUNK_SIZE",
    "UploadBody",
    "WriteData",
    "dir_items",
    "download",
    "download_many",
    "open_upload",
    "upload",
    "upload_many",
]

CHUNK_SIZE: Final = 1 << 20
_MAX_IOV: Final = 512  # well under IOV_MAX (1024 on Linux)

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
# Told how many bytes moved (negative when a retry starts a replayable body again from its start).
OnBytes: TypeAlias = Callable[[int], None] | None


class UploadBody:
    """What one PUT sends: `content` for `HTTP.send`, extra `headers` (a known `Content-Length`),
    and `sent`, the bytes of the last attempt, counted as they move."""

    __slots__ = ("_on_bytes", "content", "headers", "sent")

    def __init__(self, on_bytes: OnBytes) -> None:
        self._on_bytes = on_bytes
        self.sent = 0
        self.content: bytes | BodyFactory | AsyncIterable[bytes] = b""
        self.headers: dict[str, str] = {}

    def _count(self, n: int) -> None:
        self.sent += n
        if self._on_bytes is not None and n:
            self._on_bytes(n)

    def _restart(self) -> None:
        self._count(-self.sent)

    @classmethod
    def of_bytes(cls, data: bytes, on_bytes: OnBytes) -> UploadBody:
        body = cls(on_bytes)
        body.content = data
        return body

    @classmethod
    async def of_file(cls, file: AsyncFile[bytes], on_bytes: OnBytes) -> UploadBody:
        """A seekable file is replayed from where it stood, with its size known; any other is
        read once, as it comes."""
        body = cls(on_bytes)
        raw = file.wrapped
        if not (hasattr(raw, "seekable") and raw.seekable()):
            body.content = body._checked(_read_chunks(file))
            return body
        start = await file.tell()
        end = await file.seek(0, os.SEEK_END)

        def replay() -> AsyncIterable[bytes]:
            body._restart()  # a retry starts again from the beginning
            return body._counted(_read_chunks(file, start))

        body.content = replay
        body.headers["Content-Length"] = str(end - start)
        return body

    @classmethod
    def of_iterable(cls, source: AsyncIterable[Any] | Iterable[Any], on_bytes: OnBytes) -> UploadBody:
        body = cls(on_bytes)
        body.content = body._checked(_as_async(source))
        return body

    async def _counted(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self._count(len(chunk))
            yield chunk

    async def _checked(self, chunks: AsyncIterable[Any]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if not isinstance(chunk, bytes | bytearray | memoryview):
                raise TypeError(f"an upload iterable must yield bytes, not {type(chunk).__name__}")
            self._count(len(chunk))
            yield bytes(chunk)


async def _read_chunks(file: AsyncFile[bytes], start: int | None = None) -> AsyncIterator[bytes]:
    if start is not None:
        await file.seek(start)
    while chunk := await file.read(CHUNK_SIZE):
        yield chunk


async def _as_async(source: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            yield chunk
    else:
        for chunk in source:
            yield chunk


@asynccontextmanager
async def open_upload(data: WriteData, on_bytes: OnBytes = None) -> AsyncIterator[UploadBody]:
    """The upload body for what a caller passed to `files.write`; a local file it opens is closed
    on leaving. `TypeError` for anything else."""
    if isinstance(data, os.PathLike):
        # A small file is read in one trip to a worker thread and sent as bytes: streaming it would
        # cost open/tell/seek/read/close trips, several times the cost of the upload.
        small = await anyio.to_thread.run_sync(_read_if_small, data)
        if small is None:
            async with await anyio.open_file(data, "rb") as file:
                yield await UploadBody.of_file(file, on_bytes)
            return
        data = small
    if isinstance(data, str):
        data = data.encode("utf-8")
    if isinstance(data, bytes | bytearray | memoryview):
        yield UploadBody.of_bytes(bytes(data), on_bytes)
    elif isinstance(data, AsyncFile):
        # An anyio file: read it in fixed-size chunks, never line by line as an async iterable.
        yield await UploadBody.of_file(data, on_bytes)
    elif hasattr(data, "read"):
        yield await UploadBody.of_file(anyio.wrap_file(data), on_bytes)  # type: ignore[arg-type]
    elif isinstance(data, AsyncIterable | Iterable):
        yield UploadBody.of_iterable(data, on_bytes)
    else:
        raise TypeError(
            f"cannot upload {type(data).__name__}: pass bytes, str, a path, a file or an iterable"
        )


async def upload(
    http: HTTP, url: str, data: WriteData, *, headers: Mapping[str, str], on_bytes: OnBytes = None
) -> int:
    """`PUT` `data` to `url`; the bytes sent. A conditional create (`If-None-Match: *`) is not
    idempotent: once it may have reached the server it is never sent again, as for a POST."""
    idempotent = "If-None-Match" not in headers
    async with open_upload(data, on_bytes) as body:
        all_headers = {**headers, **body.headers}
        await http.send("PUT", url, content=body.content, headers=all_headers, idempotent=idempotent)
        # A body sent whole (at most 1 MiB) is reported with the outcome, not as bytes moving.
        return len(body.content) if isinstance(body.content, bytes) else body.sent


async def download(
    http: HTTP, url: str, local_path: str | os.PathLike[str], *, params: Params, on_bytes: OnBytes = None
) -> int:
    """Stream `url` to `local_path`; the byte count. The bytes go to a temporary file beside the
    target, renamed over it only once complete, so a failure or cancellation never leaves a
    partial file at `local_path`."""
    target = Path(local_path)
    fd, temp, made = await anyio.to_thread.run_sync(_temp_beside, target)
    written = 0
    try:
        try:
            async with http.stream("GET", url, params=params) as response:
                # Chunks as the transport delivers them, gathered and written about 1 MiB at a time
                # with one writev: no re-cut copies, one worker-thread trip per MiB.
                pending: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    pending.append(chunk)
                    size += len(chunk)
                    if size >= CHUNK_SIZE or len(pending) >= _MAX_IOV:
                        written += await _flush(fd, pending, size, on_bytes)
                        pending, size = [], 0
                if pending:  # the end: reported with the outcome, not as bytes moving
                    written += await _flush(fd, pending, size, None)
        finally:
            os.close(fd)
        await anyio.to_thread.run_sync(os.replace, temp, target)
    except BaseException:
        # Synchronous on purpose: this also runs when cancelled, where awaiting is not possible.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        for folder in reversed(made):  # the folders this call made, deepest first, if still empty
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        raise
    return written


async def _flush(fd: int, chunks: list[bytes], size: int, on_bytes: OnBytes) -> int:
    await anyio.to_thread.run_sync(_write_all, fd, chunks)
    if on_bytes is not None:
        on_bytes(size)
    return size


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


def _temp_beside(target: Path) -> tuple[int, str, list[Path]]:
    """An open temporary file in the target's folder, so the final rename is atomic; the folder
    is made if need be, and the folders made are returned (to remove them again on failure).

    The file gets the permissions `open(path, "wb")` would give (0o666 less the umask), not
    mkstemp's 0o600: it becomes the user's file."""
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory")
    made: list[Path] = []
    folder = target.parent.absolute()
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another download
            folder.mkdir()
            made.append(folder)
    for _ in range(100):
        temp = os.path.join(target.parent, f".{target.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temp, made
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")  # pragma: no cover


# --------------------------------------------------------------------------- many files


def dir_items(local_dir: Path, remote_dir: str) -> list[tuple[Path, str]]:
    """Every regular file under `local_dir` (recursively, symlinked folders not followed), sorted,
    paired with `remote_dir/<its relative posix path>`."""
    if not isinstance(remote_dir, str) or not remote_dir.strip("/"):
        raise ValueError(f"remote_dir must name a folder, got {remote_dir!r}")
    root = Path(local_dir)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    found: list[tuple[str, Path]] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                regular = stat.S_ISREG(path.stat().st_mode)
            except OSError:
                continue  # a dangling symlink, or gone since the listing
            if regular:
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    base = remote_dir.rstrip("/")
    return [(path, f"{base}/{relative}") for relative, path in found]


def _sizes(paths: Sequence[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size
        except OSError:
            pass  # it will be that item's failed outcome
    return total


@asynccontextmanager
async def _task_scope() -> AsyncIterator[TaskGroup]:
    """A task group whose children are cancelled when the body ends, and whose body's own
    exception (a progress callback's, say) propagates unwrapped."""
    tg = anyio.create_task_group()
    await tg.__aenter__()
    try:
        yield tg
    finally:
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)


def _reporter(send: MemoryObjectSendStream[tuple[int, int | None]], index: int) -> Callable[[int], None]:
    """`on_bytes` for file `index`: each count goes to the task that sends progress events."""

    def report(n: int) -> None:
        # A transport may pull one more chunk after the call ended (aiohttp's writer task runs on
        # its own): then nobody listens any more, and that is fine.
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            send.send_nowait((index, n))

    return report


async def _transfer_all(
    count: int,
    concurrency: int,
    work: Callable[[int, OnBytes], Awaitable[TransferOutcome]],
    progress: Callable[[Progress], Any] | None,
    bytes_total: int | None,
) -> list[TransferOutcome]:
    """Run `work(i, on_bytes)` for every index on a fixed pool of `concurrency` workers.

    Progress events are sent from this task, one at a time: as a large file's bytes move (what
    `on_bytes` reports mid-file), and as each file ends, when `bytes_done` is set right (a failed
    file's bytes taken back), so the last event counts the bytes of the files that succeeded."""
    outcomes: list[TransferOutcome | None] = [None] * count
    if not count:
        return []
    indexes = iter(range(count))
    # (index, bytes moved) as bytes move, (index, None) once a file has its outcome.
    send, receive = anyio.create_memory_object_stream[tuple[int, int | None]](math.inf)

    async def worker() -> None:
        for index in indexes:  # shared: each index is taken by exactly one worker
            outcomes[index] = await work(index, None if progress is None else _reporter(send, index))
            send.send_nowait((index, None))

    done = failed = bytes_done = 0
    moved = [0] * count if progress is not None else []
    with send, receive:
        async with _task_scope() as tg:
            for _ in range(min(concurrency, count)):
                tg.start_soon(worker)
            while done < count:
                index, n = await receive.receive()
                if n is not None:
                    moved[index] += n
                    bytes_done += n
                else:
                    outcome = outcomes[index]
                    assert outcome is not None
                    done += 1
                    failed += outcome.error is not None
                    bytes_done += outcome.bytes - (moved[index] if moved else 0)
                await call_maybe_async(progress, Progress(done, count, failed, bytes_done, bytes_total))
    return filled(outcomes)


async def upload_many(
    http: HTTP,
    items: Sequence[tuple[Path, str, str]],
    *,
    headers: Mapping[str, str],
    concurrency: int,
    progress: Callable[[Progress], Any] | None,
    on_done: Callable[[int, TransferOutcome], Awaitable[None]] | None = None,
) -> list[TransferOutcome]:
    """Upload checked `(local_path, url, remote_path)` items, `concurrency` at a time, each file
    streamed in chunks; one outcome per item, in input order. A local file that cannot be read is
    that item's failed outcome. `progress` gets an event as each file ends (`bytes_done` counts
    whole files sent; `bytes_total` is the local sizes); `on_done(index, outcome)` is awaited as
    each file is uploaded whole (a ledger records it then)."""
    bytes_total = await anyio.to_thread.run_sync(_sizes, [local for local, _, _ in items]) if items else 0

    async def work(index: int, on_bytes: OnBytes) -> TransferOutcome:
        local, url, remote = items[index]
        try:
            sent = await upload(http, url, local, headers=headers, on_bytes=on_bytes)
        except Exception as exc:
            return TransferOutcome(os.fspath(local), remote, 0, exc)
        outcome = TransferOutcome(os.fspath(local), remote, sent)
        if on_done is not None:
            await on_done(index, outcome)
        return outcome

    return await _transfer_all(len(items), concurrency, work, progress, bytes_total)


async def download_many(
    http: HTTP,
    items: Sequence[tuple[str, str, Path]],
    *,
    params: Params,
    concurrency: int,
    progress: Callable[[Progress], Any] | None,
) -> list[TransferOutcome]:
    """Download checked `(remote_path, url, local_path)` items, `concurrency` at a time; a failed
    file leaves nothing at its local path. One outcome per item, in input order; `progress` gets
    an event as each file ends (`bytes_total` is None: sizes are not asked for up front)."""

    async def work(index: int, on_bytes: OnBytes) -> TransferOutcome:
        remote, url, local = items[index]
        try:
            received = await download(http, url, local, params=params, on_bytes=on_bytes)
        except Exception as exc:
            return TransferOutcome(remote, os.fspath(local), 0, exc)
        return TransferOutcome(remote, os.fspath(local), received)

    return await _transfer_all(len(items), concurrency, work, progress, None)
