"""The little raw-ASGI toolkit the fake is written on: a request wrapper, replies, errors.

No framework: the fake must stay cheap per request (status polls are benchmarked through it)
and must control the wire exactly (streamed bodies, dropped connections, raw paths).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = [
    "ASGIApp",
    "ApiError",
    "ClientGone",
    "Receive",
    "Reply",
    "Request",
    "Scope",
    "Send",
    "V1Error",
    "json_reply",
    "send_reply",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The largest JSON request body the fake accepts (file uploads are streamed, not capped).
MAX_JSON_BODY = 16 * 1024 * 1024


class ApiError(Exception):
    """An error answered with a status code and ``{"message": ...}`` (the v2 convention)."""

    def __init__(self, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class V1Error(Exception):
    """An error answered as HTTP 200 ``{"status": "ERROR", "msg": ...}`` (the v1 convention)."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


class ClientGone(Exception):
    """The client disconnected before its request body was read."""


class Request:
    """One HTTP request: method, raw path, query, headers, and its body read on demand.

    ``path`` is the raw (still percent-encoded) path with the fake's ``path_prefix`` removed.
    The body is streamed from ``receive``; the first ``capture`` bytes are kept for the log.
    """

    __slots__ = (
        "_capture_limit",
        "_query",
        "_receive",
        "body_done",
        "body_size",
        "captured",
        "headers",
        "method",
        "path",
        "query_string",
        "raw_path",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive, *, prefix: str = "", capture: int = 0) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        self.raw_path: str = raw.decode("latin-1")
        path = self.raw_path
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            path = path[len(prefix) :]
        elif prefix:
            path = ""  # outside the fake's prefix: no route matches
        self.path: str = path
        self.query_string: bytes = scope.get("query_string", b"")
        self._query: dict[str, list[str]] | None = None
        self.headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        self.body_done = False
        self.body_size = 0
        self.captured = bytearray()
        self._capture_limit = capture

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower-case bytes), or ``None``."""
        for key, value in self.headers:
            if key == name:
                return value.decode("latin-1")
        return None

    @property
    def query(self) -> dict[str, list[str]]:
        """Query parameters, each name with every value it was given."""
        if self._query is None:
            self._query = parse_qs(self.query_string.decode("latin-1"), keep_blank_values=True)
        return self._query

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None

    def args(self, name: str) -> list[str]:
        """Every value of the repeated query parameter ``name``."""
        return self.query.get(name, [])

    def base_url(self, prefix: str) -> str:
        """``scheme://host[:port]<prefix>``: the root the client used, for ``Location`` headers."""
        scheme = self.scope.get("scheme", "http")
        host = self.header(b"host")
        if not host:
            server = self.scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}{prefix}"

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body's chunks as they arrive (an async generator; read once)."""
        while not self.body_done:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            if not message.get("more_body", False):
                self.body_done = True
            if chunk:
                self.body_size += len(chunk)
                room = self._capture_limit - len(self.captured)
                if room > 0:
                    self.captured += chunk[:room]
                yield chunk

    async def body(self, limit: int = MAX_JSON_BODY) -> bytes:
        """The whole body; :class:`ApiError` 413 past ``limit`` bytes."""
        parts = bytearray()
        async for chunk in self.chunks():
            parts += chunk
            if len(parts) > limit:
                raise ApiError(413, f"request body over {limit} bytes")
        return bytes(parts)

    async def drain(self) -> None:
        """Read and discard what is left of the body, so the connection stays in step."""
        async for _ in self.chunks():
            pass

    async def json(self, *, v1: bool) -> Any:
        """The body decoded as JSON (an empty body is ``{}``); a bad body is a v1 or v2 error."""
        raw = await self.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if v1:
                raise V1Error(f"request body is not valid JSON: {exc}") from None
            raise ApiError(400, f"request body is not valid JSON: {exc}") from None


@dataclass(slots=True)
class Reply:
    """A response to send: status, headers, and a body given whole or as an iterator of chunks."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterator[bytes] | None = None

    def close(self) -> None:
        """Release the body iterator (an open file) when the reply is not sent after all."""
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


_JSON = (b"content-type", b"application/json")


def json_reply(obj: Any, status: int = 200, headers: Iterable[tuple[bytes, bytes]] = ()) -> Reply:
    """A JSON reply with ``Content-Type: application/json`` and its length."""
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return Reply(status, [_JSON, (b"content-length", str(len(body)).encode()), *headers], body)


async def send_reply(send: Send, reply: Reply) -> None:
    """Send ``reply`` over ASGI; a streamed body goes chunk by chunk with ``more_body``."""
    await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
    if reply.stream is None:
        await send({"type": "http.response.body", "body": reply.body, "more_body": False})
        return
    try:
        for chunk in reply.stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        reply.close()
    await send({"type": "http.response.body", "body": b"", "more_body": False})
