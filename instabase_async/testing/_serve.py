"""Serving the fake's ASGI app on a real socket with uvicorn (the ``testing`` extra).

:func:`serve_in_thread` runs uvicorn in a background thread with its own asyncio event loop,
so the caller may be on asyncio or trio. :func:`serve_forever` runs it in the foreground
(``python -m instabase_async.testing``).

A drop fault raises :class:`~._faults.ConnectionDropped` out of the app. Uvicorn would answer
an exception with a 500, so :func:`served_app` catches it and returns a sentinel instead: uvicorn
closes the socket of an ASGI callable that returns a value, without writing anything, and the
client sees the connection end with no response (httpx: ``RemoteProtocolError``). The error line
uvicorn logs for that is filtered out.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._asgi import ASGIApp, Receive, Scope, Send
from ._faults import ConnectionDropped

if TYPE_CHECKING:
    import uvicorn

__all__ = ["format_url", "make_server", "serve_forever", "serve_in_thread", "served_app"]

#: How long to wait for uvicorn to start listening, and to stop.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


class _Drop:
    def __repr__(self) -> str:
        return "<instabase fake: dropped connection>"


_DROP = _Drop()


class _DropLogFilter(logging.Filter):
    """Hide uvicorn's complaint about the sentinel that drops a connection on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and args and args[0] is _DROP)


_FILTER = _DropLogFilter()


def served_app(app: ASGIApp) -> Callable[[Scope, Receive, Send], Any]:
    """``app`` for uvicorn: a drop fault becomes a socket closed without a response."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> object:
        try:
            await app(scope, receive, send)
        except ConnectionDropped:
            return _DROP
        return None

    return wrapper


def format_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 address."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_server(app: ASGIApp, host: str, port: int, *, log_level: str = "warning") -> uvicorn.Server:
    """A uvicorn server for ``app`` (httptools if installed, else h11; no lifespan, no access log)."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - uvicorn comes with the testing extra
        raise RuntimeError("serving the fake needs uvicorn: pip install 'instabase-async[testing]'") from exc
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:  # pragma: no cover
        http = "h11"
    logging.getLogger("uvicorn.error").addFilter(_FILTER)  # idempotent: a filter is added once
    config = uvicorn.Config(
        served_app(app),
        host=host,
        port=port,
        loop="asyncio",
        http=http,
        ws="none",
        interface="asgi3",
        lifespan="off",
        log_level=log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def bound_port(server: uvicorn.Server) -> int:
    """The port the started server listens on (for ``port=0``)."""
    for listener in server.servers:
        for sock in listener.sockets:
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("uvicorn started without a listening socket")


def _wait_started(server: uvicorn.Server, thread: threading.Thread, failure: list[BaseException]) -> int:
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            cause = failure[0] if failure else None
            raise RuntimeError("the fake's server failed to start (is the port free?)") from cause
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the fake's server did not start within {START_TIMEOUT} s")
        time.sleep(0.005)
    return bound_port(server)


def _stop(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = True
    thread.join(STOP_TIMEOUT)
    if thread.is_alive():  # pragma: no cover - a request that would not end
        server.force_exit = True
        thread.join(STOP_TIMEOUT)


def _start(
    app: ASGIApp, host: str, port: int
) -> tuple[uvicorn.Server, threading.Thread, list[BaseException]]:
    server = make_server(app, host, port)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run()
        except BaseException as exc:  # SystemExit from a failed bind included
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"instabase-fake-{host}:{port}", daemon=True)
    thread.start()
    return server, thread, failure


@contextlib.asynccontextmanager
async def serve_in_thread(app: ASGIApp, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``app`` on ``host:port`` (0: any free port) from a background thread; yield its URL."""
    server, thread, failure = _start(app, host, port)
    try:
        bound = await anyio.to_thread.run_sync(_wait_started, server, thread, failure)
        yield format_url(host, bound)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_stop, server, thread)


@contextlib.contextmanager
def serve_in_background(app: ASGIApp, host: str, port: int) -> Iterator[str]:
    """`serve_in_thread` for synchronous code (module-scoped fixtures, a sync SDK's tests)."""
    server, thread, failure = _start(app, host, port)
    try:
        yield format_url(host, _wait_started(server, thread, failure))
    finally:
        _stop(server, thread)


async def serve_forever(
    app: ASGIApp, host: str, port: int, *, on_started: Callable[[str], None], log_level: str = "warning"
) -> None:
    """Serve ``app`` in the foreground until SIGINT/SIGTERM; call ``on_started(url)`` once listening."""
    import asyncio

    server = make_server(app, host, port, log_level=log_level)
    task = asyncio.ensure_future(server.serve())
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if task.done():
            task.result()  # re-raise the failure (SystemExit on a failed bind)
            raise RuntimeError("the fake's server stopped before it started")
        if time.monotonic() > deadline:
            server.should_exit = True
            await task
            raise TimeoutError(f"the fake's server did not start within {START_TIMEOUT} s")
        await asyncio.sleep(0.005)
    on_started(format_url(host, bound_port(server)))
    await task
