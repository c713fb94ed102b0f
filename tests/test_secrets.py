"""Secrets: the token never shows up in a repr, a log record, an error, a traceback or a job token,
and it is never sent to another origin (redirects, `Location` headers, job tokens)."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator

import anyio
import anyio.abc
import httpx
import pytest

from instabase_async import (
    APIConnectionError,
    APIError,
    AsyncInstabase,
    InstabaseError,
    JobFailedError,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
)
from instabase_async.testing import FakeInstabase, Outcome

TOKEN = "tok-SECRET-7f3a9c0e5b1d-secrets"
BASE = "https://ib.test"
FLOW = "me/repo/fs/Instabase Drive/flow/a.ibflow"
INPUT = "me/repo/fs/Instabase Drive/in"
FILE = "me/repo/fs/Instabase Drive/a.txt"
FAST = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)


class Recorder:
    """A MockTransport handler that records every request it sees, with its host and headers."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert TOKEN[4:20] not in text  # no fragment either


def assert_error_clean(err: BaseException) -> None:
    for text in (
        str(err),
        repr(err),
        *map(repr, err.args),
        repr(vars(err)),
        "".join(traceback.format_exception(err)),
    ):
        assert_clean(text)


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fake that accepts TOKEN; jobs end at their second poll."""
    instance = FakeInstabase(token=TOKEN, job_polls=1, seed=3)
    yield instance
    instance.close()


# ---------------------------------------------------------------------------------- reprs and tokens


@pytest.mark.anyio
async def test_reprs_and_job_tokens_carry_no_token(fake: FakeInstabase) -> None:
    """repr/str of the client, a Job, its JobStatus and its to_token() never contain the token."""
    fake.set_next_outcomes([Outcome.error("nope")])
    async with fake.client(poll=PollPolicy(initial=0)) as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
        status = await job.wait(raise_on_failure=False)
        with pytest.raises(JobFailedError) as failed:
            await job.wait()
        for text in (repr(ib), str(ib), repr(job), str(job), repr(status), str(status), job.to_token()):
            assert_clean(text)
        assert_error_clean(failed.value)
        assert json.loads(job.to_token())["job_id"] == job.job_id
        assert repr(ib.jobs.from_token(job.to_token())) == repr(job)


# ---------------------------------------------------------------------------------- errors


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 412, 429, 500, 503])
async def test_api_errors_carry_no_token(fake: FakeInstabase, status: int) -> None:
    """Every mapped APIError: message, repr, attributes and formatted traceback are clean."""
    fake.faults.add("files.get", status=status, retry_after=0 if status == 429 else None)
    async with fake.client(retry=RetryPolicy.disabled()) as ib:
        with pytest.raises(APIError) as info:
            await ib.files.read(FILE)
    assert info.value.status_code == status
    assert_error_clean(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("convention", ["v2-status", "v1-error-body", "request-v1"])
async def test_error_body_echoing_the_token_is_redacted(convention: str) -> None:
    """A server that echoes the Authorization header in an error body does not put the token in the error."""

    def echo(request: httpx.Request) -> httpx.Response:
        said = f"bad header {request.headers['Authorization']}"
        if convention == "v2-status":
            return httpx.Response(400, json={"message": said})
        return httpx.Response(200, json={"status": "ERROR", "msg": said, "echo": {"auth": said}})

    recorder = Recorder(echo)
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        calls = {
            "v2-status": lambda: ib.files.read(FILE),
            "v1-error-body": lambda: ib.endpoints.get("e"),
            "request-v1": lambda: ib.request("GET", "/api/v1/account/info"),
        }
        with pytest.raises(APIError) as info:
            await calls[convention]()
    assert_error_clean(info.value)
    assert "bad header" in info.value.message


@pytest.mark.anyio
async def test_connection_error_traceback_is_clean(fake: FakeInstabase) -> None:
    """format_exception of an APIConnectionError, its httpx cause chained in, never shows the token."""
    fake.faults.add("flow.run", drop=True)
    async with fake.serve() as url, AsyncInstabase(url, TOKEN, retry=FAST) as ib:
        with pytest.raises(APIConnectionError) as info:
            await ib.flows.run(FLOW, input_dir=INPUT)
    err = info.value
    assert isinstance(err.__cause__, httpx.TransportError)
    formatted = "".join(traceback.format_exception(err))
    assert "RemoteProtocolError" in formatted
    assert_error_clean(err)


# Answers a hostile server may send back with the request's Authorization header pasted in:
# the parsers of both transports quote the bad line in their error.
MALFORMED = [
    f"HTTP/1.1 200 OK\r\nEcho Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n{{}}",
    f"HTTP/1.1 2xx Bearer {TOKEN}\r\nContent-Length: 2\r\n\r\n{{}}",
]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", MALFORMED, ids=["header line", "status line"])
@pytest.mark.parametrize("call", ["request", "status"])
async def test_a_malformed_answer_quoting_the_token_is_redacted(answer: str, call: str) -> None:
    """A transport's parse error that quotes an echoed token is an APIConnectionError without it."""

    async def reply(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(answer.encode())

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    with anyio.fail_after(10):
        async with listener, anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, reply)
            base = f"http://127.0.0.1:{port}"
            async with AsyncInstabase(base, TOKEN, retry=RetryPolicy.disabled()) as ib:
                with pytest.raises(APIConnectionError) as info:
                    await (
                        ib.request("GET", "/api/v1/x") if call == "request" else ib.jobs.from_id("j").status()
                    )
            tg.cancel_scope.cancel()
    assert "[REDACTED]" in str(info.value)
    assert_error_clean(info.value)


@pytest.mark.anyio
async def test_validation_errors_carry_no_token() -> None:
    """A garbage 2xx body is a ResponseValidationError whose text has no token."""

    def garbage(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>" + request.headers["Authorization"].encode())

    recorder = Recorder(garbage)
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        with pytest.raises(ResponseValidationError) as info:
            await ib.solutions.get("s1")
    assert_error_clean(info.value)


# ---------------------------------------------------------------------------------- logs


@pytest.mark.anyio
async def test_debug_logs_carry_no_token(fake: FakeInstabase, caplog: pytest.LogCaptureFixture) -> None:
    """Every log record at DEBUG (ours, httpx's, httpcore's) over retries, errors and waits is clean."""
    fake.faults.add("jobs.status", status=503, times=2)
    fake.faults.add("jobs.status", status=429, retry_after=0, times=1)
    fake.faults.add("jobs.status", drop=True, times=1)
    fake.faults.add("files.get", status=404)
    caplog.set_level(logging.DEBUG)
    async with (
        fake.serve() as url,
        AsyncInstabase(
            url,
            TOKEN,
            retry=RetryPolicy(max_attempts=6, initial_backoff=0, max_backoff=0),
            poll=PollPolicy(initial=0),
        ) as ib,
    ):
        job = await ib.flows.run(FLOW, input_dir=INPUT)
        await job.wait(timeout=30)
        with pytest.raises(APIError):
            await ib.files.read(FILE)
    assert any(r.name == "instabase_async" for r in caplog.records)
    for record in caplog.records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))
        assert_clean(repr(record.__dict__))
    assert_clean(caplog.text)


# ---------------------------------------------------------------------------------- other origins


def redirect_to(location: str) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "ib.test":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, json={"stolen": request.headers.get("Authorization")})

    return answer


@pytest.mark.anyio
@pytest.mark.parametrize("follow", [False, True], ids=["own-client", "injected-client-following-redirects"])
async def test_redirect_to_another_host_is_not_followed(follow: bool) -> None:
    """A 3xx whose Location names another host is an error; that host receives nothing at all."""
    recorder = Recorder(redirect_to("https://evil.test/steal"))
    if follow:
        http_client = httpx.AsyncClient(transport=recorder.transport(), follow_redirects=True)
        ib = AsyncInstabase(BASE, TOKEN, http_client=http_client, retry=FAST)
    else:
        http_client = None
        ib = AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST)
    try:
        async with ib:
            with pytest.raises(APIError) as info:
                await ib.files.read(FILE)
            with pytest.raises(InstabaseError):
                await ib.jobs.status("j1")
    finally:
        if http_client is not None:
            await http_client.aclose()
    assert info.value.status_code == 302
    assert set(recorder.hosts()) == {"ib.test"}
    assert_error_clean(info.value)


OTHER_ORIGINS = [
    "https://evil.test/api/v2/files/delete/jobs/1",
    "//evil.test/api/v2/files/delete/jobs/1",
    "http://ib.test/api/v2/files/delete/jobs/1",  # a downgrade to plain http
    "https://ib.test:8443/api/v2/files/delete/jobs/1",  # another port
    "https://ib.test.evil.test/api/v2/files/delete/jobs/1",
    "https://user@evil.test/jobs/1",
]


@pytest.mark.anyio
@pytest.mark.parametrize("location", OTHER_ORIGINS)
async def test_delete_location_on_another_origin_is_refused(location: str) -> None:
    """files.delete whose 202 Location names another origin: ResponseValidationError, nothing sent there."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(202, headers={"Location": location})
        return httpx.Response(200, json={"state": "COMPLETE"})

    recorder = Recorder(answer)
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        with pytest.raises(ResponseValidationError) as info:
            await ib.files.delete(FILE)
    assert [r.method for r in recorder.requests] == ["DELETE"]
    assert set(recorder.hosts()) == {"ib.test"}
    assert_error_clean(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "location", ["/api/v2/files/delete/jobs/7", "https://ib.test/api/v2/files/delete/jobs/7"]
)
async def test_delete_location_on_the_same_origin_is_followed(location: str) -> None:
    """A relative or same-origin Location is polled, with the token, on the base URL's host."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(202, headers={"Location": location})
        return httpx.Response(200, json={"state": "COMPLETE"})

    recorder = Recorder(answer)
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        job = await ib.files.delete(FILE)
        status = await job.wait(poll=PollPolicy(initial=0))
    assert status.succeeded
    assert recorder.requests[-1].url == httpx.URL("https://ib.test/api/v2/files/delete/jobs/7")


@pytest.mark.anyio
@pytest.mark.parametrize("status_url", OTHER_ORIGINS)
async def test_job_token_naming_another_origin_is_refused(status_url: str) -> None:
    """from_token with a status_url on another origin is a ValueError; nothing is sent anywhere."""
    recorder = Recorder(lambda r: httpx.Response(200, json={"state": "COMPLETE"}))
    token = json.dumps(
        {"v": 1, "job_id": "j1", "type": None, "status_url": status_url, "output_folder": None}
    )
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        with pytest.raises(ValueError, match="another origin"):
            ib.jobs.from_token(token)
    assert recorder.requests == []


@pytest.mark.anyio
async def test_request_to_another_origin_is_impossible() -> None:
    """ib.request takes an API path only: an absolute or scheme-relative URL is refused before sending."""
    recorder = Recorder(lambda r: httpx.Response(200, json={}))
    async with AsyncInstabase(BASE, TOKEN, transport=recorder.transport(), retry=FAST) as ib:
        for path in ("https://evil.test/api/v1/x", "//evil.test/api/v1/x", "api/v1/x"):
            with pytest.raises(ValueError):
                await ib.request("GET", path)
        await ib.request("GET", "/api/v1/x")
    assert recorder.hosts() == ["ib.test"]
    assert recorder.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_plain_http_to_a_remote_host_is_refused() -> None:
    """The token is never sent over plain http to a host that is not loopback (unless opted in)."""
    with pytest.raises(ValueError, match="plain http"):
        AsyncInstabase("http://ib.example.com", TOKEN)
    for url in ("http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000"):
        AsyncInstabase(url, TOKEN)
