"""Which transport a client uses when the caller does not inject one.

On asyncio, with the `aiohttp` extra installed, aiohttp under httpx (the `httpx-aiohttp`
package): roughly ten times less client CPU per small request than httpx's own pool. On trio,
or without the extra, httpx's own transport, with keep-alive equal to the connection cap so
that connections are reused under load instead of re-opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx

__all__ = ["default_transport", "fast_transport_available"]

# Set INSTABASE_ASYNC_TRANSPORT=httpx to force httpx's own transport (e.g. to compare, or for respx).
_ENV = "INSTABASE_ASYNC_TRANSPORT"


def _on_asyncio() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def fast_transport_available() -> bool:
    """True when the aiohttp transport would be chosen here and now."""
    if os.environ.get(_ENV, "").lower() == "httpx" or not _on_asyncio():
        return False
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


def default_transport(max_connections: int) -> httpx.AsyncBaseTransport:
    """The best transport for the running event loop."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if fast_transport_available():
        return _aiohttp_transport(limits)
    return httpx.AsyncHTTPTransport(limits=limits)


def _aiohttp_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    class _Transport(AiohttpTransport):
        """httpx-aiohttp maps every aiohttp connection error to `ConnectTimeout`, which would
        tell our retry logic that a POST never left. Map them by what really happened."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            with _remap(aiohttp):
                response: httpx.Response = await super().handle_async_request(request)
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            response.stream = _RemappedStream(stream, aiohttp)
            return response

    return _Transport(limits=limits)


@contextlib.contextmanager
def _remap(aiohttp: Any) -> Iterator[None]:
    try:
        yield
    except httpx.TransportError as exc:
        cause = exc.__cause__
        if cause is None or isinstance(exc, httpx.TimeoutException) and not isinstance(
            exc, httpx.ConnectTimeout
        ):
            raise
        if isinstance(cause, aiohttp.ClientConnectorError):
            raise httpx.ConnectError(str(cause)) from cause
        if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
            raise httpx.ReadTimeout(str(cause)) from cause
        if isinstance(cause, aiohttp.ClientConnectionError):
            # Disconnected or reset after the request may have been written: it may have arrived.
            raise httpx.RemoteProtocolError(str(cause) or type(cause).__name__) from cause
        raise
    except asyncio.TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "timed out") from exc


class _RemappedStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, aiohttp: Any) -> None:
        self._inner = inner
        self._aiohttp = aiohttp

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _remap(self._aiohttp):
            async for chunk in self._inner:
                yield chunk

    async def aclose(self) -> None:
        with _remap(self._aiohttp):
            await self._inner.aclose()
