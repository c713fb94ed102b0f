"""aiohttp under httpx (the `aiohttp` extra, on the `httpx-aiohttp` package): the transport that
`_transport.default_transport` picks on asyncio when the extra is installed.

It replaces `httpx_aiohttp.AiohttpTransport.handle_async_request` with a leaner one (measured in
`benchmarks/`): one stream wrapper instead of two, aiohttp's buffered chunks passed on as they
come (no re-cutting into 16 KiB pieces), timeouts built once, no second cookie jar (httpx keeps the
cookies), and a read buffer big enough that a large download does not stop and restart the socket
every 128 KiB. Its errors are mapped by what really happened, because the retry logic depends on
it: a request that never left (connect error, connect timeout) is `httpx.ConnectError`/
`httpx.ConnectTimeout`; a disconnect or reset once it may have been written is
`httpx.RemoteProtocolError`; a read timeout `httpx.ReadTimeout`; a truncated body `httpx.ReadError`.
It relies on `AiohttpTransport`'s `limits`, `client`, `ssl_context`, `local_address` and `proxy`
attributes, which is why the extra pins `httpx-aiohttp` to a version range.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import anyio
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["Transport"]

# aiohttp's read buffer per connection (its default is 64 KiB; it pauses reading at twice it):
# 256 KiB lets a download move in bigger reads with fewer pauses, and still bounds what a slow
# consumer leaves buffered to 512 KiB a connection (32 MiB for 64 connections all streaming).
_READ_BUFSIZE = 1 << 18
# A body up to this size is handed to aiohttp whole: the socket's buffer takes it at once.
_UNWATCHED_BYTES = 1 << 16
_PIECE = 1 << 20


class Transport(AiohttpTransport):
    """aiohttp under httpx; see the module's docstring."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._timeouts: dict[tuple[float | None, float | None, float | None], aiohttp.ClientTimeout] = {}

    def get_client(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self.limits.keepalive_expiry,
            ssl=self.ssl_context,
            local_addr=(self.local_address, 0) if self.local_address else None,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # httpx.AsyncClient keeps the cookies
            auto_decompress=False,  # httpx decodes Content-Encoding
            read_bufsize=_READ_BUFSIZE,
        )
        # aiohttp re-sends an idempotent request on its own when a kept-alive connection drops;
        # the retry policy alone decides what is sent again, so that is switched off (the one
        # attribute aiohttp offers for it, listed in its ClientSession.ATTRS).
        if "_retry_connection" in aiohttp.ClientSession.ATTRS:
            session._retry_connection = False
        return session

    def _timeout(self, timeout: Mapping[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            found = self._timeouts[key] = aiohttp.ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # streamed as it is read; aiohttp frames it itself
            request.headers.pop("transfer-encoding", None)
        timeout = request.extensions.get("timeout") or {}
        write = timeout.get("write")
        if write is None or (isinstance(data, bytes) and len(data) <= _UNWATCHED_BYTES) or data is None:
            response = await self._request(request, data, timeout)
        else:
            # aiohttp has no write timeout: a server that stops reading would hold the upload
            # forever. The body is handed over chunk by chunk; each hand-over means the previous
            # chunk was written, and pushes the deadline on; a stall past `write` seconds ends it.
            with anyio.CancelScope() as watch:
                response = await self._request(request, _watched(data, watch, write), timeout)
            if watch.cancelled_caught:
                raise httpx.WriteTimeout(f"the server took no body data for {write} s")
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Stream(response),
            request=request,
            extensions=extensions,
        )

    async def _request(
        self, request: httpx.Request, data: Any, timeout: Mapping[str, float | None]
    ) -> aiohttp.ClientResponse:
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        proxy = self.proxy
        try:
            return await session.request(
                request.method,
                str(request.url),
                headers=request.headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(timeout),
                server_hostname=request.extensions.get("sni_hostname"),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            )
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc

    async def fetch(
        self, url: str, headers: Mapping[str, str], timeout: Mapping[str, float | None]
    ) -> tuple[int, Mapping[str, str], bytes]:
        """GET `url` and read its body whole, without building httpx objects: the hot path
        of status polling (`HTTP.get_json`). The same session, timeouts, no redirects and
        error mapping as `handle_async_request`; the body is left encoded, as there."""
        session = self.client
        if not isinstance(session, aiohttp.ClientSession):
            session = self.client = self.get_client()
        proxy = self.proxy
        try:
            response = await session.request(
                "GET",
                url,
                headers=headers,
                allow_redirects=False,
                auto_decompress=False,
                timeout=self._timeout(timeout),
                proxy=str(proxy.url) if proxy else None,
                proxy_auth=aiohttp.BasicAuth(*proxy.auth) if proxy and proxy.auth else None,
                proxy_headers=proxy.headers if proxy else None,
            )
            try:
                body = await response.read()
            finally:
                response.release()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc
        return response.status, response.headers, body


async def _watched(data: Any, watch: anyio.CancelScope, seconds: float) -> AsyncIterator[bytes | memoryview]:
    """`data` (bytes, in 1 MiB pieces, or a stream) for aiohttp to write; `watch` expires once
    aiohttp has not come back for the next piece for `seconds`, so a stalled upload ends. Only
    the writing is timed: the caller's source may take its time to produce the next piece."""
    chunks = _pieces(data) if isinstance(data, bytes) else data
    async for chunk in chunks:
        watch.deadline = anyio.current_time() + seconds
        yield chunk
        watch.deadline = math.inf  # written; until the source gives the next, nothing is timed


async def _pieces(data: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(data)
    for start in range(0, len(view), _PIECE):
        yield view[start : start + _PIECE]


def _mapped(exc: BaseException) -> httpx.TransportError:
    """The httpx error for an aiohttp one, by whether the request may have reached the server."""
    message = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)  # raised while getting a connection: never sent
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)  # could not connect (refused, DNS, TLS): never sent
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(message)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.ReadError(message)
    if isinstance(exc, aiohttp.ClientConnectionError):
        # Disconnected or reset after the request may have been written: it may have arrived.
        return httpx.RemoteProtocolError(message)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(message)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return httpx.ProxyError(message)
    return httpx.TransportError(message)


class _Stream(httpx.AsyncByteStream):
    """A response body: aiohttp's chunks as they arrive, its errors mapped as above."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while chunk := await content.readany():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc

    async def aclose(self) -> None:
        response = self._response
        try:
            # Back to the pool when the body was read to its end, closed otherwise.
            response.release()
            await response.wait_for_close()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _mapped(exc) from exc
