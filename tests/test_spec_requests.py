"""Options given as any iterable (a generator, a tuple, a set of strings) are sent in full: also in
the requests of `run_many`, and with a ledger, whose key of a request must not depend on how its
lists were given."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from instabase_async import FlowRunRequest, Ledger, PollPolicy, RunSettings, SolutionRunRequest
from instabase_async.testing import FakeInstabase

DRIVE = "me/repo/fs/Instabase Drive"
FLOW = f"{DRIVE}/flow/f.ibflow"


def flow_request() -> FlowRunRequest:
    """A request whose lists are a generator, a set and an iterator (each read once)."""
    return FlowRunRequest(
        FLOW,
        f"{DRIVE}/in",
        tags=(t for t in ["a", "b"]),
        notification_emails={"z@x.io", "a@x.io"},
        pipeline_ids=iter(["p1"]),
    )


@pytest.mark.anyio
async def test_run_many_with_a_ledger_sends_iterables_in_full_and_keys_them_stably(
    anyio_backend: str, tmp_path: Path
) -> None:
    """A generator or a set in a request is sent in full with a ledger, and the same request given
    again (a fresh generator) has the same key: the re-run sends nothing."""
    fake = FakeInstabase(job_polls=0)
    ledger_path = tmp_path / "runs.db"
    with anyio.fail_after(30):
        async with fake.client(poll=PollPolicy(initial=0)) as ib:
            for _ in range(2):
                async with Ledger(ledger_path, run="nightly") as ledger:
                    (outcome,) = await ib.flows.run_many([flow_request()], ledger=ledger)
                    assert outcome.ok, outcome.error
    (post,) = fake.requests.filter("flow.run", method="POST")
    body = json.loads(post.body)
    assert body["tags"] == ["a", "b"]
    assert body["notification_emails"] == ["a@x.io", "z@x.io"]
    assert body["pipeline_ids"] == ["p1"]


@pytest.mark.anyio
async def test_solution_run_settings_iterables_are_sent_in_full_with_a_ledger(
    anyio_backend: str, tmp_path: Path
) -> None:
    """`RunSettings(tags=<generator>)` in a `SolutionRunRequest` is sent in full with a ledger."""
    fake = FakeInstabase(job_polls=0)
    solution_id = fake.add_solution(name="app", version="1.0")
    request = SolutionRunRequest(
        solution_id, f"{DRIVE}/in", settings=RunSettings(tags=(t for t in ["x", "y"]))
    )
    with anyio.fail_after(30):
        async with fake.client(poll=PollPolicy(initial=0)) as ib, Ledger(tmp_path / "runs.db") as ledger:
            (outcome,) = await ib.solutions.run_many([request], ledger=ledger)
    assert outcome.ok, outcome.error
    (post,) = [r for r in fake.requests if r.method == "POST"]
    assert json.loads(post.body)["settings"]["tags"] == ["x", "y"]


def test_request_lists_are_read_once_into_tuples() -> None:
    """A request keeps its lists as tuples (a set sorted), so it can be submitted more than once
    and compares equal however its lists were given; a str is left for submission to refuse."""
    assert flow_request() == flow_request()
    assert flow_request().tags == ("a", "b")
    assert flow_request().notification_emails == ("a@x.io", "z@x.io")
    assert RunSettings(pipeline_ids={"q", "p"}).pipeline_ids == ("p", "q")
    assert FlowRunRequest(FLOW, "in", tags="a").tags == "a"
