"""Every rule of SPEC "Retries", at the wire (respx), with sleeping recorded instead of waited."""

from __future__ import annotations

import email.utils
import io
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx

from instabase_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncInstabase,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ServerError,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-retry-0123456789"
URL = "/api/v2/thing"
FILE = "o/r/fs/Instabase Drive/f.bin"
FILE_ROUTE = {"path__startswith": "/api/v2/files/"}


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every anyio.sleep instead of waiting; the clock moves on by the slept time."""
    recorded: list[float] = []
    offset = [0.0]
    real_sleep = anyio.sleep
    real_time = anyio.current_time

    async def fake_sleep(delay: float, *args: Any, **kwargs: Any) -> None:
        recorded.append(delay)
        offset[0] += max(0.0, delay)
        await real_sleep(0)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    monkeypatch.setattr(anyio, "current_time", lambda: real_time() + offset[0])
    return recorded


def client(**kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
    return AsyncInstabase(BASE, TOKEN, **kwargs)


def ok() -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


# ---------------------------------------------------------------------------------- backoff


@pytest.mark.parametrize("attempt", range(1, 11))
def test_backoff_is_full_jitter_within_the_cap(attempt: int) -> None:
    """RetryPolicy.backoff(n) is uniform in [0, min(max_backoff, initial * 2**(n-1))]."""
    random.seed(attempt)
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=20)
    cap = min(20.0, 0.5 * 2 ** (attempt - 1))
    samples = [policy.backoff(attempt) for _ in range(400)]
    assert all(0 <= s <= cap for s in samples)
    assert max(samples) > 0.8 * cap
    assert min(samples) < 0.2 * cap


def test_backoff_zero_initial_is_instant() -> None:
    """RetryPolicy(initial_backoff=0) never waits, and the defaults are the documented ones."""
    assert all(RetryPolicy(initial_backoff=0).backoff(n) == 0 for n in range(1, 20))
    assert RetryPolicy() == RetryPolicy(
        max_attempts=4, initial_backoff=0.5, max_backoff=20, max_retry_after=60
    )
    assert RetryPolicy.disabled().max_attempts == 1


@pytest.mark.anyio
async def test_backoff_delays_are_slept_between_attempts(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    """Without Retry-After, the delay between attempts is the policy's jittered backoff."""
    router.get(URL).mock(side_effect=[httpx.Response(503), httpx.Response(503), ok()])
    async with client(retry=RetryPolicy(initial_backoff=1, max_backoff=1.5)) as ib:
        await ib.request("GET", URL)
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1
    assert 0 <= sleeps[1] <= 1.5


# ---------------------------------------------------------------------------------- Retry-After


@pytest.mark.anyio
async def test_retry_after_seconds_honoured_on_503(router: respx.MockRouter, sleeps: list[float]) -> None:
    """A 503 with Retry-After: 7 waits 7 s before the retry."""
    route = router.get(URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": "7"}), ok()])
    async with client() as ib:
        await ib.request("GET", URL)
    assert route.call_count == 2
    assert sleeps == [7.0]


@pytest.mark.anyio
async def test_retry_after_seconds_honoured_on_429(router: respx.MockRouter, sleeps: list[float]) -> None:
    """A 429 with Retry-After: 3 waits about 3 s before the retry."""
    route = router.post(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "3"}), ok()])
    async with client() as ib:
        await ib.request("POST", URL, json={})
    assert route.call_count == 2
    assert 2.9 <= sum(sleeps) <= 3.0


@pytest.mark.anyio
async def test_retry_after_http_date_honoured(router: respx.MockRouter, sleeps: list[float]) -> None:
    """A Retry-After given as an HTTP date waits until that date."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    route = router.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": when}), ok()])
    async with client() as ib:
        await ib.request("GET", URL)
    assert route.call_count == 2
    assert 27 <= sum(sleeps) <= 30.5


@pytest.mark.anyio
async def test_retry_after_date_without_zone_is_utc_whatever_the_local_zone(
    router: respx.MockRouter, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Retry-After date written with `-0000` (no zone said) is UTC, not the machine's local time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        when = email.utils.formatdate(time.time() + 30)  # "... -0000", as Python's own servers write it
        route = router.get(URL).mock(side_effect=[httpx.Response(429, headers={"Retry-After": when}), ok()])
        async with client() as ib:
            await ib.request("GET", URL)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert route.call_count == 2
    assert 27 <= sum(sleeps) <= 30.5


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "policy", "expected"),
    [
        ("120", RetryPolicy(), 120.0),
        ("10", RetryPolicy(max_retry_after=5), 10.0),
        ("61", RetryPolicy(initial_backoff=0), 61.0),
    ],
)
async def test_retry_after_above_max_is_not_waited_out(
    router: respx.MockRouter, sleeps: list[float], header: str, policy: RetryPolicy, expected: float
) -> None:
    """A Retry-After above max_retry_after raises RateLimitError at once, with .retry_after set."""
    route = router.get(URL).respond(429, headers={"Retry-After": header})
    async with client(retry=policy) as ib:
        with pytest.raises(RateLimitError) as info:
            await ib.request("GET", URL)
    assert route.call_count == 1
    assert info.value.retry_after == expected
    assert info.value.status_code == 429
    assert sleeps == []


@pytest.mark.anyio
async def test_retry_after_http_date_above_max_raises(router: respx.MockRouter, sleeps: list[float]) -> None:
    """An HTTP-date Retry-After two minutes away raises RateLimitError with about 120 s."""
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    router.get(URL).respond(429, headers={"Retry-After": when})
    async with client() as ib:
        with pytest.raises(RateLimitError) as info:
            await ib.request("GET", URL)
    assert info.value.retry_after is not None
    assert 115 <= info.value.retry_after <= 121
    assert sleeps == []


@pytest.mark.anyio
async def test_429_until_attempts_run_out(router: respx.MockRouter, sleeps: list[float]) -> None:
    """Persistent 429s are tried max_attempts times, then RateLimitError carries the last Retry-After."""
    route = router.get(URL).respond(429, headers={"Retry-After": "1"})
    async with client(retry=RetryPolicy(max_attempts=3)) as ib:
        with pytest.raises(RateLimitError) as info:
            await ib.request("GET", URL)
    assert route.call_count == 3
    assert info.value.retry_after == 1.0


# ---------------------------------------------------------------------------------- method x failure

ALL_METHODS = ["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"]
IDEMPOTENT = ["GET", "HEAD", "PUT", "DELETE"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ALL_METHODS)
@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ConnectTimeout])
async def test_any_method_retried_when_never_sent(
    router: respx.MockRouter, sleeps: list[float], method: str, error: type[Exception]
) -> None:
    """Any method is retried after a connect error or connect timeout (the request never left)."""
    route = router.route(method=method, path=URL).mock(side_effect=[error("refused"), ok()])
    async with client() as ib:
        response = await ib.request(method, URL, content=b"payload" if method != "HEAD" else None)
    assert response.status_code == 200
    assert route.call_count == 2
    if method != "HEAD":
        assert [c.request.content for c in route.calls] == [b"payload", b"payload"]


@pytest.mark.anyio
@pytest.mark.parametrize("method", ALL_METHODS)
async def test_any_method_retried_on_429(router: respx.MockRouter, sleeps: list[float], method: str) -> None:
    """Any method, POST and PATCH included, is retried on 429."""
    route = router.route(method=method, path=URL).mock(side_effect=[httpx.Response(429), ok()])
    async with client() as ib:
        assert (await ib.request(method, URL)).status_code == 200
    assert route.call_count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("method", IDEMPOTENT)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_idempotent_methods_retried_on_5xx(
    router: respx.MockRouter, sleeps: list[float], method: str, status: int
) -> None:
    """GET, HEAD, PUT and DELETE are retried on 500, 502, 503 and 504."""
    route = router.route(method=method, path=URL).mock(side_effect=[httpx.Response(status), ok()])
    async with client() as ib:
        assert (await ib.request(method, URL)).status_code == 200
    assert route.call_count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("method", IDEMPOTENT)
@pytest.mark.parametrize("error", [httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_idempotent_methods_retried_on_read_errors(
    router: respx.MockRouter, sleeps: list[float], method: str, error: type[Exception]
) -> None:
    """GET, HEAD, PUT and DELETE are retried on read errors."""
    route = router.route(method=method, path=URL).mock(side_effect=[error("reset"), ok()])
    async with client() as ib:
        assert (await ib.request(method, URL)).status_code == 200
    assert route.call_count == 2


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_patch_not_retried_on_5xx(
    router: respx.MockRouter, sleeps: list[float], method: str, status: int
) -> None:
    """POST and PATCH are sent once on a 5xx: ServerError, exactly one request."""
    route = router.route(method=method, path=URL).respond(status)
    async with client() as ib:
        with pytest.raises(ServerError) as info:
            await ib.request(method, URL, json={"a": 1})
    assert route.call_count == 1
    assert info.value.status_code == status


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize(
    ("error", "raised"),
    [(httpx.ReadError, APIConnectionError), (httpx.ReadTimeout, APITimeoutError)],
)
async def test_post_patch_not_retried_on_read_errors(
    router: respx.MockRouter,
    sleeps: list[float],
    method: str,
    error: type[Exception],
    raised: type[Exception],
) -> None:
    """POST and PATCH are sent once on a read error (they may have reached the server)."""
    route = router.route(method=method, path=URL).mock(side_effect=error("reset"))
    async with client() as ib:
        with pytest.raises(raised):
            await ib.request(method, URL, json={"a": 1})
    assert route.call_count == 1


@pytest.mark.anyio
async def test_flow_run_not_retried_on_502(router: respx.MockRouter, sleeps: list[float]) -> None:
    """A flow run (a POST) answered 502 is not re-sent, so no second run can start."""
    route = router.post("/api/v1/flow/run_flow_async").respond(502)
    async with client() as ib:
        with pytest.raises(ServerError):
            await ib.flows.run("f.ibflow", input_dir="in")
    assert route.call_count == 1


@pytest.mark.anyio
@pytest.mark.parametrize("status", [400, 404, 409, 501, 505])
async def test_other_statuses_not_retried(router: respx.MockRouter, sleeps: list[float], status: int) -> None:
    """Other error statuses (4xx, 501, 505) are not retried, even for GET."""
    route = router.get(URL).respond(status)
    async with client() as ib:
        with pytest.raises(Exception) as info:
            await ib.request("GET", URL)
    assert route.call_count == 1
    assert getattr(info.value, "status_code", None) == status
    if status == 404:
        assert isinstance(info.value, NotFoundError)


# ---------------------------------------------------------------------------------- limits


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("side_effect", "raised"),
    [
        (httpx.Response(503), ServerError),
        (httpx.Response(429), RateLimitError),
        (httpx.ConnectError("refused"), APIConnectionError),
        (httpx.ReadError("reset"), APIConnectionError),
    ],
)
async def test_disabled_sends_once(
    router: respx.MockRouter, sleeps: list[float], side_effect: Any, raised: type[Exception]
) -> None:
    """RetryPolicy.disabled() sends every request exactly once."""
    route = router.get(URL)
    if isinstance(side_effect, httpx.Response):
        route.mock(return_value=side_effect)
    else:
        route.mock(side_effect=side_effect)
    async with client(retry=RetryPolicy.disabled()) as ib:
        with pytest.raises(raised):
            await ib.request("GET", URL)
    assert route.call_count == 1
    assert sleeps == []


@pytest.mark.anyio
@pytest.mark.parametrize("attempts", [1, 2, 3, 5])
async def test_max_attempts_respected(router: respx.MockRouter, sleeps: list[float], attempts: int) -> None:
    """A request failing every time is sent exactly max_attempts times."""
    route = router.get(URL).respond(503)
    async with client(retry=RetryPolicy(max_attempts=attempts, initial_backoff=0)) as ib:
        with pytest.raises(ServerError):
            await ib.request("GET", URL)
    assert route.call_count == attempts
    assert len(sleeps) == attempts - 1


@pytest.mark.anyio
async def test_connect_errors_until_attempts_run_out(router: respx.MockRouter, sleeps: list[float]) -> None:
    """Connect errors on every attempt end in APIConnectionError after max_attempts requests."""
    route = router.post(URL).mock(side_effect=httpx.ConnectError("refused"))
    async with client(retry=RetryPolicy(max_attempts=3, initial_backoff=0)) as ib:
        with pytest.raises(APIConnectionError) as info:
            await ib.request("POST", URL)
    assert route.call_count == 3
    assert isinstance(info.value.__cause__, httpx.ConnectError)


# ---------------------------------------------------------------------------------- bodies


@pytest.mark.anyio
async def test_path_body_resent_whole(router: respx.MockRouter, sleeps: list[float], tmp_path: Path) -> None:
    """A file upload from a Path is re-sent from its start, whole, on retry."""
    data = bytes(range(256)) * 9000
    local = tmp_path / "f.bin"
    local.write_bytes(data)
    route = router.put(**FILE_ROUTE).mock(
        side_effect=[httpx.Response(503), httpx.ReadError("x"), httpx.Response(204)]
    )
    async with client() as ib:
        await ib.files.write(FILE, local)
    assert route.call_count == 3
    for call in route.calls:
        assert call.request.content == data
        assert call.request.headers["Content-Length"] == str(len(data))


@pytest.mark.anyio
async def test_bytes_and_file_object_bodies_resent_whole(
    router: respx.MockRouter, sleeps: list[float]
) -> None:
    """bytes and a seekable file object are re-sent whole on retry."""
    route = router.put(**FILE_ROUTE).mock(
        side_effect=[httpx.Response(500), httpx.Response(204), httpx.Response(502), httpx.Response(204)]
    )
    async with client() as ib:
        await ib.files.write(FILE, b"bytes body")
        await ib.files.write(FILE, io.BytesIO(b"file object body"))
    assert [c.request.content for c in route.calls] == [
        b"bytes body",
        b"bytes body",
        b"file object body",
        b"file object body",
    ]


async def _one_shot() -> AsyncIterator[bytes]:
    yield b"chunk-1"
    yield b"chunk-2"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("side_effect", "raised"),
    [
        (httpx.Response(503), ServerError),
        (httpx.Response(429), RateLimitError),
        (httpx.ReadError("reset"), APIConnectionError),
    ],
)
async def test_one_shot_async_iterable_not_retried_once_started(
    router: respx.MockRouter, sleeps: list[float], side_effect: Any, raised: type[Exception]
) -> None:
    """An async-iterable body that was read cannot be replayed: no retry, even on 429."""
    route = router.put(**FILE_ROUTE)
    if isinstance(side_effect, httpx.Response):
        route.mock(side_effect=[side_effect, httpx.Response(204)])
    else:
        route.mock(side_effect=[side_effect, httpx.Response(204)])
    async with client() as ib:
        with pytest.raises(raised):
            await ib.files.write(FILE, _one_shot())
    assert route.call_count == 1
    assert route.calls.last.request.content == b"chunk-1chunk-2"


@pytest.mark.anyio
async def test_one_shot_sync_iterable_not_retried(router: respx.MockRouter, sleeps: list[float]) -> None:
    """A generator body is one-shot too: a 503 on its PUT is not retried."""
    route = router.put(**FILE_ROUTE).mock(side_effect=[httpx.Response(503), httpx.Response(204)])
    async with client() as ib:
        with pytest.raises(ServerError):
            await ib.files.write(FILE, (part for part in [b"a", b"b"]))
    assert route.call_count == 1


@pytest.mark.anyio
async def test_a_long_retry_policy_never_overflows_its_backoff(router: respx.MockRouter) -> None:
    """Over a thousand retries (a policy meant to ride out a long outage) back off without OverflowError."""
    answers = [httpx.Response(503)] * 1100 + [ok()]
    route = router.get(URL).mock(side_effect=answers)
    async with client(retry=RetryPolicy(max_attempts=2000, initial_backoff=0.5, max_backoff=0)) as ib:
        with anyio.fail_after(60):
            response = await ib.request("GET", URL)
    assert response.status_code == 200
    assert route.call_count == 1101


@pytest.mark.anyio
async def test_a_conditional_create_through_request_is_never_sent_twice(router: respx.MockRouter) -> None:
    """ib.request's PUT with If-None-Match: * is a create, not retried once it may have reached the server."""
    route = router.put(URL).mock(side_effect=[httpx.Response(503), httpx.Response(201)])
    async with client() as ib:
        with anyio.fail_after(10), pytest.raises(ServerError):
            await ib.request("PUT", URL, content=b"mine", headers={"If-None-Match": "*"})
    assert route.call_count == 1
