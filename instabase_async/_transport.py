"""Which transport a client uses when the caller does not inject one.

On asyncio, with the `aiohttp` extra installed, aiohttp under httpx (`_aiohttp.py`): several times
less client CPU per small request than httpx's own pool. On trio, or without the extra, httpx's own
transport, with keep-alive equal to the connection cap so that connections are reused under load
instead of re-opened.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os

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
    return (
        importlib.util.find_spec("aiohttp") is not None
        and importlib.util.find_spec("httpx_aiohttp") is not None
    )


def default_transport(max_connections: int) -> httpx.AsyncBaseTransport:
    """The best transport for the running event loop."""
    # Twice the client's cap: requests made inside an open stream (a file copied through the
    # client) have a reserve of slots of their own in `_http`, and connections to match.
    limits = httpx.Limits(max_connections=2 * max_connections, max_keepalive_connections=max_connections)
    if fast_transport_available():
        # Imported here, not at the top: the extra is optional, and aiohttp costs ~0.1 s to import.
        from ._aiohttp import Transport

        return Transport(limits)
    return httpx.AsyncHTTPTransport(limits=limits)
