"""Bad input, both ways.

From the caller: every constraint of the reference documents and of the spec is a clear
ValueError (TypeError for a wrong type) raised before any request is sent, in one table.
From the server: hostile 2xx bodies are a ResponseValidationError (or are tolerated), never a
KeyError/TypeError/AttributeError leaking out.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from instabase_async import (
    APIError,
    AsyncInstabase,
    FlowRunRequest,
    InstabaseError,
    PollPolicy,
    ProcessFilesSettings,
    ResponseValidationError,
    RetryPolicy,
    ServerRetry,
)

BASE = "https://ib.test"
TOKEN = "tok-bad-input"
DRIVE = "me/repo/fs/Instabase Drive"
FILE = f"{DRIVE}/a.txt"
FLOW = f"{DRIVE}/flow/a.ibflow"
LONG_ID = "j" * 51


@dataclass
class Ctx:
    """What a case may use: a client on a recording transport, that transport, a temp folder."""

    ib: AsyncInstabase
    transport: httpx.MockTransport
    tmp: Path


Case = Callable[[Ctx], Awaitable[Any]]


async def drain(items: AsyncIterator[Any]) -> None:
    async for _ in items:
        pass


async def stream(ctx: Ctx, path: str) -> None:
    async with ctx.ib.files.stream(path) as chunks:
        await drain(chunks)


async def waiter(ctx: Ctx, **kwargs: Any) -> None:
    async with ctx.ib.jobs.waiter(**kwargs):
        pass


async def construct(ctx: Ctx, base_url: str, token: str, **kwargs: Any) -> None:
    async with AsyncInstabase(base_url, token, transport=ctx.transport, **kwargs) as ib:
        await ib.request("GET", "/api/v1/x")


def local(ctx: Ctx) -> Path:
    path = ctx.tmp / "local.bin"
    path.write_bytes(b"data")
    return path


BAD_PATHS = ["", "/", "a//b", "a/./b", "a/../b", "..", "a/.", "a/b/", "a\x00b"]
_PATH_CALLS: dict[str, Callable[[Ctx, str], Awaitable[Any]]] = {
    "write": lambda c, p: c.ib.files.write(p, b"x"),
    "read": lambda c, p: c.ib.files.read(p),
    "stat": lambda c, p: c.ib.files.stat(p),
    "exists": lambda c, p: c.ib.files.exists(p),
    "delete": lambda c, p: c.ib.files.delete(p),
    "list": lambda c, p: drain(c.ib.files.list(p)),
    "mkdir": lambda c, p: c.ib.files.mkdir(p),
    "download": lambda c, p: c.ib.files.download(p, c.tmp / "out.bin"),
    "stream": stream,
    "upload_many": lambda c, p: c.ib.files.upload_many([(local(c), FILE), (local(c), p)]),
    "download_many": lambda c, p: c.ib.files.download_many([(FILE, c.tmp / "1"), (p, c.tmp / "2")]),
}


def _path_case(call: Callable[[Ctx, str], Awaitable[Any]], path: str) -> Case:
    return lambda ctx: call(ctx, path)


CASES: list[tuple[str, type[Exception], Case]] = [
    # Solution runs: a caller's job_id is at most 50 characters (01-deployed-solutions-api).
    (
        "solutions.run job_id > 50",
        ValueError,
        lambda c: c.ib.solutions.run("s", input_dir=DRIVE, job_id=LONG_ID),
    ),
    (
        "solutions.run_by_name job_id > 50",
        ValueError,
        lambda c: c.ib.solutions.run_by_name("n", input_dir=DRIVE, job_id=LONG_ID),
    ),
    ("solutions.run job_id int", TypeError, lambda c: c.ib.solutions.run("s", input_dir=DRIVE, job_id=7)),
    ("solutions.run empty input_dir", ValueError, lambda c: c.ib.solutions.run("s", input_dir="")),
    ("solutions.run empty id", ValueError, lambda c: c.ib.solutions.run("", input_dir=DRIVE)),
    ("solutions.run bad settings", TypeError, lambda c: c.ib.solutions.run("s", input_dir=DRIVE, settings=3)),
    # Solution enumerations (visibility, state, sort_by, order) and page sizes.
    ("solutions.list visibility", ValueError, lambda c: drain(c.ib.solutions.list(visibility="public"))),
    ("solutions.list state", ValueError, lambda c: drain(c.ib.solutions.list(state="DELETED"))),
    ("solutions.list page_size 0", ValueError, lambda c: drain(c.ib.solutions.list(page_size=0))),
    ("solutions.list page_size bool", ValueError, lambda c: drain(c.ib.solutions.list(page_size=True))),
    ("solutions.update visibility", ValueError, lambda c: c.ib.solutions.update("s", visibility="SECRET")),
    ("solutions.update state", ValueError, lambda c: c.ib.solutions.update("s", state="active")),
    ("solutions.update nothing", ValueError, lambda c: c.ib.solutions.update("s")),
    ("solutions.jobs sort_by", ValueError, lambda c: drain(c.ib.solutions.jobs(sort_by="startTime"))),
    ("solutions.jobs order", ValueError, lambda c: drain(c.ib.solutions.jobs(order="asc"))),
    ("solutions.jobs page_size -1", ValueError, lambda c: drain(c.ib.solutions.jobs(page_size=-1))),
    ("solutions.jobs empty filter", ValueError, lambda c: drain(c.ib.solutions.jobs(user=["a", ""]))),
    ("solutions.deploy empty", ValueError, lambda c: c.ib.solutions.deploy("")),
    ("solutions.get int", TypeError, lambda c: c.ib.solutions.get(5)),
    # HTTP endpoints: path only [A-Za-z0-9_-] (04-http-endpoint-api); update values not empty.
    *[
        (
            f"endpoints.create path {p!r}",
            ValueError,
            _path_case(
                lambda c, p: c.ib.endpoints.create("e", path=p, handler_script_path=f"{DRIVE}/h.py"), p
            ),
        )
        for p in ["a/b", "a b", "a.b", "ü", "a?b", ""]
    ],
    *[
        (
            f"endpoints.update path {p!r}",
            ValueError,
            _path_case(lambda c, p: c.ib.endpoints.update("e", path=p), p),
        )
        for p in ["a/b", "%41", ""]
    ],
    *[
        (f"endpoints.call path {p!r}", ValueError, _path_case(lambda c, p: c.ib.endpoints.call(p), p))
        for p in ["a/b", "../x", "a#b", ""]
    ],
    (
        "endpoints.update empty handler",
        ValueError,
        lambda c: c.ib.endpoints.update("e", handler_script_path=""),
    ),
    ("endpoints.update nothing", ValueError, lambda c: c.ib.endpoints.update("e")),
    ("endpoints.update enabled str", TypeError, lambda c: c.ib.endpoints.update("e", enabled="yes")),
    (
        "endpoints.create empty id",
        ValueError,
        lambda c: c.ib.endpoints.create("", path="p", handler_script_path="h"),
    ),
    ("endpoints.call bad method", ValueError, lambda c: c.ib.endpoints.call("p", "BREW")),
    (
        "endpoints.call json and content",
        ValueError,
        lambda c: c.ib.endpoints.call("p", json={}, content=b"x"),
    ),
    ("endpoints.list page_size 0", ValueError, lambda c: drain(c.ib.endpoints.list(page_size=0))),
    # Flows: step_index 0..len(steps)-1 (02-flow-api), process_type and its settings' value sets.
    ("flows.run_step index -1", ValueError, lambda c: c.ib.flows.run_step(FLOW, -1)),
    ("flows.run_step index bool", TypeError, lambda c: c.ib.flows.run_step(FLOW, True)),
    ("flows.run_step index str", TypeError, lambda c: c.ib.flows.run_step(FLOW, "1")),
    (
        "flows.process_files process_type",
        ValueError,
        lambda c: c.ib.flows.process_files(
            input_folder=DRIVE, output_folder=DRIVE, process_type="doc_to_txt"
        ),
    ),
    (
        "flows.process_files ocr_page_type",
        ValueError,
        lambda c: c.ib.flows.process_files(
            input_folder=DRIVE, output_folder=DRIVE, settings=ProcessFilesSettings(ocr_page_type="best")
        ),
    ),
    (
        "flows.process_files output_format_layout",
        ValueError,
        lambda c: c.ib.flows.process_files(
            input_folder=DRIVE, output_folder=DRIVE, settings={"output_format_layout": "per_line"}
        ),
    ),
    ("flows.run empty input_dir", ValueError, lambda c: c.ib.flows.run(FLOW, input_dir="")),
    ("flows.run tags str", TypeError, lambda c: c.ib.flows.run(FLOW, input_dir=DRIVE, tags="a")),
    (
        "flows.run step_timeout -2",
        ValueError,
        lambda c: c.ib.flows.run(FLOW, input_dir=DRIVE, step_timeout=-2),
    ),
    (
        "flows.run bool option str",
        TypeError,
        lambda c: c.ib.flows.run(FLOW, input_dir=DRIVE, delete_out_dir="y"),
    ),
    ("flows.restart empty", ValueError, lambda c: c.ib.flows.restart("")),
    (
        "flows.run_metaflow empty",
        ValueError,
        lambda c: c.ib.flows.run_metaflow(input_dir=DRIVE, flow_root_dir="", classifier_file_path="c"),
    ),
    (
        "flows.run_many one bad request",
        ValueError,
        lambda c: c.ib.flows.run_many([FlowRunRequest(FLOW, DRIVE), FlowRunRequest("", DRIVE)]),
    ),
    (
        "flows.run_many max_running 0",
        ValueError,
        lambda c: c.ib.flows.run_many([FlowRunRequest(FLOW, DRIVE)], max_running=0),
    ),
    # Files: no empty, '.' or '..' segment, no NUL, for every call that takes a path.
    *[
        (f"files.{name} path {p!r}", ValueError, _path_case(call, p))
        for name, call in _PATH_CALLS.items()
        for p in BAD_PATHS
        # A trailing '/' on a folder path is ignored where a folder is meant (SPEC "Files").
        if not (p == "a/b/" and name in ("list", "mkdir"))
    ],
    ("files.read range negative", ValueError, lambda c: c.ib.files.read(FILE, range=(-1, 5))),
    ("files.read range end < start", ValueError, lambda c: c.ib.files.read(FILE, range=(5, 4))),
    ("files.read range 3-tuple", TypeError, lambda c: c.ib.files.read(FILE, range=(0, 1, 2))),
    ("files.read range floats", TypeError, lambda c: c.ib.files.read(FILE, range=(0.0, 1.0))),
    ("files.read server_retry dict", TypeError, lambda c: c.ib.files.read(FILE, server_retry={"retries": 1})),
    ("files.write overwrite str", TypeError, lambda c: c.ib.files.write(FILE, b"x", overwrite="no")),
    ("files.write data int", TypeError, lambda c: c.ib.files.write(FILE, 42)),
    ("files.write path int", TypeError, lambda c: c.ib.files.write(7, b"x")),
    ("files.stream chunk_size 0", ValueError, lambda c: c.ib.files.stream(FILE, chunk_size=0).__aenter__()),
    (
        "files.upload_many concurrency 0",
        ValueError,
        lambda c: c.ib.files.upload_many([(local(c), FILE)], concurrency=0),
    ),
    ("files.upload_many concurrency -3", ValueError, lambda c: c.ib.files.upload_many([], concurrency=-3)),
    ("files.upload_many concurrency float", TypeError, lambda c: c.ib.files.upload_many([], concurrency=2.5)),
    ("files.upload_many not pairs", TypeError, lambda c: c.ib.files.upload_many([(local(c),)])),
    (
        "files.download_many concurrency 0",
        ValueError,
        lambda c: c.ib.files.download_many([(FILE, c.tmp / "x")], concurrency=0),
    ),
    ("files.upload_dir remote root", ValueError, lambda c: c.ib.files.upload_dir(c.tmp, "/")),
    # Waiting: max_in_flight >= 1, timeouts >= 0.
    ("jobs.waiter max_in_flight 0", ValueError, lambda c: waiter(c, max_in_flight=0)),
    ("jobs.waiter max_in_flight bool", TypeError, lambda c: waiter(c, max_in_flight=True)),
    ("jobs.waiter negative timeout", ValueError, lambda c: waiter(c, timeout=-1)),
    ("jobs.waiter polls_per_second 0", ValueError, lambda c: waiter(c, max_polls_per_second=0)),
    (
        "jobs.wait_all max_in_flight 0",
        ValueError,
        lambda c: c.ib.jobs.wait_all([c.ib.jobs.from_id("j")], max_in_flight=0),
    ),
    ("jobs.wait_all not jobs", TypeError, lambda c: c.ib.jobs.wait_all(["j1"])),
    ("job.wait negative timeout", ValueError, lambda c: c.ib.jobs.from_id("j").wait(timeout=-0.5)),
    ("jobs.status empty id", ValueError, lambda c: c.ib.jobs.status("")),
    ("jobs.from_token garbage", ValueError, lambda c: _sync(lambda: c.ib.jobs.from_token("{not json"))),
    ("jobs.from_token old version", ValueError, lambda c: _sync(lambda: c.ib.jobs.from_token('{"v": 0}'))),
    # Policies.
    ("ServerRetry retries 0", ValueError, lambda c: _sync(lambda: ServerRetry(retries=0))),
    ("ServerRetry backoff -1", ValueError, lambda c: _sync(lambda: ServerRetry(backoff_seconds=-1))),
    ("ServerRetry retries bool", ValueError, lambda c: _sync(lambda: ServerRetry(retries=True))),
    ("RetryPolicy max_attempts 0", ValueError, lambda c: _sync(lambda: RetryPolicy(max_attempts=0))),
    ("PollPolicy negative", ValueError, lambda c: _sync(lambda: PollPolicy(initial=-1))),
    ("PollPolicy multiplier < 1", ValueError, lambda c: _sync(lambda: PollPolicy(multiplier=0.5))),
    ("PollPolicy maximum NaN", ValueError, lambda c: _sync(lambda: PollPolicy(maximum=float("nan")))),
    ("PollPolicy multiplier NaN", ValueError, lambda c: _sync(lambda: PollPolicy(multiplier=float("nan")))),
    ("RetryPolicy backoff NaN", ValueError, lambda c: _sync(lambda: RetryPolicy(max_backoff=float("nan")))),
    (
        "RetryPolicy max_retry_after NaN",
        ValueError,
        lambda c: _sync(lambda: RetryPolicy(max_retry_after=float("nan"))),
    ),
    # The client: no token over plain http to a remote host, a real token, sane limits.
    ("http to a remote host", ValueError, lambda c: construct(c, "http://ib.example.com", TOKEN)),
    ("http to a private address", ValueError, lambda c: construct(c, "http://10.0.0.5:8080", TOKEN)),
    ("empty token", ValueError, lambda c: construct(c, BASE, "")),
    ("token with a line break", ValueError, lambda c: construct(c, BASE, "a\r\nX-Evil: 1")),
    ("token not ASCII", ValueError, lambda c: construct(c, BASE, "t\u00f6k-12345678")),
    ("token with a NUL", ValueError, lambda c: construct(c, BASE, "tok-1234\x00")),
    ("client header line break", ValueError, lambda c: construct(c, BASE, TOKEN, headers={"X-A": "a\nb"})),
    ("client header not ASCII", ValueError, lambda c: construct(c, BASE, TOKEN, headers={"X-A": "\u00e9"})),
    ("context not ASCII", ValueError, lambda c: construct(c, BASE, TOKEN, context="\u00e9")),
    ("token not a string", ValueError, lambda c: construct(c, BASE, None)),
    ("base_url ftp", ValueError, lambda c: construct(c, "ftp://ib.test", TOKEN)),
    ("base_url with query", ValueError, lambda c: construct(c, "https://ib.test/?a=1", TOKEN)),
    ("max_connections 0", ValueError, lambda c: construct(c, BASE, TOKEN, max_connections=0)),
    ("timeout 0", ValueError, lambda c: construct(c, BASE, TOKEN, timeout=0)),
    ("Authorization header", ValueError, lambda c: construct(c, BASE, TOKEN, headers={"authorization": "x"})),
    ("request relative path", ValueError, lambda c: c.ib.request("GET", "api/v1/x")),
    ("request path with NUL", ValueError, lambda c: c.ib.request("GET", "/api/v1/a\x00b")),
    ("request path with line break", ValueError, lambda c: c.ib.request("GET", "/api/v1/a\nb")),
    ("request method with a space", ValueError, lambda c: c.ib.request("GET /x", "/api/v1/x")),
    ("request method not ASCII", ValueError, lambda c: c.ib.request("G\u00c9T", "/api/v1/x")),
    (
        "request header line break",
        ValueError,
        lambda c: c.ib.request("GET", "/api/v1/x", headers={"X-A": "a\nb"}),
    ),
    ("request header bad name", ValueError, lambda c: c.ib.request("GET", "/api/v1/x", headers={"X A": "1"})),
    (
        "request header not ASCII",
        ValueError,
        lambda c: c.ib.request("GET", "/api/v1/x", headers={"X-A": "\u00e9"}),
    ),
    ("request absolute url", ValueError, lambda c: c.ib.request("GET", "https://evil.test/api/v1/x")),
    (
        "request json and content",
        ValueError,
        lambda c: c.ib.request("POST", "/api/v1/x", json={}, content=b"x"),
    ),
    (
        "request Authorization header",
        ValueError,
        lambda c: c.ib.request("GET", "/api/v1/x", headers={"Authorization": "x"}),
    ),
]


async def _sync(func: Callable[[], Any]) -> Any:
    return func()


@pytest.mark.anyio
@pytest.mark.parametrize(("error", "case"), [(e, c) for _, e, c in CASES], ids=[name for name, _, _ in CASES])
async def test_bad_input_is_refused_before_any_request(
    error: type[Exception], case: Case, tmp_path: Path
) -> None:
    """Each documented constraint: a clear ValueError/TypeError, and the transport saw nothing."""
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    transport = httpx.MockTransport(record)
    async with AsyncInstabase(BASE, TOKEN, transport=transport, retry=RetryPolicy.disabled()) as ib:
        with pytest.raises(error) as info:
            await case(Ctx(ib, transport, tmp_path))
    assert type(info.value) in (ValueError, TypeError)  # not an InstabaseError, not a subclass surprise
    assert str(info.value)  # a message that says what is wrong
    assert seen == []
    assert not (tmp_path / "out.bin").exists()


# ---------------------------------------------------------------------------------- hostile server


@dataclass(frozen=True)
class Answer:
    """A canned response, built anew for each request."""

    status: int
    content: bytes
    headers: dict[str, str]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(self.status, content=self.content, headers=self.headers)

    def __repr__(self) -> str:
        return f"Answer({self.status}, {self.content[:40]!r}, {self.headers})"


def answer(status: int = 200, body: Any = None, *, raw: bytes | None = None, **headers: str) -> Answer:
    content = raw if raw is not None else json.dumps(body).encode()
    return Answer(status, content, headers)


Call = Callable[[AsyncInstabase], Awaitable[Any]]


def _list(items: Callable[[AsyncInstabase], AsyncIterator[Any]]) -> Call:
    async def run(ib: AsyncInstabase) -> Any:
        return [item async for item in items(ib)]

    return run


CALLS: dict[str, Call] = {
    "flows.run": lambda ib: ib.flows.run(FLOW, input_dir=DRIVE),
    "jobs.status": lambda ib: ib.jobs.status("j1"),
    "solutions.get": lambda ib: ib.solutions.get("s1"),
    "solutions.list": _list(lambda ib: ib.solutions.list()),
    "solutions.jobs": _list(lambda ib: ib.solutions.jobs("s1")),
    "solutions.run": lambda ib: ib.solutions.run("s1", input_dir=DRIVE),
    "files.list": _list(lambda ib: ib.files.list(DRIVE)),
    "files.delete": lambda ib: ib.files.delete(FILE),
    "files.stat": lambda ib: ib.files.stat(FILE),
    "endpoints.get": lambda ib: ib.endpoints.get("e"),
    "endpoints.list": _list(lambda ib: ib.endpoints.list()),
    "endpoints.create": lambda ib: ib.endpoints.create("e", path="p", handler_script_path="h"),
}

HUGE = b"x" * (8 << 20)
DEEP = b"[" * 200_000 + b"]" * 200_000

# (call, response, "error" for ResponseValidationError or "ok" for tolerated)
HOSTILE: list[tuple[str, Answer, str]] = [
    *[(name, answer(raw=b"<html>Gateway</html>"), "error") for name in CALLS if name != "files.stat"],
    *[
        (name, answer(raw=HUGE), "error")
        for name in ("jobs.status", "solutions.get", "files.list", "flows.run")
    ],
    *[(name, answer(raw=DEEP), "error") for name in ("jobs.status", "solutions.list", "endpoints.get")],
    *[(name, answer(raw=b""), "error") for name in ("jobs.status", "solutions.get", "flows.run")],
    *[(name, answer(raw=b"\xff\xfe\x00garbage"), "error") for name in ("jobs.status", "solutions.get")],
    ("flows.run", answer(body={"status": "OK", "data": []}), "error"),
    ("flows.run", answer(body={"status": "OK", "data": {"job_id": {"a": 1}}}), "error"),
    ("flows.run", answer(body={"status": "OK", "data": {"job_id": None}}), "error"),
    ("flows.run", answer(body={"status": "OK"}), "error"),
    ("flows.run", answer(body=["OK"]), "error"),
    ("flows.run", answer(body={"status": "OK", "data": {"job_id": "j", "output_folder": 5}}), "ok"),
    ("jobs.status", answer(body={"status": "OK", "state": "DONE", "job_id": 123}), "ok"),
    ("jobs.status", answer(body={"state": 7, "results": "x", "cur_status": 5}), "ok"),
    ("jobs.status", answer(body={"state": "DONE", "results": [1, None, {"status": 3}]}), "ok"),
    ("jobs.status", answer(body={"state": "PENDING", "cur_status": "{not json"}), "ok"),
    (
        "jobs.status",
        answer(body={"state": "PENDING", "cur_status": '{"status": 5, "curProgress": "x"}'}),
        "ok",
    ),
    ("jobs.status", answer(body={"state": "PENDING", "cur_status": {"curProgress": [1]}}), "ok"),
    ("jobs.status", answer(body=[1, 2]), "error"),
    ("jobs.status", answer(body=None), "error"),
    ("solutions.get", answer(body={"solution": "x"}), "error"),
    ("solutions.get", answer(body={"solution": {"id": None}}), "error"),
    (
        "solutions.get",
        answer(body={"solution": {"id": "s", "createdAtMs": "abc", "metadata": 5, "name": {}}}),
        "ok",
    ),
    (
        "solutions.get",
        answer(body={"solution": {"id": "s", "version": [1], "state": 3, "updatedAtMs": -1e300}}),
        "ok",
    ),
    ("solutions.list", answer(body={"solutions": "x"}), "error"),
    ("solutions.list", answer(body={"solutions": [1, 2]}), "error"),
    ("solutions.list", answer(body={"solutions": [], "has_more": "yes", "next_offset": "10"}), "ok"),
    ("solutions.list", answer(body={"solutions": [], "has_more": [True], "next_offset": [None]}), "ok"),
    ("solutions.list", answer(body={"solutions": [], "has_more": [], "next_offset": {}}), "ok"),
    ("solutions.jobs", answer(body={"jobs": None}), "error"),
    ("solutions.jobs", answer(body={"jobs": [{"id": "j", "startTimeNs": "soon", "timeTakenNs": [5]}]}), "ok"),
    ("solutions.run", answer(body={"job_id": ["j"]}), "error"),
    ("files.list", answer(body={"nodes": None}), "error"),
    ("files.list", answer(body={"nodes": "abc"}), "error"),
    ("files.list", answer(body={"nodes": [{"full_path": 5}]}), "error"),
    ("files.list", answer(body={"nodes": [7]}), "error"),
    ("files.list", answer(body={"nodes": [{"full_path": "a/b", "size": "big", "modified": []}]}), "ok"),
    ("files.list", answer(body={"nodes": [], "has_more": "yes", "next_page_token": 5}), "ok"),
    ("files.delete", answer(202, raw=b""), "error"),  # a 202 without a Location
    ("files.delete", answer(202, raw=b"", Location=""), "error"),
    ("files.delete", answer(202, raw=b"", Location="http://[::1"), "error"),
    ("files.delete", answer(202, raw=b"", Location="https://ib.test:99999/x"), "error"),
    ("files.stat", answer(raw=b"", **{"Content-Length": "abc", "Last-Modified": "yesterday"}), "ok"),
    ("endpoints.get", answer(body={"id": None, "path": 3}), "error"),
    ("endpoints.get", answer(body={"status": "OK"}), "error"),
    ("endpoints.list", answer(body={"endpoints": {"a": 1}}), "error"),
    ("endpoints.create", answer(body={"status": "OK", "id": {}}), "error"),
    ("endpoints.get", answer(raw=b'{"status": "ERROR", "deep": ' + DEEP + b"}"), "error"),
    # Error statuses with hostile bodies: still the mapped APIError, with a bounded message.
    *[(name, answer(500, raw=DEEP), "api") for name in ("jobs.status", "endpoints.get", "solutions.get")],
    *[(name, answer(400, raw=HUGE), "api") for name in ("flows.run", "files.list")],
    (
        "solutions.get",
        answer(404, raw=b"\xff\xfe\x00", **{"Content-Type": "text/plain; charset=nope"}),
        "api",
    ),
    ("jobs.status", answer(429, body={"message": 5}, **{"Retry-After": "soon"}), "api"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "response", "expected"),
    HOSTILE,
    ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(HOSTILE)],
)
async def test_hostile_server_bodies_never_leak_a_raw_exception(
    name: str, response: Answer, expected: str
) -> None:
    """Garbage, huge, deeply nested or mistyped 2xx bodies: ResponseValidationError or tolerated."""
    transport = httpx.MockTransport(response)
    async with AsyncInstabase(BASE, TOKEN, transport=transport, retry=RetryPolicy.disabled()) as ib:
        if expected in ("error", "api"):
            with pytest.raises(ResponseValidationError if expected == "error" else APIError) as info:
                await CALLS[name](ib)
            assert len(str(info.value)) < 2000  # a huge body is not pasted into the message
        else:
            try:
                await CALLS[name](ib)
            except InstabaseError as exc:  # pragma: no cover - shown on failure
                pytest.fail(f"tolerable body raised {exc!r}")
