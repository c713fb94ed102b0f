"""What every namespace shares: the client it belongs to, and argument checks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._http import HTTP

if TYPE_CHECKING:
    from .._client import AsyncInstabase

__all__ = ["Resource", "check_str", "check_job_id"]

MAX_JOB_ID = 50


class Resource:
    """A namespace bound to one client."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncInstabase) -> None:
        self._client = client

    @property
    def _http(self) -> HTTP:
        return self._client._http


def check_str(name: str, value: Any, *, optional: bool = False) -> None:
    """`TypeError` for a non-string, `ValueError` for an empty one: before anything is sent."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if "\x00" in value:
        raise ValueError(f"{name} must not contain a NUL character")


def check_job_id(value: Any) -> None:
    """A caller-chosen job id: a string of at most 50 characters, as the API documents."""
    if value is None:
        return
    check_str("job_id", value)
    if len(value) > MAX_JOB_ID:
        raise ValueError(f"job_id must be at most {MAX_JOB_ID} characters, got {len(value)}")


def check_bool(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


def check_str_list(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str | bytes) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"{name} must be a list of strings")
