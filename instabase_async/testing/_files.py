"""Filesystem API v2 under ``/api/v2/files/<path>``: write, read (ranges), list, stat, delete,
mkdir, copy and extract.

The path is taken from the raw request path and percent-decoded, ``%20`` to a space and ``%2F``
to a separator (Instabase's own SDK encodes every ``/`` of a path that way); one leading and one
trailing ``/`` are ignored. An empty, ``.`` or ``..`` segment, a NUL, or bad UTF-8 is a 400.
Uploads are streamed into the store (spilling to disk when large) and downloads are streamed out
of it in 1 MiB chunks. Copy and extract are jobs: a request the fake can refuse from its body
alone is a 400; what depends on the store when the job runs (a missing source, an archive that
is not a zip, a zip entry that would land outside the target folder) fails the job, with nothing
written.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import re
from typing import Any
from urllib.parse import quote, unquote

import anyio

from ._archive import extract_zip
from ._asgi import ApiError, Reply, Request, json_reply
from ._check import as_object, req_str, v2_fail
from ._jobs import FakeJob
from ._state import State
from ._store import (
    BlobWriter,
    FileNode,
    FolderNode,
    Node,
    PathError,
    StoreConflict,
    split_path,
    validate_segments,
)

__all__ = [
    "append_file",
    "copy_node",
    "delete_node",
    "extract_archive",
    "file_url",
    "get_node",
    "head_node",
    "make_folder",
    "parse_raw_path",
    "put_file",
]

_OCTET = (b"content-type", b"application/octet-stream")
_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")
#: Bounds on what ``IB-Retry-Config`` can make the fake wait (so a typo cannot hang a test).
MAX_SERVER_RETRIES = 20
MAX_SERVER_BACKOFF = 30.0


def parse_raw_path(raw: str) -> tuple[str, ...]:
    """Segments of the raw URL path after ``/api/v2/files/``, percent-decoded (``%2F`` is a ``/``)."""
    try:
        return split_path(unquote(raw, errors="strict"))
    except UnicodeDecodeError:
        raise ApiError(400, "path is not valid percent-encoded UTF-8") from None
    except PathError as exc:
        raise ApiError(400, str(exc)) from None


def file_url(req: Request, state: State, segments: tuple[str, ...]) -> str:
    """The absolute URL of the file API at ``segments`` (for ``Location`` headers)."""
    encoded = "/".join(quote(segment, safe="") for segment in segments)
    return f"{req.base_url(state.path_prefix)}/api/v2/files/{encoded}"


def _retry_config(req: Request) -> tuple[int, float]:
    """``IB-Retry-Config``: ``{"retries": N, "backoff-seconds": S}`` (JSON, or the document's
    unquoted ``{retries:N,backoff-seconds:S}``); both must be > 0. Absent: no retries."""
    raw = req.header(b"ib-retry-config")
    if raw is None:
        return 0, 0.0
    try:
        config = json.loads(raw)
    except json.JSONDecodeError:
        found = dict(re.findall(r"([a-z-]+)\s*:\s*([0-9.]+)", raw))
        config = {key: float(value) for key, value in found.items()}
    retries, backoff = (
        (config.get("retries"), config.get("backoff-seconds")) if isinstance(config, dict) else (0, 0)
    )
    if (
        not isinstance(retries, int | float)
        or not isinstance(backoff, int | float)
        or retries <= 0
        or backoff <= 0
    ):
        raise ApiError(400, "IB-Retry-Config needs retries > 0 and backoff-seconds > 0")
    return min(int(retries), MAX_SERVER_RETRIES), min(float(backoff), MAX_SERVER_BACKOFF)


async def _find(state: State, req: Request, segments: tuple[str, ...]) -> Node | None:
    """The node at ``segments``, looked up again after each backoff that ``IB-Retry-Config`` asks for."""
    retries, backoff = _retry_config(req)
    for attempt in range(retries + 1):
        with state.lock:
            node = state.store.get(segments)
        if node is not None or attempt == retries:
            return node
        await anyio.sleep(backoff)
    return None  # pragma: no cover - the loop always returns


def _missing(segments: tuple[str, ...]) -> ApiError:
    return ApiError(404, f"no file or folder at {'/'.join(segments)!r}")


async def put_file(state: State, req: Request, arg: str) -> Reply:
    """``PUT``: write a file from the streamed body, making parents. 204; with ``If-None-Match: *``
    201 + ``Location`` for a new file and 412 if something is there already."""
    segments = parse_raw_path(arg)
    if not segments:
        raise ApiError(400, "cannot write a file at the root")
    condition = req.header(b"if-none-match")
    if condition is not None and condition.strip() != "*":
        raise ApiError(400, "If-None-Match must be '*'")
    exclusive = condition is not None
    with state.lock:
        existing = state.store.get(segments)
    if exclusive and existing is not None:
        raise ApiError(412, f"{'/'.join(segments)!r} exists")
    if isinstance(existing, FolderNode):
        raise ApiError(409, f"{'/'.join(segments)!r} is a folder")
    node = await _receive(req, BlobWriter(state.store))
    try:
        with state.lock:
            created = state.store.put_file(segments, node, exclusive=exclusive)
    except FileExistsError:
        node.discard()
        raise ApiError(412, f"{'/'.join(segments)!r} exists") from None
    except StoreConflict as exc:
        node.discard()
        raise ApiError(409, str(exc)) from None
    if exclusive and created:
        return Reply(201, [(b"location", file_url(req, state, segments).encode()), (b"content-length", b"0")])
    return Reply(204)


def _parse_range(value: str, size: int) -> tuple[int, int]:
    """``bytes=a-b`` or ``bytes=a-`` as inclusive bounds within ``size``; 400 for other forms
    (several ranges, a suffix range), 416 when nothing of the file is in it."""
    match = _RANGE.fullmatch(value)
    if match is None:
        raise ApiError(400, "Range must be a single byte range 'bytes=start-end'")
    first, last = match.groups()
    if first == "":
        raise ApiError(400, "Range cannot have a negative start")
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise ApiError(
            416, f"range {value!r} not satisfiable", [(b"content-range", f"bytes */{size}".encode())]
        )
    return start, min(end, size - 1)


def _read_file(node: FileNode, req: Request) -> Reply:
    """The file's bytes, whole (200) or the asked range (206 + ``Content-Range: bytes a-b/*``)."""
    range_header = req.header(b"range")
    if range_header is None:
        headers = [_OCTET, (b"content-length", str(node.size).encode())]
        if node.data is not None and node.size <= 1024 * 1024:
            return Reply(200, headers, node.data)
        return Reply(200, headers, stream=node.chunks())
    start, end = _parse_range(range_header, node.size)
    headers = [
        _OCTET,
        (b"content-length", str(end - start + 1).encode()),
        (b"content-range", f"bytes {start}-{end}/*".encode()),
    ]
    return Reply(206, headers, stream=node.chunks(start, end + 1))


def _encode_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        name = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        name = ""
    if not name:
        raise ApiError(400, "invalid start-token")
    return name


def _list_folder(state: State, req: Request, segments: tuple[str, ...]) -> Reply:
    """One page of a folder's children, sorted by name; ``start-token`` resumes after a name."""
    token = req.arg("start-token") or ""
    after = _decode_token(token) if token else None
    with state.lock:
        children = state.store.children(segments)
    if after is not None:
        children = [(name, node) for name, node in children if name > after]
    page, has_more = children[: state.page_size], len(children) > state.page_size
    nodes: list[dict[str, Any]] = []
    for name, node in page:
        entry: dict[str, Any] = {
            "full_path": "/".join((*segments, name)),
            "name": name,
            "node_type": "file" if isinstance(node, FileNode) else "folder",
            "modified": int(node.modified * 1000),
        }
        if isinstance(node, FileNode):
            entry["size"] = node.size
        nodes.append(entry)
    return json_reply(
        {
            "nodes": nodes,
            "has_more": has_more,
            "next_page_token": _encode_token(page[-1][0]) if has_more else "",
        }
    )


async def get_node(state: State, req: Request, arg: str) -> Reply:
    """``GET ?expect-node-type=file`` reads a file; ``=folder`` lists a folder. The node must be
    of the expected type (400 otherwise); missing: 404 (after ``IB-Retry-Config`` retries)."""
    expect = req.arg("expect-node-type")
    if expect not in ("file", "folder"):
        raise ApiError(400, "expect-node-type must be 'file' or 'folder'")
    segments = parse_raw_path(arg)
    node = await _find(state, req, segments)
    if node is None:
        raise _missing(segments)
    if expect == "file":
        if not isinstance(node, FileNode):
            raise ApiError(400, f"{'/'.join(segments)!r} is a folder, not a file")
        return _read_file(node, req)
    if not isinstance(node, FolderNode):
        raise ApiError(400, f"{'/'.join(segments)!r} is a file, not a folder")
    return _list_folder(state, req, segments)


async def head_node(state: State, req: Request, arg: str) -> Reply:
    """``HEAD``: a file has ``application/octet-stream``, ``Content-Length`` and ``Last-Modified``;
    a folder ``application/json``; missing: 404."""
    segments = parse_raw_path(arg)
    node = await _find(state, req, segments)
    if node is None:
        raise _missing(segments)
    if isinstance(node, FolderNode):
        return Reply(200, [(b"content-type", b"application/json")])
    modified = email.utils.formatdate(node.modified, usegmt=True)
    return Reply(
        200,
        [_OCTET, (b"content-length", str(node.size).encode()), (b"last-modified", modified.encode())],
    )


def _job_location(req: Request, state: State, job: FakeJob) -> list[tuple[bytes, bytes]]:
    url = f"{req.base_url(state.path_prefix)}/api/v2/files/delete/jobs/{job.job_id}"
    return [(b"location", url.encode()), (b"content-length", b"0")]


async def delete_node(state: State, req: Request, arg: str) -> Reply:
    """``DELETE``: 202 + ``Location`` of a deletion job, whether or not the path exists; the
    file or folder goes when the job completes."""
    segments = parse_raw_path(arg)
    if not segments:
        raise ApiError(400, "cannot delete the root")

    def effect(_job: FakeJob) -> None:
        state.store.remove(segments)

    job = state.jobs.create(
        "file_delete", "async", params={"path": "/".join(segments)}, effect=effect, origin="files.delete"
    )
    return Reply(202, _job_location(req, state, job))


async def make_folder(state: State, req: Request, arg: str) -> Reply:
    """``POST /api/v2/files/<parent>`` with ``{"name", "node_type": "folder"}``: 201 (parents made),
    409 if something is there already."""
    parent = parse_raw_path(arg)
    body = as_object(await req.json(v1=False), v2_fail)
    name = req_str(body, "name", v2_fail)
    if body.get("node_type") != "folder":
        raise ApiError(400, "node_type must be 'folder'")
    try:
        segments = validate_segments((*parent, name))
    except PathError as exc:
        raise ApiError(400, str(exc)) from None
    try:
        with state.lock:
            state.store.mkdir(segments, exist_ok=False)
    except FileExistsError:
        raise ApiError(409, f"{'/'.join(segments)!r} exists") from None
    except StoreConflict as exc:
        raise ApiError(409, str(exc)) from None
    return Reply(201, [(b"location", file_url(req, state, segments).encode()), (b"content-length", b"0")])


def _job_reply(req: Request, state: State, job: FakeJob) -> Reply:
    """202 with the job's id in the body and its v2 status URL in ``Location``."""
    url = f"{req.base_url(state.path_prefix)}/api/v2/jobs/{job.job_id}"
    return json_reply({"job_id": job.job_id}, 202, [(b"location", url.encode())])


async def _src_dst(req: Request) -> tuple[dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    """The body of copy and extract: ``src_path`` and ``dst_path``, neither inside the other."""
    body = as_object(await req.json(v1=False), v2_fail)
    try:
        source = split_path(req_str(body, "src_path", v2_fail))
        target = split_path(req_str(body, "dst_path", v2_fail))
    except PathError as exc:
        raise ApiError(400, str(exc)) from None
    if not source or not target:
        raise ApiError(400, "src_path and dst_path cannot be the root")
    if target[: len(source)] == source:
        raise ApiError(400, "dst_path cannot be src_path or inside it")
    return body, source, target


async def copy_node(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v2/files/copy {"src_path", "dst_path"}``: 202 ``{"job_id"}`` + ``Location`` of a
    copy job, which copies the file or folder (folders merge) or fails if the source is missing."""
    body, source, target = await _src_dst(req)

    def effect(_job: FakeJob) -> None:
        if not state.store.copy(source, target):
            raise FileNotFoundError(f"no file or folder at {'/'.join(source)!r}")

    job = state.jobs.create("file_copy", "async", params=body, effect=effect, origin="files.copy")
    return _job_reply(req, state, job)


async def extract_archive(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v2/files/extract {"src_path", "dst_path"}``: 202 ``{"job_id"}`` + ``Location``
    of a job that unpacks the zip archive ``src_path`` into the folder ``dst_path``; it fails,
    unpacking nothing, for a missing source, an archive that is not a zip, or an entry that would
    land outside ``dst_path``."""
    body, source, target = await _src_dst(req)

    def effect(_job: FakeJob) -> None:
        extract_zip(state.store, source, target)

    job = state.jobs.create("file_extract", "async", params=body, effect=effect, origin="files.extract")
    return _job_reply(req, state, job)


async def append_file(state: State, req: Request, arg: str) -> Reply:
    """``PATCH`` with ``IB-Cursor: 0`` (start the file anew) or ``-1`` (append): 204."""
    segments = parse_raw_path(arg)
    if not segments:
        raise ApiError(400, "cannot write a file at the root")
    cursor = req.header(b"ib-cursor")
    if cursor not in ("0", "-1"):
        raise ApiError(400, "IB-Cursor must be 0 (first chunk) or -1 (append)")
    with state.lock:
        existing = state.store.get(segments)
    if isinstance(existing, FolderNode):
        raise ApiError(409, f"{'/'.join(segments)!r} is a folder")
    if cursor == "-1" and existing is None:
        raise ApiError(404, f"no file at {'/'.join(segments)!r} to append to")
    node = await _receive(req, BlobWriter(state.store, existing if cursor == "-1" else None))
    try:
        with state.lock:
            state.store.put_file(segments, node)
    except StoreConflict as exc:
        node.discard()
        raise ApiError(409, str(exc)) from None
    return Reply(204)


async def _receive(req: Request, writer: BlobWriter) -> FileNode:
    """The request body streamed into `writer`; a half-received body is thrown away."""
    try:
        async for chunk in req.chunks():
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
