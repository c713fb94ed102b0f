"""Running an HTTP endpoint's handler script, as Instabase does at ``/api/v1/http-endpoint/u/<path>``.

The script is a Python file in the fake's own file store defining ``handler(request, *args,
**kwargs)``. It is given a Flask ``Request`` (werkzeug's, if Flask is missing) built from the
incoming request, and its return value is answered under the document's rules: a ``str`` becomes
``text/plain``; a Flask/werkzeug ``Response`` is sent with its status, headers and body, but only
if its mimetype is ``application/json`` or ``text/plain`` (an empty body passes whatever its
mimetype, as the document's own ``Response(status=404)`` example needs); anything else is a 500.

This executes arbitrary code in the fake's process: that is the point (trying a handler before
deploying it), and the reason the served fake binds to 127.0.0.1 by default.
"""

from __future__ import annotations

import functools
import io
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = ["ALLOWED_MIMETYPES", "HandlerCall", "HandlerResult", "run_handler"]

#: The only mimetypes a handler's response may have (the document's "security reasons").
ALLOWED_MIMETYPES = frozenset({"application/json", "text/plain"})
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


@dataclass(frozen=True, slots=True)
class HandlerCall:
    """What the handler is called with: the incoming request, as plain data."""

    method: str
    raw_path: str
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    scheme: str
    server: tuple[str, int | None]


@dataclass(frozen=True, slots=True)
class HandlerResult:
    """What goes back to the caller."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _text(status: int, message: str) -> HandlerResult:
    body = message.encode("utf-8")
    return HandlerResult(
        status,
        [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        body,
    )


@functools.lru_cache(maxsize=64)
def _compile(source: bytes, filename: str) -> CodeType:
    """Compile a handler script once per distinct content."""
    return compile(source, filename, "exec")


def _environ(call: HandlerCall) -> dict[str, Any]:
    """A WSGI environ for ``call`` (PEP 3333: the path as latin-1-decoded bytes)."""
    host, port = call.server
    environ: dict[str, Any] = {
        "REQUEST_METHOD": call.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(call.raw_path).decode("latin-1"),
        "QUERY_STRING": call.query_string.decode("latin-1"),
        "SERVER_NAME": host,
        "SERVER_PORT": str(port or (443 if call.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(call.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": call.scheme,
        "wsgi.input": io.BytesIO(call.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in call.headers:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name != "CONTENT_LENGTH":
            key = f"HTTP_{name}"
            environ[key] = f"{environ[key]}, {value}" if key in environ else value
    return environ


def _request_class() -> type[Any] | None:
    try:
        from flask import Request

        return Request
    except ImportError:  # pragma: no cover - Flask comes with the testing extra
        try:
            from werkzeug.wrappers import Request as WerkzeugRequest

            return WerkzeugRequest
        except ImportError:
            return None


def run_handler(source: bytes, script_path: str, call: HandlerCall) -> HandlerResult:
    """Load the script, call its ``handler`` with the request, and shape the answer (blocking:
    run it in a worker thread)."""
    request_class = _request_class()
    if request_class is None:  # pragma: no cover
        return _text(
            500, "Flask is needed to run HTTP endpoint handlers: pip install 'instabase-async[testing]'"
        )
    from werkzeug.wrappers import Response

    namespace: dict[str, Any] = {"__name__": "instabase_http_endpoint_handler", "__file__": script_path}
    try:
        exec(_compile(source, script_path), namespace)
        handler: Callable[..., Any] | None = namespace.get("handler")
        if not callable(handler):
            return _text(500, f"{script_path} defines no function named handler")
        result = handler(request_class(_environ(call)))
    except Exception:
        return _text(500, f"the handler in {script_path} raised:\n{traceback.format_exc()}")
    if isinstance(result, str):
        return _text(200, result)
    if not isinstance(result, Response):
        return _text(500, f"the handler must return a str or a Flask Response, not {type(result).__name__}")
    body = result.get_data()
    if body and result.mimetype not in ALLOWED_MIMETYPES:
        return _text(
            500,
            f"the handler's response has mimetype {result.mimetype!r}; only "
            f"{' or '.join(sorted(ALLOWED_MIMETYPES))} are allowed",
        )
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in result.headers.items()
        if name.lower() not in _HOP_BY_HOP
    ]
    headers.append((b"content-length", str(len(body)).encode()))
    return HandlerResult(result.status_code, headers, body)
