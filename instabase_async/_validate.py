"""Argument checks: each takes a caller's value, normalises it once and returns it, or raises
`TypeError`/`ValueError` before anything is sent. Pure functions, no I/O; every layer may use them
(`filled` checks the package's own invariant: one outcome per input).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "MAX_JOB_ID",
    "caller_job_id",
    "file_path",
    "filled",
    "flag",
    "folder_path",
    "local_path",
    "optional_text",
    "header_value",
    "http_method",
    "request_headers",
    "pairs",
    "path_segment",
    "positive_int",
    "source_and_target",
    "strings",
    "text",
]

MAX_JOB_ID = 50
# An HTTP token (RFC 9110): what a method or a header name may be.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def text(name: str, value: Any) -> str:
    """A non-empty string without NUL."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain a NUL character")
    return value


def optional_text(name: str, value: Any) -> str | None:
    """`text`, or None (not sent)."""
    return None if value is None else text(name, value)


def flag(name: str, value: Any) -> bool | None:
    """A bool, or None (not sent)."""
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return value


def strings(name: str, value: Any) -> list[str] | None:
    """Any iterable of strings (a list, tuple, set, generator...) as a list, read once; None stays None."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of strings")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise TypeError(f"{name} must be a list of strings")
    return items


def positive_int(name: str, value: Any, *, wrong_type: type[Exception] = TypeError) -> int:
    """An int >= 1 (a bool is not an int here). A limit of 0 would hang forever, as it did in
    other SDKs, so it is refused outright. `wrong_type` is the error for a value that is no int."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(f"{name} must be an int >= 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def caller_job_id(value: Any) -> str | None:
    """A caller-chosen job id: one path segment of at most 50 characters, as the API documents."""
    if value is None:
        return None
    path_segment("job_id", value)
    if len(value) > MAX_JOB_ID:
        raise ValueError(f"job_id must be at most {MAX_JOB_ID} characters, got {len(value)}")
    return str(value)


def file_path(path: Any) -> str:
    """A remote file path with each segment percent-encoded; a leading `/` is ignored.

    `ValueError` for an empty, `.` or `..` segment, a NUL, or text with no UTF-8 form."""
    text("path", path)
    stripped = path[1:] if path.startswith("/") else path
    segments = stripped.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise ValueError(f"invalid file path {path!r}: empty, '.' and '..' segments are not allowed")
    try:
        return "/".join(quote(segment, safe="") for segment in segments)
    except UnicodeEncodeError:
        # A lone surrogate (e.g. from a badly decoded local name) has no UTF-8 form to send.
        raise ValueError(f"invalid file path {path!r}: it is not valid Unicode") from None


def source_and_target(src: Any, dst: Any) -> tuple[str, str]:
    """Two remote paths for a JSON body (checked as `file_path` does, without a leading `/`);
    `ValueError` when `dst` is `src` or inside it."""
    file_path(text("src", src))
    file_path(text("dst", dst))
    source, target = src.removeprefix("/"), dst.removeprefix("/")
    if (target + "/").startswith(source + "/"):
        raise ValueError(f"the destination {dst!r} is {src!r} or inside it")
    return source, target


def path_segment(name: str, value: Any) -> str:
    """An id that goes into a URL path: one segment, so not `.` or `..` and without `/`."""
    text(name, value)
    if value in (".", "..") or "/" in value:
        raise ValueError(f"{name} must be one path segment, got {value!r}")
    return str(value)


def request_headers(headers: Any) -> dict[str, str] | None:
    """A caller's extra headers: token names, and printable ASCII values on one line (httpx
    cannot encode anything else, and a line break would smuggle another header)."""
    if headers is None:
        return None
    if not isinstance(headers, Mapping):
        raise TypeError(f"headers must be a mapping, not {type(headers).__name__}")
    for key, value in headers.items():
        if not isinstance(key, str) or not _TOKEN.fullmatch(key):
            raise ValueError(f"invalid header name {key!r}")
        if not isinstance(value, str):
            raise TypeError(f"header {key} must be a string, not {type(value).__name__}")
        if not all(" " <= char <= "~" or char == "\t" for char in value):
            raise ValueError(f"header {key} must be printable ASCII on one line")
    return dict(headers)


def http_method(value: Any) -> str:
    """An HTTP method such as GET: one token, upper-cased."""
    if not isinstance(value, str) or not _TOKEN.fullmatch(value) or not value.isascii():
        raise ValueError(f"method must be an HTTP method such as 'GET', got {value!r}")
    return value.upper()


def header_value(name: str, value: Any) -> str:
    """A non-empty header value: printable ASCII on one line (a line break would smuggle another
    header, and httpx cannot encode anything else)."""
    text(name, value)
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must be on one line")
    if not all(" " <= char <= "~" or char == "\t" for char in value):
        raise ValueError(f"{name} must be printable ASCII")
    return str(value)


def folder_path(path: Any) -> str:
    """`file_path` for a folder: one trailing `/` is ignored as well."""
    text("path", path)
    return file_path(path[:-1] if len(path) > 1 and path.endswith("/") else path)


def local_path(value: Any) -> Path:
    """A local path given as str or os.PathLike (not bytes)."""
    if not isinstance(value, str | os.PathLike):
        raise TypeError(f"a local path must be a str or os.PathLike, not {type(value).__name__}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise TypeError("a local path must be a str path, not bytes")
    if not path or "\x00" in path:
        raise ValueError(f"invalid local path {path!r}")
    return Path(path)


def pairs(items: Iterable[Any]) -> list[tuple[Any, Any]]:
    """`(source, target)` pairs, read once."""
    found = []
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise TypeError(f"each item must be a (source, target) pair, got {item!r}")
        found.append((item[0], item[1]))
    return found


def filled(items: Sequence[Any | None]) -> list[Any]:
    """`items` once every slot is filled: a missing outcome is a bug, never silently dropped."""
    missing = sum(1 for item in items if item is None)
    if missing:  # pragma: no cover - an invariant, not a user error
        raise RuntimeError(f"internal error: {missing} items got no outcome")
    return list(items)
