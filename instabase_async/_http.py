"""The one place that sends requests: auth, the concurrency limiter, retries, error mapping.

Nothing above this module knows which transport runs. Everything that reaches the server
goes through `HTTP.send` (or `HTTP.stream` for bodies read in chunks), so auth, retries and
the mapping from status codes to exceptions cannot be forgotten by an endpoint.
"""

from __future__ import annotations

import contextlib
import datetime
import email.utils
import ipaddress
import json
import logging
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Final, TypeAlias

import anyio
import httpx

from ._errors import (
    APIConnectionError,
    APITimeoutError,
    BodyDecodingError,
    OperationError,
    ResponseValidationError,
    error_for_status,
)
from ._models import RetryPolicy
from ._transport import default_transport

__all__ = [
    "HTTP",
    "BodyFactory",
    "Params",
    "call_maybe_async",
    "check_v1",
    "decode_json",
    "is_loopback",
    "parse_retry_after",
    "retry_delay",
]

log = logging.getLogger("instabase_async")

Params: TypeAlias = Mapping[str, str | int | float | bool | Sequence[str] | None]
# A request body that can be produced again from the start: retries call the factory anew.
BodyFactory: TypeAlias = Callable[[], AsyncIterable[bytes]]
# A transport's small-GET seam: (url, headers, timeouts) -> (status, headers, body read whole).
Fetch: TypeAlias = Callable[
    [str, Mapping[str, str], Mapping[str, float | None]], Awaitable[tuple[int, Mapping[str, str], bytes]]
]

_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_WRITES: Final = frozenset({"PUT", "DELETE"})
_RETRY_STATUS: Final = frozenset({500, 502, 503, 504})
_NEVER_SENT: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_MAX_MESSAGE: Final = 500
_MIN_REDACTED: Final = 8
# How many streams of any client the current task (and the tasks it started) holds open.
_STREAMS: ContextVar[int] = ContextVar("instabase_async_open_streams", default=0)


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses, where plain http cannot leak the token."""
    if host.lower() in {"localhost", "localhost."} or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": a UTC time, never the machine's local one
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _clean_params(params: Params | None) -> list[tuple[str, str]] | None:
    """Drop None values, spell booleans as JSON does, repeat a key for each item of a list."""
    if not params:
        return None
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out.append((key, "true" if value else "false"))
        elif isinstance(value, str | int | float):
            out.append((key, str(value)))
        else:
            out.extend((key, str(item)) for item in value)
    return out


def _error_message(body: Any, text: str) -> str:
    if isinstance(body, Mapping):
        for key in ("msg", "message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:_MAX_MESSAGE]
    return text[:_MAX_MESSAGE] if text else "(no message)"


def decode_json(response: httpx.Response, secret: bytes | None = None) -> Any:
    """The JSON body of a response, or `ResponseValidationError` naming the call. `secret` (the
    token), should the server echo it, is redacted first: from then on it is in no value, no
    model's repr and no error message."""
    try:
        return json.loads(_redact(response.content, secret))
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ResponseValidationError(
            f"{response.request.method} {_safe_url(response.request.url)}: the body is not JSON "
            f"(HTTP {response.status_code}, {len(response.content)} bytes)"
        ) from exc


class _OneShot:
    """Wraps a caller's async iterable body: we can tell whether it was started, so it is
    retried only if it was never read (it cannot be replayed)."""

    __slots__ = ("_source", "started")

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self._source = source
        self.started = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        async for chunk in self._source:
            yield chunk


class _Body:
    """A request body as each attempt sends it: bytes again, a factory's fresh iterable, or a
    one-shot iterable that can be sent only until it has been read."""

    __slots__ = ("_bytes", "_factory", "_one_shot")

    def __init__(self, json_body: Any, content: bytes | BodyFactory | AsyncIterable[bytes] | None) -> None:
        self._bytes: bytes | None = None
        self._factory: BodyFactory | None = None
        self._one_shot: _OneShot | None = None
        if json_body is not None:
            self._bytes = json.dumps(json_body, separators=(",", ":")).encode()
        elif isinstance(content, bytes):
            self._bytes = content
        elif callable(content):
            self._factory = content
        elif content is not None:
            self._one_shot = _OneShot(content)

    @property
    def replayable(self) -> bool:
        """False once a one-shot body has been (partly) read: it cannot be sent again."""
        return self._one_shot is None or not self._one_shot.started

    def payload(self) -> Any:
        if self._factory is not None:
            return self._factory()
        return self._one_shot if self._one_shot is not None else self._bytes


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    *,
    idempotent: bool,
    replayable: bool,
    failure: httpx.RequestError | None = None,
    status: int = 0,
    retry_after: float | None = None,
) -> float | None:
    """Whether to send again after `attempt` ended in `failure` or an error `status`, and after how
    many seconds; None means "do not": the attempts are used up, the body cannot be replayed, a
    request that may have reached the server is not idempotent, or `Retry-After` is over the cap."""
    if not replayable or attempt >= policy.max_attempts:
        return None
    if failure is not None:
        if isinstance(failure, httpx.DecodingError):
            return None  # the same bytes would come again
        # A request that never left (no connection) is safe to send again whatever its method.
        never_sent = isinstance(failure, _NEVER_SENT)
        return policy.backoff(attempt) if never_sent or idempotent else None
    if status == 429 or (idempotent and status in _RETRY_STATUS):
        if retry_after is None:
            return policy.backoff(attempt)
        return retry_after if retry_after <= policy.max_retry_after else None
    return None


class _SetCookieOnlyJar(httpx.Cookies):
    """A cookie jar that only looks at responses that set a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.AsyncClient):
    """httpx's client whose cookie jar skips responses without `Set-Cookie`: httpx parses every
    response's headers into an email.Message for its jar, about 8% of a status call's CPU."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._instabase_jar = _SetCookieOnlyJar()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._instabase_jar

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        jar = _SetCookieOnlyJar()
        jar.update(httpx.Cookies(cookies))
        self._instabase_jar = jar


class HTTP:
    """Sends requests for one client: one httpx.AsyncClient, one limiter, one retry policy."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float | httpx.Timeout | None,
        max_connections: int,
        retry: RetryPolicy,
        headers: Mapping[str, str] | None,
        transport: httpx.AsyncBaseTransport | None,
        http_client: httpx.AsyncClient | None,
    ) -> None:
        self.base_url = base_url
        self.origin = httpx.URL(base_url).copy_with(path="/", query=None, fragment=None)
        self._auth = f"Bearer {token}"
        self._secret = token.encode()
        # Redacted from successful bodies too, but only a token long enough not to be an
        # ordinary word of a body (a test's "tok" would turn "token" into "[REDACTED]en").
        self._body_secret = self._secret if len(self._secret) >= _MIN_REDACTED else None
        self.retry = retry
        self._timeout = httpx.Timeout(timeout)
        pool = self._timeout.pool
        self._pool_timeout = math.inf if pool is None else pool
        self._max_connections = max_connections
        self._transport = transport
        self._headers = dict(headers or {})
        self._client = http_client
        self._owns_client = http_client is None
        self.closed = False
        # Requests queue here, not in httpx's pool, so a burst of thousands never hits PoolTimeout.
        self.limiter = anyio.CapacityLimiter(max_connections)
        # Requests sent while a stream of the client is open in the same task (a file copied
        # through the client) draw from this reserve instead, so they never wait on the very
        # stream they are inside; the transport's pool has room for both.
        self._reserve = anyio.CapacityLimiter(max_connections)
        # When the server says "slow down" (a 429), no request of this client is sent before this
        # time (anyio's clock); the waiter reads it too, to pause its polling as a whole.
        self.backoff_until = 0.0
        # The fast path of `get_json`: the transport's `fetch`, when this client built the
        # transport itself and it has one; with the headers and timeouts httpx would send.
        self._fetch: Fetch | None = None
        self._fetch_headers: dict[str, str] = {}
        self._fetch_timeout: dict[str, float | None] = {}

    # ------------------------------------------------------------------ lifecycle

    @property
    def client(self) -> httpx.AsyncClient:
        if self.closed:
            raise RuntimeError("this AsyncInstabase client is closed")
        if self._client is None:
            # Built on first use, inside the event loop, so the transport can fit the loop (asyncio/trio).
            self._client = self._build_client()
        return self._client

    def _build_client(self) -> httpx.AsyncClient:
        transport = self._transport or default_transport(self._max_connections)
        client = _Client(transport=transport, timeout=self._timeout, follow_redirects=False)
        fetch = getattr(transport, "fetch", None)
        if self._transport is None and callable(fetch):
            self._fetch = fetch
            self._fetch_headers = {**client.headers, **self._headers, "Authorization": self._auth}
            self._fetch_timeout = client.timeout.as_dict()
        return client

    @property
    def owns_open_client(self) -> bool:
        return self._owns_client and self._client is not None and not self.closed

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._owns_client and self._client is not None:
            await self._client.aclose()

    # ------------------------------------------------------------------ urls

    def url(self, path: str) -> str:
        """An absolute URL for an API path such as `/api/v1/jobs/status`."""
        return self.base_url + path

    def same_origin(self, url: str) -> str:
        """`url` resolved against the base URL; `ValueError` if it names another origin."""
        try:
            resolved = httpx.URL(self.base_url + "/").join(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a valid URL: {exc}") from None
        if (resolved.scheme, resolved.host, resolved.port) != (
            self.origin.scheme,
            self.origin.host,
            self.origin.port,
        ):
            raise ValueError(
                f"refusing to send the token to another origin: {resolved.scheme}://{resolved.host}"
            )
        return str(resolved)

    # ------------------------------------------------------------------ sending

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Params | None = None,
        json_body: Any = None,
        content: bytes | BodyFactory | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        v1: bool = False,
        check_status: bool = True,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request with retries and return its (fully read) response.

        Raises the mapped `APIError` for an error status (unless `check_status=False`), and
        `OperationError` for a v1 `{"status": "ERROR"}` body when `v1` is set. `content` is bytes,
        a factory of async iterables (replayed on retry) or one async iterable (sent once).
        `idempotent=False` treats a PUT that must not happen twice (a create) like a POST; by
        default GET, HEAD, PUT, DELETE and OPTIONS are idempotent, but a PUT or DELETE that carries
        `If-None-Match` is a conditional change: sent again, it would fail on its own success.
        """
        if idempotent is None:
            conditional = method in _WRITES and any(key.lower() == "if-none-match" for key in headers or ())
            idempotent = method in _IDEMPOTENT and not conditional
        response = await self._attempts(
            method,
            url,
            params,
            _Body(json_body, content),
            self._request_headers(headers, json_body is not None),
            check_status=check_status,
            borrower=None,
            idempotent=idempotent,
            limiter=self._limiter(),
        )
        if v1:
            self.check_v1(response)
        return response

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[httpx.Response]:
        """Like `send`, but the body is left unread for the caller to stream; retries cover
        only getting the response head. The connection slot is held until the body is closed."""
        # A borrower per stream lets one task hold a stream and make other calls meanwhile.
        borrower = object()
        limiter = self._limiter()
        response = await self._attempts(
            method,
            url,
            params,
            _Body(None, None),
            self._request_headers(headers, False),
            check_status=True,
            borrower=borrower,
            idempotent=method in _IDEMPOTENT,
            limiter=limiter,
        )
        inside = _STREAMS.set(_STREAMS.get() + 1)
        try:
            yield response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            # The body failed mid-way (reset, timeout): the same error class as any other request.
            error = _connection_error(exc, method, response.request.url, reading=True, secret=self._secret)
            raise error from error.__cause__
        finally:
            with contextlib.suppress(ValueError):  # ValueError: closed from another context
                _STREAMS.reset(inside)
            try:
                await response.aclose()
            finally:
                # Held until the body is closed, so open connections never outnumber the pool.
                limiter.release_on_behalf_of(borrower)

    def _request_headers(self, headers: Mapping[str, str] | None, is_json: bool) -> dict[str, str]:
        if headers and any(key.lower() == "authorization" for key in headers):
            # A second Authorization header would go out beside the token: refuse it before sending.
            raise ValueError("the client sends the token itself: do not pass an Authorization header")
        merged = {**self._headers, **(headers or {}), "Authorization": self._auth}
        if is_json:
            merged["Content-Type"] = "application/json"
        return merged

    async def _attempts(
        self,
        method: str,
        url: str | httpx.URL,
        params: Params | None,
        body: _Body,
        headers: dict[str, str],
        *,
        check_status: bool,
        borrower: object | None,
        idempotent: bool,
        limiter: anyio.CapacityLimiter,
    ) -> httpx.Response:
        """Send until a response comes that is not retried; raise the mapped error for a failure.

        With a `borrower` (a stream), the body is left unread and its limiter slot held for the
        caller to release; without one, the body is read and the slot given back here."""
        client = self.client
        query = _clean_params(params)
        attempt = 0
        while True:
            attempt += 1
            await self._wait_backoff()
            request = client.build_request(
                method,
                url,
                params=query,  # type: ignore[arg-type]
                content=body.payload(),
                headers=headers,
            )
            started = time.perf_counter()
            outcome = await self._exchange(client, request, borrower, check_status, limiter)
            if isinstance(outcome, httpx.Response):
                if log.isEnabledFor(logging.DEBUG):
                    self._log(request, outcome.status_code, started, attempt)
                if outcome.status_code < 300 or not check_status:
                    return outcome
            await self._before_retry(
                request, outcome, attempt, idempotent=idempotent, replayable=body.replayable
            )

    async def _before_retry(
        self,
        request: httpx.Request,
        outcome: httpx.Response | httpx.RequestError,
        attempt: int,
        *,
        idempotent: bool,
        replayable: bool,
    ) -> None:
        """Wait before the next attempt after a failed one, or raise its mapped error if there is
        none to make. A 429 pauses every request of this client, not just this one."""
        policy = self.retry
        if isinstance(outcome, httpx.RequestError):
            where = _safe_url(request.url)
            log.debug(
                "%s %s failed on attempt %d: %s", request.method, where, attempt, type(outcome).__name__
            )
            delay = retry_delay(
                policy, attempt, idempotent=idempotent, replayable=replayable, failure=outcome
            )
            if delay is None:
                raise _connection_error(outcome, request.method, request.url, secret=self._secret)
            await anyio.sleep(delay)
            return
        status = outcome.status_code
        retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
        delay = retry_delay(
            policy,
            attempt,
            idempotent=idempotent,
            replayable=replayable,
            status=status,
            retry_after=retry_after,
        )
        if delay is None:
            raise self._error(outcome, retry_after)
        if status == 429:
            self.backoff_until = max(self.backoff_until, anyio.current_time() + delay)
        else:
            await anyio.sleep(delay)

    def _limiter(self) -> anyio.CapacityLimiter:
        return self._reserve if _STREAMS.get() else self.limiter

    async def _acquire(self, limiter: anyio.CapacityLimiter, holder: object) -> httpx.PoolTimeout | None:
        """Take a slot for `holder`, waiting at most the pool timeout; the failure if none came."""
        try:
            limiter.acquire_on_behalf_of_nowait(holder)
            return None
        except anyio.WouldBlock:
            pass
        with anyio.move_on_after(self._pool_timeout):
            await limiter.acquire_on_behalf_of(holder)
            return None
        return httpx.PoolTimeout(f"no connection slot came free within {self._pool_timeout} s")

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        borrower: object | None,
        check_status: bool,
        limiter: anyio.CapacityLimiter,
    ) -> httpx.Response | httpx.RequestError:
        """One attempt inside a limiter slot: the response, or the transport's failure.

        The slot is kept only for a stream's successful response (the caller's `borrower` then
        holds it until the body is closed); every other body is read and the slot given back."""
        holder = borrower if borrower is not None else object()
        no_slot = await self._acquire(limiter, holder)
        if no_slot is not None:
            return no_slot
        keep = False
        try:
            # Never follow a redirect, even on an injected client that would: the token goes to
            # the base URL's origin only.
            response = await client.send(request, stream=True, follow_redirects=False)
            if borrower is not None and (response.status_code < 300 or not check_status):
                keep = True
                return response
            try:
                await response.aread()
            finally:
                await response.aclose()
            return response
        except (httpx.TransportError, httpx.DecodingError) as exc:
            return exc
        finally:
            if not keep:
                limiter.release_on_behalf_of(holder)

    async def get_json(self, url: httpx.URL | str, *, v1: bool = False) -> tuple[Any, str | None]:
        """GET a small JSON document (a job's status): its decoded body and `Retry-After` header.

        On a transport this client built with a `fetch` seam (aiohttp), and while no cookie is
        kept, the request skips httpx's client layer: the same headers, limiter, shared back-off,
        retries, error mapping and v1 check as `send`, for about half the client CPU. Any answer
        other than a plain 2xx (an error status, an encoded body, a cookie) becomes an
        `httpx.Response` and is judged exactly as `send` judges it.
        """
        jar = self.client.cookies.jar  # built on first use, and with it `_fetch`
        fetch = self._fetch
        if fetch is None or jar:
            response = await self.send("GET", url, v1=v1)
            return self.json(response), response.headers.get("Retry-After")
        target = url if isinstance(url, str) else str(url)
        attempt = 0
        while True:
            attempt += 1
            await self._wait_backoff()
            started = time.perf_counter()
            try:
                status, headers, body = await self._fetch_once(fetch, target)
            except httpx.TransportError as failure:
                # A GET is idempotent and has no body to replay.
                request = httpx.Request("GET", url)
                await self._before_retry(request, failure, attempt, idempotent=True, replayable=True)
                continue
            if 200 <= status < 300 and "Content-Encoding" not in headers and "Set-Cookie" not in headers:
                if log.isEnabledFor(logging.DEBUG):
                    self._log(httpx.Request("GET", url), status, started, attempt)
                if v1 and b"ERROR" in body:
                    self.check_v1(self._response(url, status, headers, body))
                try:
                    return json.loads(_redact(body, self._body_secret)), headers.get("Retry-After")
                except (ValueError, RecursionError):
                    return self.json(self._response(url, status, headers, body)), None
            response = self._judged(url, status, headers, body, started, attempt)
            if status < 300:
                if v1:
                    self.check_v1(response)
                return self.json(response), response.headers.get("Retry-After")
            await self._before_retry(response.request, response, attempt, idempotent=True, replayable=True)

    async def _fetch_once(self, fetch: Fetch, target: str) -> tuple[int, Mapping[str, str], bytes]:
        """One fast-path GET inside a limiter slot (waited for at most the pool timeout)."""
        limiter, holder = self._limiter(), object()
        no_slot = await self._acquire(limiter, holder)
        if no_slot is not None:
            raise no_slot
        try:
            return await fetch(target, self._fetch_headers, self._fetch_timeout)
        finally:
            limiter.release_on_behalf_of(holder)

    def _judged(
        self,
        url: httpx.URL | str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        started: float,
        attempt: int,
    ) -> httpx.Response:
        """A fast-path answer that is not a plain 2xx, as the `httpx.Response` `send` would judge:
        its body decoded, its cookies kept."""
        try:
            response = self._response(url, status, headers, body)
        except httpx.DecodingError as exc:
            error = _connection_error(exc, "GET", httpx.URL(url), secret=self._secret)
            raise error from error.__cause__
        self.client.cookies.extract_cookies(response)
        if log.isEnabledFor(logging.DEBUG):
            self._log(response.request, status, started, attempt)
        return response

    @staticmethod
    def _response(
        url: httpx.URL | str, status: int, headers: Mapping[str, str], body: bytes
    ) -> httpx.Response:
        """What httpx would have made of an answer `fetch` read, its body decoded (httpx raises
        `DecodingError` here for a body that is not what its Content-Encoding says)."""
        return httpx.Response(
            status, headers=list(headers.items()), content=body, request=httpx.Request("GET", url)
        )

    @staticmethod
    def _log(request: httpx.Request, status: int, started: float, attempt: int) -> None:
        elapsed = (time.perf_counter() - started) * 1000
        where = _safe_url(request.url)
        log.debug("%s %s -> %d in %.1f ms (attempt %d)", request.method, where, status, elapsed, attempt)

    async def _wait_backoff(self) -> None:
        if self.backoff_until:
            wait = self.backoff_until - anyio.current_time()
            if wait > 0:
                await anyio.sleep(wait)

    def json(self, response: httpx.Response) -> Any:
        """`decode_json` with the token redacted, should the server echo it."""
        return decode_json(response, self._body_secret)

    def check_v1(self, response: httpx.Response) -> None:
        """`check_v1` with the token redacted from the error, should the server echo it."""
        check_v1(response, secret=self._secret)

    def _error(self, response: httpx.Response, retry_after: float | None) -> Exception:
        text = ""
        body: Any = None
        try:
            # A server that echoes the request's headers must not put the token into an error.
            text = _redact(response.content, self._secret).decode(response.encoding or "utf-8", "replace")
            body = json.loads(text) if text else None
        except (ValueError, LookupError, RecursionError):
            body = text or None
        return error_for_status(
            response.status_code,
            _error_message(body, text),
            body=body,
            method=response.request.method,
            url=_safe_url(response.request.url),
            retry_after=retry_after,
        )


def _redact(content: bytes, secret: bytes | None) -> bytes:
    return content.replace(secret, b"[REDACTED]") if secret and secret in content else content


def check_v1(response: httpx.Response, *, secret: bytes | None = None) -> None:
    """The v1 convention: HTTP 200 with `{"status": "ERROR", "msg": ...}` is an error.

    `secret` (the token) is redacted from the error, should the server echo it."""
    content = response.content
    # Cheap pre-check: only a JSON object that mentions ERROR can be one.
    if not content or content.lstrip()[:1] != b"{" or b"ERROR" not in content:
        return
    try:
        body = json.loads(_redact(content, secret))
    except (ValueError, RecursionError):
        return
    if isinstance(body, dict) and body.get("status") == "ERROR":
        raise OperationError(
            _error_message(body, "") if body.get("msg") else "the server reported an error",
            status_code=response.status_code,
            body=body,
            method=response.request.method,
            url=_safe_url(response.request.url),
        )


def _connection_error(
    failure: httpx.RequestError, method: str, url: httpx.URL, *, reading: bool = False, secret: bytes
) -> APIConnectionError:
    """The `APIConnectionError` (or `APITimeoutError`, `BodyDecodingError`) for a failed exchange,
    `failure` as its cause. A parser's error quotes the bad line, and a hostile server may have
    pasted the token into it: then the text is redacted, and the cause is a copy of `failure`
    with that text, without the chain of transport errors that quote it."""
    cls: type[APIConnectionError] = APIConnectionError
    if isinstance(failure, httpx.TimeoutException):
        cls = APITimeoutError
    elif isinstance(failure, httpx.DecodingError):
        cls = BodyDecodingError
    text = str(failure)
    cause: BaseException = failure
    token = secret.decode("utf-8", "replace")
    if token and token in text:
        text = text.replace(token, "[REDACTED]")
        cause = type(failure)(text)
    if reading:  # the body failed mid-way (reset, timeout)
        message = f"{type(failure).__name__} while reading the body: {text or 'the connection was lost'}"
    else:
        message = f"{type(failure).__name__}: {text or 'the request could not be completed'}"
    error = cls(message, method=method, url=_safe_url(url))
    error.__cause__ = cause
    return error


def _safe_url(url: httpx.URL) -> str:
    """The URL without userinfo, so credentials embedded in a base URL never reach a message."""
    return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)


async def call_maybe_async(callback: Callable[..., Any] | None, *args: Any) -> None:
    """Call a plain or coroutine callback."""
    if callback is None:
        return
    result = callback(*args)
    if isinstance(result, Awaitable):
        await result
