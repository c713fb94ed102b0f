"""The error tree at the wire: status mapping, attributes, no token anywhere, shape checks, bad input."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from instabase_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncInstabase,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InstabaseError,
    LicenseError,
    NotFoundError,
    OperationError,
    PreconditionFailedError,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    ServerRetry,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-SECRET-errors-0123456789"
UUID = "0b5c3e1e-8a7f-4c55-9a57-1d2d6f0e4b11"
FILE = "o/r/fs/Instabase Drive/a.txt"
HANDLER = "/o/r/fs/Instabase Drive/h.py"


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """A respx router for the fake host that also accepts being called by no test."""
    with respx.mock(base_url=BASE, assert_all_called=False) as r:
        yield r


def client(**kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("retry", RetryPolicy.disabled())
    return AsyncInstabase(BASE, TOKEN, **kwargs)


async def drain(items: AsyncIterator[Any]) -> None:
    async for _ in items:
        pass


def assert_no_token(err: BaseException) -> None:
    for text in (str(err), repr(err), *map(str, err.args), str(getattr(err, "url", "")), str(vars(err))):
        assert TOKEN not in text


# ---------------------------------------------------------------------------------- status -> class


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, LicenseError),
        (404, NotFoundError),
        (409, ConflictError),
        (412, PreconditionFailedError),
        (429, RateLimitError),
        (500, ServerError),
        (501, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
        (405, APIError),
        (418, APIError),
        (422, APIError),
    ],
)
async def test_status_maps_to_class(router: respx.MockRouter, status: int, cls: type[APIError]) -> None:
    """Each HTTP error status raises its documented class; other 4xx raise plain APIError."""
    router.get(f"/api/v2/solutions/deployed/{UUID}").respond(status, json={"message": f"status {status}"})
    async with client() as ib:
        with pytest.raises(APIError) as info:
            await ib.solutions.get(UUID)
    err = info.value
    assert type(err) is cls
    assert isinstance(err, InstabaseError)
    assert err.status_code == status
    assert err.message == f"status {status}"
    assert_no_token(err)


@pytest.mark.anyio
async def test_api_error_attributes(router: respx.MockRouter) -> None:
    """APIError carries status_code, message, the decoded body, method and URL."""
    router.get("/api/v2/files/o/r/fs/Instabase%20Drive/a.txt").respond(
        403, json={"msg": "out of credits", "code": 7}
    )
    async with client() as ib:
        with pytest.raises(LicenseError) as info:
            await ib.files.read(FILE)
    err = info.value
    assert err.status_code == 403
    assert err.message == "out of credits"
    assert err.body == {"msg": "out of credits", "code": 7}
    assert err.method == "GET"
    assert err.url == f"{BASE}/api/v2/files/o/r/fs/Instabase%20Drive/a.txt?expect-node-type=file"
    assert "403" in str(err)
    assert "out of credits" in str(err)
    assert_no_token(err)


@pytest.mark.anyio
async def test_api_error_with_text_or_empty_body(router: respx.MockRouter) -> None:
    """A non-JSON error body becomes the message and the body; an empty body still gives a message."""
    route = router.delete(f"/api/v2/solutions/deployed/{UUID}")
    route.side_effect = [httpx.Response(409, text="busy, try later"), httpx.Response(409)]
    async with client() as ib:
        with pytest.raises(ConflictError) as first:
            await ib.solutions.delete(UUID)
        with pytest.raises(ConflictError) as second:
            await ib.solutions.delete(UUID)
    assert first.value.message == "busy, try later"
    assert first.value.body == "busy, try later"
    assert first.value.method == "DELETE"
    assert second.value.message
    assert second.value.body is None


@pytest.mark.anyio
async def test_rate_limit_error_has_retry_after(router: respx.MockRouter) -> None:
    """A final 429 raises RateLimitError with .retry_after from the header (None without one)."""
    route = router.get("/api/v2/x")
    route.side_effect = [httpx.Response(429, headers={"Retry-After": "2"}), httpx.Response(429)]
    async with client() as ib:
        with pytest.raises(RateLimitError) as first:
            await ib.request("GET", "/api/v2/x")
        with pytest.raises(RateLimitError) as second:
            await ib.request("GET", "/api/v2/x")
    assert first.value.retry_after == 2.0
    assert second.value.retry_after is None


@pytest.mark.anyio
async def test_operation_error_is_an_api_error(router: respx.MockRouter) -> None:
    """OperationError (v1 200 + ERROR) is an APIError with status 200, the msg and the body."""
    router.post("/api/v1/flow/restart").respond(200, json={"status": "ERROR", "msg": "unknown job"})
    async with client() as ib:
        with pytest.raises(APIError) as info:
            await ib.flows.restart("j1")
    assert type(info.value) is OperationError
    assert (info.value.status_code, info.value.message, info.value.method) == (200, "unknown job", "POST")
    assert info.value.body == {"status": "ERROR", "msg": "unknown job"}
    assert_no_token(info.value)


# ---------------------------------------------------------------------------------- no token anywhere


def test_client_repr_has_no_token() -> None:
    """repr and str of the client name the base URL, never the token."""
    ib = AsyncInstabase(BASE, TOKEN)
    assert BASE in repr(ib)
    assert TOKEN not in repr(ib)
    assert TOKEN not in str(ib)


@pytest.mark.anyio
async def test_debug_log_records_have_no_token(
    router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG the client logs method, URL and status of each attempt, never the token."""
    caplog.set_level(logging.DEBUG)
    route = router.get("/api/v2/thing")
    route.side_effect = [
        httpx.Response(503),
        httpx.Response(200, json={}),
        httpx.ConnectError("no"),
        httpx.ConnectError("no"),
    ]
    async with client(retry=RetryPolicy(max_attempts=2, initial_backoff=0)) as ib:
        await ib.request("GET", "/api/v2/thing")
        with pytest.raises(APIConnectionError):
            await ib.request("GET", "/api/v2/thing", params={"q": "1"})
    ours = [r for r in caplog.records if r.name.startswith("instabase_async")]
    assert ours
    assert all(r.levelno == logging.DEBUG for r in ours)
    messages = [r.getMessage() for r in ours]
    assert any("GET" in m and f"{BASE}/api/v2/thing" in m and "503" in m for m in messages)
    assert any("200" in m for m in messages)
    assert any("ConnectError" in m for m in messages)
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.args)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (httpx.ConnectError("connection refused"), APIConnectionError),
        (httpx.ReadError("connection reset"), APIConnectionError),
        (httpx.ReadTimeout("timed out"), APITimeoutError),
        (httpx.ConnectTimeout("timed out"), APITimeoutError),
    ],
)
async def test_connection_error_chains_the_httpx_error(
    router: respx.MockRouter, error: Exception, cls: type[APIConnectionError]
) -> None:
    """A transport failure raises APIConnectionError (APITimeoutError for timeouts) from the httpx error."""
    router.get("/api/v1/jobs/status").mock(side_effect=error)
    async with client() as ib:
        with pytest.raises(APIConnectionError) as info:
            await ib.jobs.status("j1")
    err = info.value
    assert type(err) is cls
    assert err.__cause__ is error
    assert err.method == "GET"
    assert err.url.startswith(f"{BASE}/api/v1/jobs/status?")
    assert_no_token(err)


# ---------------------------------------------------------------------------------- shapes


SHAPE_CALLS: dict[str, Callable[[AsyncInstabase], Awaitable[Any]]] = {
    "flows.run": lambda ib: ib.flows.run("f.ibflow", input_dir="in"),
    "flows.restart": lambda ib: ib.flows.restart("j"),
    "solutions.deploy": lambda ib: ib.solutions.deploy("s.ibsolution"),
    "solutions.get": lambda ib: ib.solutions.get(UUID),
    "solutions.delete": lambda ib: ib.solutions.delete(UUID),
    "solutions.run": lambda ib: ib.solutions.run(UUID, input_dir="in"),
    "solutions.run_by_name": lambda ib: ib.solutions.run_by_name("n", input_dir="in"),
    "solutions.update": lambda ib: ib.solutions.update(UUID, state="ACTIVE"),
    "solutions.list": lambda ib: drain(ib.solutions.list()),
    "solutions.jobs": lambda ib: drain(ib.solutions.jobs()),
    "endpoints.create": lambda ib: ib.endpoints.create("e", path="p", handler_script_path=HANDLER),
    "endpoints.get": lambda ib: ib.endpoints.get("e"),
    "endpoints.list": lambda ib: drain(ib.endpoints.list()),
    "files.list": lambda ib: drain(ib.files.list("o/r/fs/d")),
    "jobs.status": lambda ib: ib.jobs.status("j"),
    "location job status": lambda ib: ib.jobs.from_token(
        json.dumps({"v": 1, "job_id": "j", "type": None, "status_url": f"{BASE}/api/v2/jobs/j"})
    ).status(),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(SHAPE_CALLS))
async def test_non_json_2xx_is_validation_error(router: respx.MockRouter, name: str) -> None:
    """A 2xx body that is not JSON raises ResponseValidationError from every JSON call."""
    router.route().respond(200, text="<html>proxy page</html>")
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await SHAPE_CALLS[name](ib)


MISSING_KEYS: list[tuple[str, Any]] = [
    ("flows.run", {"status": "OK", "data": {"output_folder": "x"}}),
    ("flows.restart", {"status": "OK"}),
    ("solutions.deploy", {"id": "not job_id"}),
    ("solutions.delete", {}),
    ("solutions.run", {"jobid": "x"}),
    ("solutions.run_by_name", {"job_id": None}),
    ("solutions.get", {"solution": {"name": "no id"}}),
    ("solutions.get", {"solutions": [{"id": "x"}]}),
    ("solutions.update", {"solution": {}}),
    ("solutions.list", {"has_more": [False], "next_offset": [-1]}),
    ("solutions.list", {"has_more": [False], "solutions": [{"name": "no id"}]}),
    ("solutions.jobs", {"jobs": [{"state": "RUNNING"}]}),
    ("endpoints.create", {}),
    ("endpoints.get", {"path": "p"}),
    ("endpoints.list", {"endpoints": [{"path": "p"}]}),
    ("files.list", {"nodes": [{"node_type": "file"}]}),
    ("jobs.status", ["not", "an", "object"]),
    ("location job status", "a string"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "answer"), MISSING_KEYS)
async def test_missing_required_keys_are_validation_errors(
    router: respx.MockRouter, name: str, answer: Any
) -> None:
    """A 2xx JSON body missing a required key raises ResponseValidationError, never KeyError."""
    router.route().respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await SHAPE_CALLS[name](ib)


# ---------------------------------------------------------------------------------- bad input


async def _enter(manager: Any) -> None:
    async with manager:
        pass


async def _now(call: Callable[[], Any]) -> Any:
    return call()


async def _wait_negative(ib: AsyncInstabase) -> Any:
    return await ib.jobs.from_id("j").wait(timeout=-1)


BAD_INPUT: list[tuple[str, Callable[[AsyncInstabase], Awaitable[Any]], type[Exception]]] = [
    (
        "solutions.run job_id > 50",
        lambda ib: ib.solutions.run(UUID, input_dir="i", job_id="x" * 51),
        ValueError,
    ),
    (
        "run_by_name job_id > 50",
        lambda ib: ib.solutions.run_by_name("n", input_dir="i", job_id="j" * 51),
        ValueError,
    ),
    ("solutions.run empty job_id", lambda ib: ib.solutions.run(UUID, input_dir="i", job_id=""), ValueError),
    ("solutions.run empty input", lambda ib: ib.solutions.run(UUID, input_dir=""), ValueError),
    ("solutions.run bad settings", lambda ib: ib.solutions.run(UUID, input_dir="i", settings=42), TypeError),  # type: ignore[arg-type]
    ("solutions.run empty id", lambda ib: ib.solutions.run("", input_dir="i"), ValueError),
    ("solutions.get empty id", lambda ib: ib.solutions.get(""), ValueError),
    ("solutions.get non-str id", lambda ib: ib.solutions.get(None), TypeError),  # type: ignore[arg-type]
    ("solutions.deploy empty", lambda ib: ib.solutions.deploy(""), ValueError),
    ("solutions.update nothing", lambda ib: ib.solutions.update(UUID), ValueError),
    (
        "solutions.update bad visibility",
        lambda ib: ib.solutions.update(UUID, visibility="public"),
        ValueError,
    ),
    ("solutions.update bad state", lambda ib: ib.solutions.update(UUID, state="ON"), ValueError),
    ("solutions.list bad state", lambda ib: drain(ib.solutions.list(state="RUNNING")), ValueError),
    ("solutions.list page_size 0", lambda ib: drain(ib.solutions.list(page_size=0)), ValueError),
    ("solutions.jobs bad sort_by", lambda ib: drain(ib.solutions.jobs(sort_by="date")), ValueError),
    ("solutions.jobs bad order", lambda ib: drain(ib.solutions.jobs(order="UP")), ValueError),
    ("solutions.jobs empty user", lambda ib: drain(ib.solutions.jobs(user=[""])), ValueError),
    ("flows.run empty path", lambda ib: ib.flows.run("", input_dir="i"), ValueError),
    ("flows.run empty input", lambda ib: ib.flows.run("f", input_dir=""), ValueError),
    ("flows.run tags str", lambda ib: ib.flows.run("f", input_dir="i", tags="a"), TypeError),
    ("flows.run step_timeout -2", lambda ib: ib.flows.run("f", input_dir="i", step_timeout=-2), ValueError),
    ("flows.run bool as str", lambda ib: ib.flows.run("f", input_dir="i", output_has_run_id="y"), TypeError),  # type: ignore[arg-type]
    ("flows.run_step negative", lambda ib: ib.flows.run_step("f", -1), ValueError),
    ("flows.run_step bool", lambda ib: ib.flows.run_step("f", True), TypeError),
    ("flows.run_step float", lambda ib: ib.flows.run_step("f", 1.0), TypeError),  # type: ignore[arg-type]
    (
        "flows.process_files bad type",
        lambda ib: ib.flows.process_files(input_folder="i", output_folder="o", process_type="docx"),
        ValueError,
    ),
    ("flows.restart empty", lambda ib: ib.flows.restart(""), ValueError),
    (
        "flows.run_metaflow empty",
        lambda ib: ib.flows.run_metaflow(input_dir="", flow_root_dir="f", classifier_file_path="c"),
        ValueError,
    ),
    (
        "endpoint path slash",
        lambda ib: ib.endpoints.create("e", path="a/b", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint path space",
        lambda ib: ib.endpoints.create("e", path="a b", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint path dot",
        lambda ib: ib.endpoints.create("e", path="a.b", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint path unicode",
        lambda ib: ib.endpoints.create("e", path="hé", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint path empty",
        lambda ib: ib.endpoints.create("e", path="", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint empty id",
        lambda ib: ib.endpoints.create("", path="p", handler_script_path=HANDLER),
        ValueError,
    ),
    (
        "endpoint empty handler",
        lambda ib: ib.endpoints.create("e", path="p", handler_script_path=""),
        ValueError,
    ),
    ("update empty path", lambda ib: ib.endpoints.update("e", path=""), ValueError),
    ("update empty handler", lambda ib: ib.endpoints.update("e", handler_script_path=""), ValueError),
    ("update nothing", lambda ib: ib.endpoints.update("e"), ValueError),
    ("update enabled str", lambda ib: ib.endpoints.update("e", enabled="yes"), TypeError),  # type: ignore[arg-type]
    ("call path slash", lambda ib: ib.endpoints.call("a/b"), ValueError),
    ("call path dotdot", lambda ib: ib.endpoints.call(".."), ValueError),
    ("call bad method", lambda ib: ib.endpoints.call("p", "TRACE"), ValueError),
    ("call json and content", lambda ib: ib.endpoints.call("p", "PUT", json={}, content=b"x"), ValueError),
    ("endpoints.list page_size 0", lambda ib: drain(ib.endpoints.list(page_size=0)), ValueError),
    ("files.read range reversed", lambda ib: ib.files.read(FILE, range=(5, 2)), ValueError),
    ("files.read range negative", lambda ib: ib.files.read(FILE, range=(-1, 3)), ValueError),
    ("files.read range shape", lambda ib: ib.files.read(FILE, range=(0,)), TypeError),  # type: ignore[arg-type]
    ("files.write int data", lambda ib: ib.files.write(FILE, 123), TypeError),  # type: ignore[arg-type]
    ("files.write overwrite str", lambda ib: ib.files.write(FILE, b"x", overwrite="no"), TypeError),  # type: ignore[arg-type]
    ("files.stream chunk 0", lambda ib: _enter(ib.files.stream(FILE, chunk_size=0)), ValueError),
    ("jobs.from_id empty", lambda ib: _now(lambda: ib.jobs.from_id("")), ValueError),
    ("jobs.status empty", lambda ib: ib.jobs.status(""), ValueError),
    ("jobs.from_token junk", lambda ib: _now(lambda: ib.jobs.from_token("nope")), ValueError),
    (
        "jobs.from_token other origin",
        lambda ib: _now(
            lambda: ib.jobs.from_token(
                json.dumps({"v": 1, "job_id": "j", "status_url": "https://evil.test/j"})
            )
        ),
        ValueError,
    ),
    ("job.wait negative timeout", _wait_negative, ValueError),
    ("request relative path", lambda ib: ib.request("GET", "api/v1/x"), ValueError),
    ("request other host", lambda ib: ib.request("GET", "//evil.test/x"), ValueError),
    ("request absolute url", lambda ib: ib.request("GET", "https://evil.test/x"), ValueError),
    (
        "request json and content",
        lambda ib: ib.request("POST", "/api/v1/x", json={}, content=b"x"),
        ValueError,
    ),
    ("request empty method", lambda ib: ib.request("", "/api/v1/x"), ValueError),
    (
        "request own authorization",
        lambda ib: ib.request("GET", "/api/v1/x", headers={"authorization": "Bearer other"}),
        ValueError,
    ),
    (
        "call own authorization",
        lambda ib: ib.endpoints.call("p", headers={"Authorization": "Basic x"}),
        ValueError,
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "call", "exc"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT])
async def test_bad_input_raises_before_any_request(
    router: respx.MockRouter,
    name: str,
    call: Callable[[AsyncInstabase], Awaitable[Any]],
    exc: type[Exception],
) -> None:
    """Arguments the documents rule out raise ValueError/TypeError and nothing is sent."""
    router.route().respond(200, json={"status": "OK", "job_id": "j", "data": {"job_id": "j"}})
    async with client() as ib:
        with pytest.raises(exc):
            await call(ib)
    assert router.calls.call_count == 0


BAD_PATHS = ["", "/", "a//b", "a/./b", "a/../b", "a/b/", ".", "..", "../a", "a/b/..", "a\x00b"]

FILE_OPS: dict[str, Callable[[AsyncInstabase, str, Path], Awaitable[Any]]] = {
    "read": lambda ib, p, _t: ib.files.read(p),
    "write": lambda ib, p, _t: ib.files.write(p, b"x"),
    "stat": lambda ib, p, _t: ib.files.stat(p),
    "exists": lambda ib, p, _t: ib.files.exists(p),
    "delete": lambda ib, p, _t: ib.files.delete(p),
    "list": lambda ib, p, _t: drain(ib.files.list(p)),
    "mkdir": lambda ib, p, _t: ib.files.mkdir(p),
    "stream": lambda ib, p, _t: _enter(ib.files.stream(p)),
    "download": lambda ib, p, t: ib.files.download(p, t / "out.bin"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("op", sorted(FILE_OPS))
async def test_bad_file_paths_raise_before_any_request(
    router: respx.MockRouter, tmp_path: Path, op: str
) -> None:
    """Empty, '.' or '..' segments or a NUL in a file path: ValueError from every file call, nothing sent."""
    router.route().respond(200, json={"nodes": []})
    async with client() as ib:
        for path in BAD_PATHS:
            if path == "a/b/" and op in ("list", "mkdir"):
                continue  # a trailing '/' on a folder path is ignored (SPEC "Files")
            with pytest.raises(ValueError):
                await FILE_OPS[op](ib, path, tmp_path)
    assert router.calls.call_count == 0
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("base_url", "kwargs"),
    [
        ("http://ib.example.com", {}),
        ("http://10.0.0.5:8080", {}),
        ("ftp://ib.test", {}),
        ("ib.test", {}),
        ("", {}),
        ("https://ib.test/?q=1", {}),
        ("https://ib.test", {"max_connections": 0}),
        ("https://ib.test", {"timeout": 0}),
        ("https://ib.test", {"headers": {"authorization": "Bearer other"}}),
    ],
)
def test_constructor_refuses_bad_configuration(base_url: str, kwargs: dict[str, Any]) -> None:
    """The constructor raises ValueError for plain http to a remote host and other bad settings."""
    with pytest.raises(ValueError) as info:
        AsyncInstabase(base_url, TOKEN, **kwargs)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("token", ["", "a\nb"])
def test_constructor_refuses_bad_tokens(token: str) -> None:
    """An empty token or one with line breaks is a ValueError."""
    with pytest.raises(ValueError):
        AsyncInstabase(BASE, token)


@pytest.mark.parametrize(
    "base_url",
    ["http://localhost:8080", "http://127.0.0.1:9000", "http://[::1]:8000", "https://ib.test/prefix/"],
)
def test_constructor_accepts_https_and_loopback_http(base_url: str) -> None:
    """https anywhere and plain http to loopback are accepted; the trailing slash is dropped."""
    assert AsyncInstabase(base_url, TOKEN).base_url == base_url.rstrip("/")


def test_insecure_http_needs_opt_in() -> None:
    """allow_insecure_http=True lets plain http reach a non-loopback host."""
    ib = AsyncInstabase("http://ib.example.com", TOKEN, allow_insecure_http=True)
    assert ib.base_url == "http://ib.example.com"


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads INSTABASE_URL and INSTABASE_TOKEN, and says which is missing."""
    monkeypatch.setenv("INSTABASE_URL", BASE)
    monkeypatch.setenv("INSTABASE_TOKEN", TOKEN)
    assert AsyncInstabase.from_env().base_url == BASE
    monkeypatch.delenv("INSTABASE_TOKEN")
    with pytest.raises(ValueError, match="INSTABASE_TOKEN"):
        AsyncInstabase.from_env()


@pytest.mark.parametrize("kwargs", [{"retries": 0}, {"backoff_seconds": 0}, {"retries": True}])
def test_server_retry_needs_positive_ints(kwargs: dict[str, Any]) -> None:
    """ServerRetry values must be integers > 0, as the IB-Retry-Config header requires."""
    with pytest.raises(ValueError):
        ServerRetry(**kwargs)
