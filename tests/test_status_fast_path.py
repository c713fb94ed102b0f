"""Status polls over a real socket keep every promise, whichever way they are sent.

On asyncio with the aiohttp extra, a status poll skips httpx's client layer (`HTTP.get_json`);
on trio or without the extra it goes through httpx. The same scripted server answers both, so
these tests pin that the fast path keeps auth, retries, the shared 429 back-off, error mapping,
the v1 ERROR convention, the token rules, content decoding and cookies.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

from instabase_async import (
    APIConnectionError,
    AsyncInstabase,
    JobState,
    OperationError,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
)
from instabase_async._transport import fast_transport_available

pytestmark = pytest.mark.anyio

TOKEN = "sekrit-token-123"
DONE = {"status": "OK", "state": "DONE", "results": [{"status": "OK"}]}
DROP = b""  # close the connection instead of answering


def answer(status: int, body: bytes | dict[str, Any], *headers: tuple[str, str]) -> bytes:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


class Script:
    """A loopback HTTP/1.1 server answering each request with the next scripted answer."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = answers
        self.requests: list[str] = []

    async def handle(self, stream: SocketStream) -> None:
        buffer = b""
        async with stream:
            while self.answers:
                while b"\r\n\r\n" not in buffer:
                    try:
                        buffer += await stream.receive()
                    except (anyio.EndOfStream, anyio.BrokenResourceError):
                        return
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.requests.append(head.decode())
                reply = self.answers.pop(0)
                if reply == DROP:
                    return
                await stream.send(reply)


@asynccontextmanager
async def serve(answers: list[bytes], **options: Any) -> AsyncIterator[tuple[AsyncInstabase, Script]]:
    script = Script(answers)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, script.handle)
        options.setdefault("retry", RetryPolicy(initial_backoff=0, max_backoff=0))
        async with AsyncInstabase(f"http://127.0.0.1:{port}", TOKEN, **options) as ib:
            yield ib, script
        tg.cancel_scope.cancel()
    await listener.aclose()


def header(request: str, name: str) -> str | None:
    for line in request.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


async def test_status_poll_sends_auth_and_the_status_query() -> None:
    """A poll is one GET of the v1 status URL with the bearer token and the client's headers."""
    with anyio.fail_after(10):
        async with serve([answer(200, DONE)], headers={"X-Team": "ops"}) as (ib, script):
            status = await ib.jobs.status("j 1")
            if fast_transport_available():
                assert ib._http._fetch is not None  # the fast path is the one under test here
    assert status.state is JobState.COMPLETE
    (request,) = script.requests
    assert request.startswith("GET /api/v1/jobs/status?job_id=j")
    assert "type=flow" in request.split("\r\n")[0]
    assert header(request, "Authorization") == f"Bearer {TOKEN}"
    assert header(request, "X-Team") == "ops"


async def test_server_errors_and_drops_are_retried() -> None:
    """A 503 and a dropped connection are retried; the third answer is taken."""
    with anyio.fail_after(10):
        async with serve([answer(503, {"message": "busy"}), DROP, answer(200, DONE)]) as (ib, script):
            status = await ib.jobs.status("j1")
    assert status.state is JobState.COMPLETE
    assert len(script.requests) == 3


async def test_rate_limit_slows_the_whole_client() -> None:
    """A 429 with Retry-After is waited out (and sets the client-wide back-off) before the retry."""
    with anyio.fail_after(10):
        async with serve([answer(429, {}, ("Retry-After", "0.3")), answer(200, DONE)]) as (ib, script):
            started = anyio.current_time()
            await ib.jobs.status("j1")
            assert anyio.current_time() - started >= 0.25
    assert len(script.requests) == 2


async def test_v1_error_body_is_an_operation_error_without_the_token() -> None:
    """HTTP 200 with status ERROR is an OperationError; an echoed token is redacted."""
    body = {"status": "ERROR", "msg": f"no job here for Bearer {TOKEN}"}
    with anyio.fail_after(10):
        async with serve([answer(200, body)]) as (ib, _):
            with pytest.raises(OperationError) as caught:
                await ib.jobs.status("j1")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.body)


async def test_error_status_past_retries_is_mapped_without_the_token() -> None:
    """A 500 past the retries is a ServerError whose message never shows the token."""
    answers = [answer(500, {"message": f"boom {TOKEN}"})] * 2
    with anyio.fail_after(10):
        async with serve(answers, retry=RetryPolicy(max_attempts=2, initial_backoff=0)) as (ib, script):
            with pytest.raises(ServerError) as caught:
                await ib.jobs.status("j1")
    assert TOKEN not in str(caught.value)
    assert len(script.requests) == 2


async def test_connection_lost_past_retries_is_a_connection_error() -> None:
    """Dropped on every attempt: an APIConnectionError once the attempts are spent."""
    with anyio.fail_after(10):
        async with serve([DROP, DROP], retry=RetryPolicy(max_attempts=2, initial_backoff=0)) as (ib, script):
            with pytest.raises(APIConnectionError):
                await ib.jobs.status("j1")
    assert len(script.requests) == 2


async def test_gzip_body_is_decoded() -> None:
    """A gzip-encoded status answer is decoded as httpx would."""
    good = answer(200, gzip.compress(json.dumps(DONE).encode()), ("Content-Encoding", "gzip"))
    with anyio.fail_after(10):
        async with serve([good]) as (ib, _):
            assert (await ib.jobs.status("j1")).state is JobState.COMPLETE


async def test_broken_gzip_on_the_fast_path_is_a_validation_error() -> None:
    """A body that claims gzip but is not is a ResponseValidationError, not a raw httpx error."""
    if not fast_transport_available():
        pytest.skip("the fast path runs on asyncio with the aiohttp extra")
    bad = answer(200, b"not gzip at all", ("Content-Encoding", "gzip"))
    with anyio.fail_after(10):
        async with serve([bad], retry=RetryPolicy.disabled()) as (ib, _):
            with pytest.raises(ResponseValidationError):
                await ib.jobs.status("j2")


async def test_body_that_is_not_json_is_a_validation_error() -> None:
    """A 200 whose body is not JSON is a ResponseValidationError naming the call, not the token."""
    with anyio.fail_after(10):
        async with serve([answer(200, b"<html>oops</html>")]) as (ib, _):
            with pytest.raises(ResponseValidationError) as caught:
                await ib.jobs.status("j1")
    assert "/api/v1/jobs/status" in str(caught.value)
    assert TOKEN not in str(caught.value)


async def test_cookie_set_by_a_status_answer_is_sent_back() -> None:
    """A cookie set on a status answer is kept and sent with the next request."""
    first = answer(200, {"status": "OK", "state": "PENDING"}, ("Set-Cookie", "lb=node7; Path=/"))
    with anyio.fail_after(10):
        async with serve([first, answer(200, DONE)]) as (ib, script):
            assert (await ib.jobs.status("j1")).state is JobState.PENDING
            assert (await ib.jobs.status("j1")).state is JobState.COMPLETE
    assert header(script.requests[0], "Cookie") is None
    assert header(script.requests[1], "Cookie") == "lb=node7"


async def test_retry_after_on_a_status_answer_stretches_the_next_poll() -> None:
    """A Retry-After header on a successful status answer reaches the waiting (the next poll waits)."""
    pending = answer(200, {"status": "OK", "state": "PENDING"}, ("Retry-After", "0.4"))
    with anyio.fail_after(10):
        async with serve([pending, answer(200, DONE)]) as (ib, script):
            started = anyio.current_time()
            status = await ib.jobs.from_id("j1").wait(poll=PollPolicy(initial=0, maximum=0))
            assert anyio.current_time() - started >= 0.35
    assert status.state is JobState.COMPLETE
    assert len(script.requests) == 2
