"""Lenient conversion at the edge: odd-but-plausible values become typed values or None, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from instabase_async import AsyncInstabase

BASE = "https://ib.test"
WHEN = datetime(2023, 5, 4, 0, 17, 43, tzinfo=UTC)


def client_answering(body: dict[str, Any]) -> AsyncInstabase:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    return AsyncInstabase(BASE, "tok", transport=httpx.MockTransport(handler))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("modified", "expected"),
    [
        (int(WHEN.timestamp()), WHEN),
        (int(WHEN.timestamp() * 1000), WHEN),
        (str(int(WHEN.timestamp() * 1000)), WHEN),
        ("2023-05-04T00:17:43Z", WHEN),
        ("2023-05-04T00:17:43", WHEN),
        ("Thu, 04 May 2023 00:17:43 GMT", WHEN),
        ("yesterday-ish", None),
        ([1, 2], None),
        (None, None),
    ],
)
async def test_listing_modified_times(modified: Any, expected: datetime | None) -> None:
    """A listing's `modified` may be epoch s or ms, a digit string, ISO 8601 or an HTTP date."""
    body = {"nodes": [{"full_path": "a/b.txt", "node_type": "file", "size": 3, "modified": modified}]}
    async with client_answering(body) as ib:
        [entry] = [e async for e in ib.files.list("a")]
    assert entry.modified == expected
    assert entry.size == 3
    assert not entry.is_dir


@pytest.mark.anyio
async def test_listing_entry_kinds_and_sizes() -> None:
    """Folders are told from files by node_type; a non-integer size is None."""
    body = {
        "nodes": [
            {"full_path": "a/d", "node_type": "folder"},
            {"path": "a/f", "type": "file", "size": "12"},
        ],
        "has_more": [False],
    }
    async with client_answering(body) as ib:
        entries = [e async for e in ib.files.list("a")]
    assert [(e.path, e.is_dir, e.size) for e in entries] == [("a/d", True, None), ("a/f", False, None)]


@pytest.mark.anyio
async def test_solution_with_odd_values() -> None:
    """Digit-string epochs parse; garbage times, undecodable metadata and non-string names stay harmless."""
    body = {
        "solution": {
            "id": "s1",
            "name": 42,
            "createdAtMs": str(int(WHEN.timestamp() * 1000)),
            "updatedAtMs": "soon",
            "metadata": "not json {",
            "summary": {"nested": True},
        }
    }
    async with client_answering(body) as ib:
        solution = await ib.solutions.get("s1")
    assert solution.name == "42"
    assert solution.created_at == WHEN
    assert solution.updated_at is None
    assert solution.metadata == "not json {"
    assert solution.summary is None


@pytest.mark.anyio
async def test_solution_job_durations() -> None:
    """timeTakenNs becomes a timedelta; a garbage duration or time is None."""
    body = {
        "jobs": [
            {"id": "j1", "timeTakenNs": "7025218861", "startTimeNs": "1683159463986732303"},
            {"id": "j2", "timeTakenNs": "n/a", "startTimeNs": True, "metadata": '{"k": 1}'},
        ]
    }
    async with client_answering(body) as ib:
        jobs = [j async for j in ib.solutions.jobs("s1")]
    assert jobs[0].time_taken == timedelta(seconds=7, microseconds=25219)
    assert jobs[0].start_time is not None and jobs[0].start_time.tzinfo is UTC
    assert jobs[1].time_taken is None
    assert jobs[1].start_time is None
    assert jobs[1].metadata == {"k": 1}
    assert jobs[1].job is not None and jobs[1].job.job_id == "j2"
