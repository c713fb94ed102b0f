"""The client's configuration and lifecycle: URLs, secrets, pools, closing."""

from __future__ import annotations

import gc
import warnings

import httpx
import pytest

from instabase_async import AsyncInstabase, PollPolicy, RetryPolicy


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"status": "OK", "state": "DONE", "results": []})


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080",
        "http://127.0.0.1",
        "http://[::1]:9000",
        "https://www.instabase.com",
        "https://h/prefix/",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    """https anywhere and plain http on loopback are accepted; a trailing slash is dropped."""
    client = AsyncInstabase(url, "tok")
    assert not client.base_url.endswith("/")


@pytest.mark.parametrize(
    ("url", "token"),
    [
        ("http://ib.example.com", "tok"),
        ("ftp://ib.example.com", "tok"),
        ("ib.example.com", "tok"),
        ("", "tok"),
        ("https://ib.example.com", ""),
        ("https://ib.example.com?x=1", "tok"),
        ("https://ib.example.com", "a\nb"),
    ],
)
def test_rejected_base_urls_and_tokens(url: str, token: str) -> None:
    """Plain http to a remote host, non-http schemes, and empty tokens are ValueErrors."""
    with pytest.raises(ValueError):
        AsyncInstabase(url, token)


def test_insecure_http_needs_the_opt_in() -> None:
    """allow_insecure_http=True permits plain http to a remote host."""
    client = AsyncInstabase("http://ib.internal", "tok", allow_insecure_http=True)
    assert client.base_url == "http://ib.internal"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": 0},
        {"timeout": 0},
        {"headers": {"Authorization": "Bearer other"}},
        {"transport": httpx.MockTransport(ok), "http_client": httpx.AsyncClient()},
    ],
)
def test_rejected_options(kwargs: dict[str, object]) -> None:
    """Options that cannot work are refused at construction."""
    with pytest.raises(ValueError):
        AsyncInstabase("https://h", "tok", **kwargs)  # type: ignore[arg-type]


def test_repr_hides_the_token() -> None:
    """Neither repr nor str of the client show the token."""
    client = AsyncInstabase("https://h", "SUPERSECRET")
    assert "SUPERSECRET" not in repr(client)
    assert "SUPERSECRET" not in str(client)
    assert "SUPERSECRET" not in repr(vars(client))


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads INSTABASE_URL and INSTABASE_TOKEN, and says which is missing."""
    monkeypatch.setenv("INSTABASE_URL", "https://env.example")
    monkeypatch.setenv("INSTABASE_TOKEN", "t")
    client = AsyncInstabase.from_env(poll=PollPolicy.fixed(1))
    assert client.base_url == "https://env.example"
    assert client.poll == PollPolicy.fixed(1)
    monkeypatch.delenv("INSTABASE_TOKEN")
    with pytest.raises(ValueError, match="INSTABASE_TOKEN"):
        AsyncInstabase.from_env()


def test_policies_default_and_override() -> None:
    """retry and poll default to the spec's policies and can be replaced."""
    client = AsyncInstabase("https://h", "t")
    assert client.retry == RetryPolicy(
        max_attempts=4, initial_backoff=0.5, max_backoff=20, max_retry_after=60
    )
    assert client.poll == PollPolicy(initial=1.0, maximum=10.0, multiplier=1.5, jitter=0.2)
    assert AsyncInstabase("https://h", "t", retry=RetryPolicy.disabled()).retry.max_attempts == 1


@pytest.mark.anyio
async def test_path_prefix_is_kept() -> None:
    """An on-premises base URL with a path prefix keeps it before /api/..."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return ok(request)

    async with AsyncInstabase("https://h/ib/", "t", transport=httpx.MockTransport(handler)) as ib:
        await ib.jobs.status("j")
    assert seen == ["/ib/api/v1/jobs/status?job_id=j&type=flow"]


@pytest.mark.anyio
async def test_every_request_carries_the_bearer_token_and_headers() -> None:
    """Each request has Authorization: Bearer <token> and the client's extra headers."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(request)

    transport = httpx.MockTransport(handler)
    async with AsyncInstabase("https://h", "tok-1", transport=transport, headers={"X-Trace": "1"}) as ib:
        await ib.jobs.status("j")
        await ib.request("GET", "/api/v1/accounts/list")
    assert [r.headers["Authorization"] for r in seen] == ["Bearer tok-1"] * 2
    assert all(r.headers["X-Trace"] == "1" for r in seen)


@pytest.mark.anyio
async def test_closed_client_refuses_requests() -> None:
    """After aclose, requests raise RuntimeError; aclose twice is harmless."""
    ib = AsyncInstabase("https://h", "t", transport=httpx.MockTransport(ok))
    await ib.jobs.status("j")
    await ib.aclose()
    await ib.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await ib.jobs.status("j")


@pytest.mark.anyio
async def test_injected_http_client_is_not_closed() -> None:
    """An http_client passed in stays open after the client closes: it is the caller's."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(ok)) as http_client:
        async with AsyncInstabase("https://h", "t", http_client=http_client) as ib:
            await ib.jobs.status("j")
        assert not http_client.is_closed
        response = await http_client.get("https://h/x")
        assert response.status_code == 200


@pytest.mark.anyio
async def test_dropping_an_open_client_warns() -> None:
    """A client garbage-collected with its pool open emits a ResourceWarning."""
    ib = AsyncInstabase("https://h", "t", transport=httpx.MockTransport(ok))
    await ib.jobs.status("j")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del ib
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


def test_unused_client_does_not_warn() -> None:
    """A client that never sent anything holds no pool, so dropping it is silent."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = AsyncInstabase("https://h", "t")
        del client
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.anyio
async def test_request_rejects_bad_paths() -> None:
    """ib.request needs an API path starting with '/', never a full URL elsewhere."""
    async with AsyncInstabase("https://h", "t", transport=httpx.MockTransport(ok)) as ib:
        for path in ("api/v1/x", "https://evil.example/api", "//evil.example/api"):
            with pytest.raises(ValueError):
                await ib.request("GET", path)
