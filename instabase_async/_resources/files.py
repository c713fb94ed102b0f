"""`ib.files`: the v2 filesystem (`/api/v2/files/<path>`): URLs, headers and answers; the bytes
move through `_transfers.py`.

Each path segment is percent-encoded on its own, so a space is `%20` and `#`, `?` and `%` never
leave the path.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeAlias

import anyio
import httpx

from .. import _transfers
from .._convert import file_info_from_node, http_date
from .._durable import upload_recorded
from .._errors import NotFoundError, ResponseValidationError
from .._jobs import Job, file_job
from .._ledger import Ledger
from .._models import FileInfo, Progress, ServerRetry, TransferOutcome
from .._transfers import CHUNK_SIZE, WriteData
from .._validate import (
    file_path,
    folder_path,
    local_path,
    pairs,
    path_segment,
    positive_int,
    source_and_target,
)
from ._base import Resource, paginate

__all__ = ["Files"]

_ROOT: Final = "/api/v2/files"
_AS_FILE: Final = {"expect-node-type": "file"}
StrPath: TypeAlias = str | os.PathLike[str]


def _retry_header(server_retry: ServerRetry | None) -> dict[str, str]:
    if server_retry is None:
        return {}
    if not isinstance(server_retry, ServerRetry):
        raise TypeError("server_retry must be a ServerRetry")
    value = {"retries": server_retry.retries, "backoff-seconds": server_retry.backoff_seconds}
    return {"IB-Retry-Config": json.dumps(value)}


def _write_headers(overwrite: Any) -> dict[str, str]:
    if not isinstance(overwrite, bool):
        raise TypeError("overwrite must be a bool")
    headers = {"Content-Type": "application/octet-stream"}
    if not overwrite:
        headers["If-None-Match"] = "*"
    return headers


class Files(Resource):
    """Read, write, stream, list and delete files and folders."""

    __slots__ = ()

    def _url(self, path: str) -> str:
        return self._http.url(f"{_ROOT}/{file_path(path)}")

    # ------------------------------------------------------------------ writing

    async def write(self, path: str, data: WriteData, *, overwrite: bool = True) -> None:
        """Create or replace a file (`PUT`), streaming `data` without reading it all into memory.

        `data` is bytes, str (UTF-8), a local `os.PathLike`, a binary file, or an (async)
        iterable of bytes. `overwrite=False` sends `If-None-Match: *`: an existing file raises
        `PreconditionFailedError` and is left as it was.
        """
        url = self._url(path)
        await _transfers.upload(self._http, url, data, headers=_write_headers(overwrite))

    # ------------------------------------------------------------------ reading

    async def read(
        self, path: str, *, range: tuple[int, int] | None = None, server_retry: ServerRetry | None = None
    ) -> bytes:
        """A file's bytes (`GET ?expect-node-type=file`); `range=(a, b)` reads bytes a..b inclusive."""
        url = self._url(path)
        headers = _retry_header(server_retry)
        if range is not None:
            headers["Range"] = _range_header(range)
        response = await self._http.send("GET", url, params=_AS_FILE, headers=headers)
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
            "GET", url, params=_AS_FILE, headers=_retry_header(server_retry)
        ) as response:
            yield response.aiter_bytes(chunk_size)

    async def download(self, path: str, local_path: StrPath) -> int:
        """Stream a file to `local_path`; returns the byte count.

        The bytes go to a temporary file beside the target, renamed over it only once complete,
        so a failure or cancellation never leaves a partial file at `local_path`.
        """
        return await _transfers.download(self._http, self._url(path), local_path, params=_AS_FILE)

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
        return self._started_job(response, f"DELETE {path!r}")

    async def copy(self, src: str, dst: str) -> Job:
        """Copy a file or a folder (`POST /api/v2/files/copy`): a job, polled at the answer's
        `Location`, else at `/api/v2/jobs/<job_id>`. A `dst` equal to or inside `src` is a `ValueError`."""
        return await self._src_dst_job("copy", src, dst)

    async def extract(self, zip_path: str, dst_folder: str) -> Job:
        """Unpack the zip archive `zip_path` into `dst_folder` (`POST /api/v2/files/extract`): a job,
        polled like `copy`'s. A `dst_folder` equal to or inside `zip_path` is a `ValueError`."""
        return await self._src_dst_job("extract", zip_path, dst_folder)

    async def _src_dst_job(self, verb: str, src: str, dst: str) -> Job:
        source, target = source_and_target(src, dst)
        body = {"src_path": source, "dst_path": target}
        response = await self._http.send("POST", self._http.url(f"{_ROOT}/{verb}"), json_body=body)
        return self._started_job(response, f"{verb} of {src!r}")

    def _started_job(self, response: httpx.Response, what: str) -> Job:
        """The job a 202 names: at its `Location` (same origin only), else `job_id` of the body."""
        location = response.headers.get("Location")
        if location:
            try:
                status_url = self._http.same_origin(location)
            except ValueError as exc:
                raise ResponseValidationError(f"the job of {what} has a refused Location: {exc}") from None
            job_id = httpx.URL(status_url).path.rstrip("/").rsplit("/", 1)[-1] or status_url
            return Job(self._client, job_id, type=None, status_url=status_url)
        body = self._http.json(response) if response.content else None
        named = body.get("job_id") if isinstance(body, dict) else None
        if not isinstance(named, str):
            raise ResponseValidationError(
                f"{what} answered {response.status_code} with neither a Location nor a job_id"
            )
        try:
            return file_job(self._client, path_segment("job_id", named))
        except ValueError as exc:
            raise ResponseValidationError(f"the job of {what}: {exc}") from None

    async def list(self, folder: str) -> AsyncIterator[FileInfo]:
        """Every entry of a folder (`expect-node-type=folder`), following `start-token` pages; a
        trailing `/` on `folder` is ignored."""
        url = self._http.url(f"{_ROOT}/{folder_path(folder)}")

        async def page(token: str) -> tuple[builtins.list[FileInfo], str | None]:
            params = {"expect-node-type": "folder", "start-token": token or None}
            body = self._http.json(await self._http.send("GET", url, params=params))
            if not isinstance(body, dict) or not isinstance(body.get("nodes"), builtins.list):
                raise ResponseValidationError(f"the listing of {folder!r} has no 'nodes' list")
            has_more = body.get("has_more")
            if isinstance(has_more, builtins.list):
                has_more = has_more[0] if has_more else False
            following = body.get("next_page_token")
            more = has_more and isinstance(following, str) and following
            return [file_info_from_node(node) for node in body["nodes"]], following if more else None

        async for info in paginate("", page):
            yield info

    async def mkdir(self, path: str) -> None:
        """Create a folder (`POST <parent>` with `{"name", "node_type": "folder"}`); a trailing
        `/` is ignored."""
        encoded = folder_path(path)
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
        ledger: Ledger | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Upload `(local_path, remote_path)` pairs, `concurrency` at a time, each file streamed;
        one outcome per pair, in input order. Every pair is checked before anything is sent; a
        local file that cannot be read is that pair's failed outcome. `progress` gets an event as
        each file ends (`bytes_done` counts whole files sent; `bytes_total` is the local sizes).

        With a `ledger`, each file uploaded whole is recorded (remote path, size, modification
        time), and a file already recorded unchanged is skipped: a re-run uploads only the rest."""
        positive_int("concurrency", concurrency)
        headers = _write_headers(overwrite)
        checked = [(local_path(local), self._url(remote), remote) for local, remote in pairs(items)]
        if ledger is None:
            return await _transfers.upload_many(
                self._http, checked, headers=headers, concurrency=concurrency, progress=progress
            )

        async def upload(
            indexes: Sequence[int],
            on_done: Callable[[int, TransferOutcome], Awaitable[None]],
            report: Callable[[Progress], Any] | None,
        ) -> builtins.list[TransferOutcome]:
            return await _transfers.upload_many(
                self._http,
                [checked[index] for index in indexes],
                headers=headers,
                concurrency=concurrency,
                progress=report,
                on_done=on_done,
            )

        return await upload_recorded(
            ledger, [(local, remote) for local, _, remote in checked], upload, progress
        )

    async def upload_dir(
        self,
        local_dir: StrPath,
        remote_dir: str,
        *,
        concurrency: int = 8,
        overwrite: bool = True,
        progress: Callable[[Progress], Any] | None = None,
        ledger: Ledger | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Upload every file under `local_dir` to the same relative path under `remote_dir`
        (with a `ledger`, skipping files uploaded unchanged, as `upload_many`)."""
        items = await anyio.to_thread.run_sync(_transfers.dir_items, Path(local_dir), remote_dir)
        return await self.upload_many(
            items, concurrency=concurrency, overwrite=overwrite, progress=progress, ledger=ledger
        )

    async def download_many(
        self,
        items: Iterable[tuple[str, StrPath]],
        *,
        concurrency: int = 8,
        progress: Callable[[Progress], Any] | None = None,
    ) -> builtins.list[TransferOutcome]:
        """Download `(remote_path, local_path)` pairs, `concurrency` at a time; a failed file
        leaves nothing at its local path. One outcome per pair, in input order."""
        positive_int("concurrency", concurrency)
        checked = [(remote, self._url(remote), local_path(local)) for remote, local in pairs(items)]
        return await _transfers.download_many(
            self._http, checked, params=_AS_FILE, concurrency=concurrency, progress=progress
        )


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
