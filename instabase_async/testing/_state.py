"""Everything one fake Instabase remembers: files, jobs, deployed solutions, HTTP endpoints.

One re-entrant lock guards it all, since a served fake is touched by the server's thread and
the test's thread at once. Route handlers do their waiting (reading bodies, sleeping) outside
the lock and take it only for the quick state changes.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ._jobs import JobTable, Outcome, OutcomeRule, ProgressRule, ProgressShape
from ._store import BlobWriter, FileNode, FileStore, split_path

__all__ = ["FakeEndpoint", "FakeSolution", "State"]


def now_ms() -> int:
    """The wall clock in epoch milliseconds, as the solution APIs report times."""
    return time.time_ns() // 1_000_000


@dataclass(eq=False)
class FakeSolution:
    """A deployed solution of the fake (read it in tests; change it through the API)."""

    id: str
    name: str
    version: str
    owner: str
    author: str
    summary: str = ""
    description: str = ""
    state: str = "ACTIVE"
    visibility: str = "PRIVATE"
    metadata: dict[str, Any] = field(default_factory=dict)
    solution_path: str | None = None
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)

    def wire(self, *, detail: bool) -> dict[str, Any]:
        """The documented JSON: the listing's keys, plus ``description`` and ``metadata`` (a JSON
        string) for the single-solution answers."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "owner": self.owner,
            "createdAtMs": self.created_ms,
            "updatedAtMs": self.updated_ms,
            "summary": self.summary,
            "state": self.state,
            "author": self.author,
            "solution_path": self.solution_path,
        }
        if detail:
            out["description"] = self.description
            out["metadata"] = json.dumps(self.metadata)
        return out


@dataclass(eq=False)
class FakeEndpoint:
    """A custom HTTP endpoint: answered at ``/api/v1/http-endpoint/u/<path>`` while enabled."""

    id: str
    path: str
    handler_script_path: str
    enabled: bool = True

    def wire(self) -> dict[str, Any]:
        """The documented JSON of one endpoint."""
        return {
            "id": self.id,
            "path": self.path,
            "handler_script_path": self.handler_script_path,
            "state": "ENABLED" if self.enabled else "DISABLED",
        }


class State:
    """The fake's memory and settings, shared by every route handler."""

    def __init__(
        self,
        *,
        token: str,
        username: str,
        job_polls: int,
        job_seconds: float | tuple[float, float] | None,
        outcome: Outcome | str,
        outcome_for: OutcomeRule | None,
        progress: ProgressShape | str,
        progress_for: ProgressRule | None,
        seed: int | None,
        page_size: int,
        path_prefix: str,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        if path_prefix and (not path_prefix.startswith("/") or path_prefix.endswith("/")):
            raise ValueError("path_prefix must start with '/' and not end with one, e.g. '/ib'")
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.token = token
        self.username = username
        self.account_id = hashlib.sha256(username.encode()).hexdigest()[:24]
        self.page_size = page_size
        self.path_prefix = path_prefix
        self.store = FileStore()
        self.jobs = JobTable(
            self.lock,
            polls=job_polls,
            seconds=job_seconds,
            outcome=outcome,
            outcome_for=outcome_for,
            progress=progress,
            progress_for=progress_for,
            rng=self.rng,
        )
        self.solutions: dict[str, FakeSolution] = {}
        self.endpoints: dict[str, FakeEndpoint] = {}

    def new_id(self) -> str:
        """A fresh UUID string (from the seeded RNG, so a seeded fake repeats its ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def write_bytes(self, path: str | tuple[str, ...], data: bytes) -> None:
        """Store ``data`` as a file at ``path`` (parents made). Takes the lock."""
        segments = split_path(path) if isinstance(path, str) else path
        writer = BlobWriter(self.store)
        writer.write(data)
        node = writer.finish()
        with self.lock:
            self.store.put_file(segments, node)

    def read_bytes(self, path: str | tuple[str, ...]) -> bytes | None:
        """The content of the file at ``path``, or ``None`` if there is no file there."""
        segments = split_path(path) if isinstance(path, str) else path
        with self.lock:
            node = self.store.get(segments)
        return node.read() if isinstance(node, FileNode) else None
