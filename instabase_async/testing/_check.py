"""Checks of request fields shared by the route handlers.

Each takes ``fail``, which builds the exception of the API's convention: a v1
:class:`~._asgi.V1Error` (HTTP 200 with ``status: ERROR``) or a v2 :class:`~._asgi.ApiError` 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._asgi import ApiError, V1Error
from ._store import PathError, split_path

__all__ = [
    "Fail",
    "as_object",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_str",
    "path_str",
    "query_int",
    "req_str",
    "v1_fail",
    "v2_fail",
]

Fail = Callable[[str], Exception]


def v1_fail(msg: str) -> Exception:
    """A v1 error: HTTP 200 ``{"status": "ERROR", "msg": msg}``."""
    return V1Error(msg)


def v2_fail(msg: str) -> Exception:
    """A v2 error: HTTP 400 ``{"message": msg}``."""
    return ApiError(400, msg)


def as_object(body: Any, fail: Fail) -> dict[str, Any]:
    """The request body, which must be a JSON object."""
    if not isinstance(body, dict):
        raise fail("request body must be a JSON object")
    return body


def req_str(body: dict[str, Any], key: str, fail: Fail) -> str:
    """A required, non-empty string field."""
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise fail(f"{key} is required and must be a non-empty string")
    return value


def opt_str(body: dict[str, Any], key: str, fail: Fail) -> str | None:
    """An optional string field (``null`` counts as absent)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f"{key} must be a string")
    return value


def opt_bool(body: dict[str, Any], key: str, fail: Fail) -> bool | None:
    """An optional boolean field."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise fail(f"{key} must be a boolean")
    return value


def opt_int(body: dict[str, Any], key: str, fail: Fail) -> int | None:
    """An optional integer field (a boolean is not an integer)."""
    value = body.get(key)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise fail(f"{key} must be an integer")
    return value


def opt_list(body: dict[str, Any], key: str, fail: Fail, *, of: type = str) -> list[Any] | None:
    """An optional list field whose items are all of type ``of``."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, of) for item in value):
        raise fail(f"{key} must be a list of {of.__name__}")
    return value


def path_str(value: str, key: str, fail: Fail) -> tuple[str, ...]:
    """The segments of a path field; a ``.``/``..``/empty segment or NUL fails."""
    try:
        return split_path(value)
    except PathError as exc:
        raise fail(f"{key}: {exc}") from None


def query_int(raw: str | None, key: str, default: int, *, minimum: int = 0) -> int:
    """An integer query parameter (v2: a bad value is a 400)."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{key} must be an integer") from None
    if value < minimum:
        raise ApiError(400, f"{key} must be >= {minimum}")
    return value
