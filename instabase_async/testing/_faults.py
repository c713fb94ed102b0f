"""Fault injection and the request log.

A :class:`Fault` matches requests by route name (see :data:`ROUTE_NAMES`), by path prefix
(a string starting with ``/``) or by regular expression (searched in the path), optionally by
method, and does one thing to each matching request: answers an error status (with
``Retry-After`` if asked), drops the connection without a response, and/or delays it. With
``after_processing=True`` the request is handled first (a flow run is really created) and only
then is the answer replaced by the error or the connection dropped, which is how a test proves a
client never re-sends a POST.

A dropped connection is :class:`ConnectionDropped`, an ``httpx.RemoteProtocolError`` raised out
of the ASGI app: in process, ``httpx.ASGITransport`` hands it to the caller as the same error a
real socket gives ("Server disconnected without sending a response."); served by uvicorn, the
serving wrapper turns it into a closed socket with nothing written.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any, overload

import httpx

__all__ = [
    "ROUTE_NAMES",
    "ConnectionDropped",
    "Fault",
    "Faults",
    "RequestLog",
    "RequestRecord",
    "route_matches",
]

#: Every route name the fake gives its requests, for faults and the request log. A fault route
#: ``"files"`` matches every ``files.*`` name.
ROUTE_NAMES: tuple[str, ...] = (
    "endpoints.call",
    "endpoints.create",
    "endpoints.delete",
    "endpoints.get",
    "endpoints.list",
    "endpoints.update",
    "files.append",
    "files.copy",
    "files.delete",
    "files.delete_job",
    "files.extract",
    "files.get",
    "files.head",
    "files.list",
    "files.mkdir",
    "files.put",
    "flow.restart",
    "flow.run",
    "flow.run_metaflow",
    "flow.run_step",
    "jobs.get",
    "jobs.status",
    "solutions.delete",
    "solutions.deploy",
    "solutions.get",
    "solutions.jobs",
    "solutions.list",
    "solutions.run",
    "solutions.run_by_name",
    "solutions.update",
)

RouteSpec = str | re.Pattern[str] | None


class ConnectionDropped(httpx.RemoteProtocolError):
    """The fake dropped the connection without answering (a ``drop=True`` fault)."""

    def __init__(self) -> None:
        super().__init__("Server disconnected without sending a response.")


def route_matches(spec: RouteSpec, route: str | None, path: str) -> bool:
    """Whether ``spec`` (name, ``/``-prefix, regex or ``None`` for all) selects this request."""
    if spec is None:
        return True
    if isinstance(spec, re.Pattern):
        return spec.search(path) is not None
    if spec.startswith("/"):
        return path.startswith(spec)
    return route is not None and (route == spec or route.startswith(spec + "."))


@dataclass(eq=False)
class Fault:
    """One injected fault; :meth:`Faults.add` makes them. ``hits`` counts the requests it hit."""

    route: RouteSpec
    method: str | None
    status: int | None
    retry_after: float | str | None
    delay: float | None
    drop: bool
    remaining: int | None
    fraction: float | None
    after_processing: bool
    message: str
    hits: int = 0

    def matches(self, route: str | None, method: str, path: str) -> bool:
        """Whether this fault applies to the request (before its ``fraction`` draw)."""
        if self.method is not None and self.method != method:
            return False
        return route_matches(self.route, route, path)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The extra response headers of an injected status (``Retry-After``)."""
        if self.retry_after is None:
            return []
        value = self.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return [(b"retry-after", str(value).encode("latin-1"))]


def _check_fault(
    route: RouteSpec,
    status: int | None,
    retry_after: float | str | None,
    delay: float | None,
    drop: bool,
    times: int | None,
    fraction: float | None,
    after_processing: bool,
) -> None:
    """A fault's arguments, checked when it is added (not when it would fire)."""
    if status is not None and drop:
        raise ValueError("a fault either answers a status or drops the connection, not both")
    if status is None and not drop and delay is None:
        raise ValueError("a fault needs status=, drop=True or delay=")
    if status is not None and not 100 <= status <= 599:
        raise ValueError(f"invalid status {status}")
    if retry_after is not None and status is None:
        raise ValueError("retry_after goes with status=")
    if times is not None and times < 1:
        raise ValueError("times must be >= 1")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError("fraction must be in (0, 1]")
    if delay is not None and delay < 0:
        raise ValueError("delay must be >= 0")
    if isinstance(route, str) and not route.startswith("/"):
        groups = {name.split(".", 1)[0] for name in ROUTE_NAMES}
        if route not in ROUTE_NAMES and route not in groups:
            # A misspelt name ("flow_run") would otherwise be a fault that never fires.
            raise ValueError(
                f"unknown route {route!r}: use one of ROUTE_NAMES, a group, a '/' prefix or a regex"
            )
    if after_processing and status is None and not drop:
        raise ValueError("after_processing needs status= or drop=True")


class Faults:
    """The fake's list of faults: ``fake.faults.add(...)``, ``fake.faults.clear()``.

    The first matching fault (in the order added) handles a request; a fault with ``times``
    is removed once it has hit that many requests.
    """

    def __init__(self, rng: Random) -> None:
        self._rng = rng
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        route: RouteSpec = None,
        *,
        method: str | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        delay: float | None = None,
        drop: bool = False,
        times: int | None = None,
        fraction: float | None = None,
        after_processing: bool = False,
        message: str | None = None,
    ) -> Fault:
        """Add a fault and return it.

        - ``route``: a route name of :data:`ROUTE_NAMES` (or a group like ``"files"``), a path
          prefix starting with ``/`` (``"/api/v2/files"``), a compiled regex searched in the
          raw path, or ``None`` for every request; ``method`` narrows it (``"POST"``).
        - ``status`` (e.g. 429, 500, 503) answers that status with a JSON body and, if given,
          ``Retry-After: retry_after`` (seconds, or an HTTP date string).
        - ``drop=True`` closes the connection without any response.
        - ``delay`` waits that many seconds first (alone, it only slows the request down).
        - ``times`` limits it to that many hits; ``fraction`` hits each matching request with
          that probability (the fake's seeded RNG); a request it skips does not count.
        - ``after_processing=True`` handles the request for real, then replaces the answer.
        """
        _check_fault(route, status, retry_after, delay, drop, times, fraction, after_processing)
        fault = Fault(
            route=route,
            method=method.upper() if method else None,
            status=status,
            retry_after=retry_after,
            delay=delay,
            drop=drop,
            remaining=times,
            fraction=fraction,
            after_processing=after_processing,
            message=message or (f"injected fault: HTTP {status}" if status else "injected fault"),
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        """Take one fault out (no error if it is gone already)."""
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)

    def __iter__(self) -> Iterator[Fault]:
        with self._lock:
            return iter(list(self._faults))

    def pick(self, route: str | None, method: str, path: str) -> Fault | None:
        """The fault that hits this request, if any, counting the hit."""
        if not self._faults:  # the common case: no lock, no work
            return None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(route, method, path):
                    continue
                if fault.fraction is not None and self._rng.random() >= fault.fraction:
                    continue
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                return fault
        return None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the fake saw.

    ``path`` is the raw path as sent (percent-escapes kept, no query); ``query`` maps each
    name to all its values; header names are lower case and ``authorization`` reads
    ``"REDACTED"``; ``body`` is at most the first ``max_logged_body`` bytes of ``body_size``.
    ``status`` is ``None`` when no response was sent (a drop, or the client went away).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    body_size: int
    status: int | None
    route: str | None
    dropped: bool = False
    faulted: bool = False
    time: float = field(default_factory=time.time)

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


class RequestLog(Sequence[RequestRecord]):
    """``fake.requests``: the requests seen, oldest first (the oldest are forgotten past ``maxlen``)."""

    def __init__(self, *, enabled: bool = True, maxlen: int | None = None) -> None:
        self.enabled = enabled
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=maxlen)

    def append(self, record: RequestRecord) -> None:
        """Record one request (the app calls this)."""
        self._records.append(record)

    def clear(self) -> None:
        """Forget every record."""
        self._records.clear()

    def filter(
        self,
        route: RouteSpec | tuple[RouteSpec, ...] = None,
        *,
        method: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        """The records whose route (name, group, path prefix or regex, or a tuple of those: any
        of them), method and status match."""
        wanted = method.upper() if method else None
        routes = route if isinstance(route, tuple) else (route,)
        return [
            r
            for r in list(self._records)
            if (wanted is None or r.method == wanted)
            and (status is None or r.status == status)
            and any(route_matches(spec, r.route, r.path) for spec in routes)
        ]

    def count(
        self,
        route: RouteSpec | tuple[RouteSpec, ...] = None,
        *,
        method: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many records :meth:`filter` would return, e.g. the run POSTs of a test:
        ``fake.requests.count(("solutions.run", "solutions.run_by_name"))``."""
        return len(self.filter(route, method=method, status=status))

    def __len__(self) -> int:
        return len(self._records)

    @overload
    def __getitem__(self, index: int) -> RequestRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[RequestRecord]: ...

    def __getitem__(self, index: int | slice) -> RequestRecord | list[RequestRecord]:
        if isinstance(index, slice):
            return list(self._records)[index]
        return self._records[index]

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def __repr__(self) -> str:
        return f"<RequestLog of {len(self)} requests>"
