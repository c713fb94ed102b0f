"""Job status normalisation, single-job waiting, watching, and resumable tokens."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from instabase_async import (
    AsyncInstabase,
    JobCancelledError,
    JobFailedError,
    JobState,
    JobStatus,
    OperationError,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
    WaitTimeoutError,
)
from instabase_async._jobs import parse_v1_status, parse_v2_status

BASE = "https://ib.test"


def v1(state: str | None, cur: Any = None, results: Any = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "OK", "job_id": "j1", **extra}
    if state is not None:
        body["state"] = state
    if cur is not None:
        body["cur_status"] = json.dumps(cur) if isinstance(cur, dict) else cur
    if results is not None:
        body["results"] = results
    return body


def client_for(handler: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("poll", PollPolicy(initial=0, maximum=0))
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
    return AsyncInstabase(BASE, "tok", transport=httpx.MockTransport(handler), **kwargs)


def sequence(
    bodies: list[dict[str, Any]],
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    """A handler answering status polls with `bodies` in turn (the last one repeats)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=bodies[min(len(seen) - 1, len(bodies) - 1)])

    return handler, seen


# --------------------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("body", "state"),
    [
        (v1("PENDING"), JobState.PENDING),
        (v1("PENDING", {"status": "RUNNING", "curProgress": 0.5}), JobState.RUNNING),
        (v1("PENDING", {"status": "PAUSED"}), JobState.PAUSED),
        (v1("PENDING", {"status": "STOPPED_AT_CHECKPOINT"}), JobState.STOPPED_AT_CHECKPOINT),
        (v1("DONE", results=[{"status": "OK", "output_folder": "o"}]), JobState.COMPLETE),
        (v1("COMPLETE", results=[{"status": "OK"}, {"status": "OK"}]), JobState.COMPLETE),
        (v1("DONE", results=[{"status": "OK"}, {"status": "ERROR", "msg": "bad"}]), JobState.FAILED),
        (v1("DONE", {"status": "CANCELLED"}, [{"status": "OK"}]), JobState.CANCELLED),
        (v1("DONE", {"status": "FAILED"}, [{"status": "OK"}]), JobState.FAILED),
        (v1("DONE", {"status": "STOPPED_AT_CHECKPOINT"}), JobState.STOPPED_AT_CHECKPOINT),
        (v1("SOMETHING_NEW"), JobState.UNKNOWN),
        (v1(None), JobState.UNKNOWN),
        (v1("PENDING", "not json at all"), JobState.PENDING),
    ],
)
def test_v1_state_mapping(body: dict[str, Any], state: JobState) -> None:
    """Each documented combination of state, cur_status and results maps to one JobState."""
    assert parse_v1_status(body, "j1").state is state


def test_v1_status_details() -> None:
    """Progress comes from the twice-encoded cur_status; message and output folder from results."""
    running = parse_v1_status(v1("PENDING", {"status": "RUNNING", "curProgress": 0.25}), "j1")
    assert running.progress == 0.25
    assert running.raw_state == "PENDING"
    assert not running.is_final and not running.is_halted
    failed = parse_v1_status(v1("DONE", results=[{"status": "ERROR", "msg": "boom"}]), "j1")
    assert failed.message == "boom"
    assert failed.is_final and not failed.succeeded
    done = parse_v1_status(v1("DONE", results=[{"status": "OK", "output_folder": "a/out"}]), "j1")
    assert done.output_folder == "a/out"
    assert done.results == ({"status": "OK", "output_folder": "a/out"},)
    assert done.succeeded and done.progress == 1.0
    halted = parse_v1_status(v1("PENDING", {"status": "STOPPED_AT_CHECKPOINT"}), "j1")
    assert halted.is_halted and not halted.is_final


@pytest.mark.parametrize(
    ("body", "state"),
    [
        ({"state": "PENDING"}, JobState.PENDING),
        ({"state": "RUNNING"}, JobState.RUNNING),
        ({"state": "COMPLETE"}, JobState.COMPLETE),
        ({"state": "FAILED", "message": "disk"}, JobState.FAILED),
        ({"state": "CANCELLED"}, JobState.CANCELLED),
        ({"state": "WHATEVER"}, JobState.UNKNOWN),
        ({}, JobState.UNKNOWN),
    ],
)
def test_v2_state_mapping(body: dict[str, Any], state: JobState) -> None:
    """A file-operation job's body maps leniently: unknown or missing state is UNKNOWN."""
    assert parse_v2_status(body, "d1").state is state


def test_status_body_must_be_an_object() -> None:
    """A status body that is not a JSON object is a ResponseValidationError, not a crash."""
    with pytest.raises(ResponseValidationError):
        parse_v1_status(["DONE"], "j1")
    with pytest.raises(ResponseValidationError):
        parse_v2_status("COMPLETE", "j1")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
_state_words = st.sampled_from(
    [
        "PENDING",
        "DONE",
        "COMPLETE",
        "RUNNING",
        "FAILED",
        "CANCELLED",
        "PAUSED",
        "STOPPED_AT_CHECKPOINT",
        "OK",
        "ERROR",
    ]
)


@given(
    state=_state_words | _json,
    cur=st.fixed_dictionaries(
        {}, optional={"status": _state_words | _json, "curProgress": _json | st.floats()}
    ).map(json.dumps)
    | _json,
    results=st.lists(
        st.fixed_dictionaries({}, optional={"status": _state_words | _json, "msg": _json}) | _json, max_size=3
    )
    | _json,
)
def test_any_status_body_normalises_without_raising(state: Any, cur: Any, results: Any) -> None:
    """Any combination of state, cur_status and results maps to exactly one JobState."""
    status = parse_v1_status({"state": state, "cur_status": cur, "results": results}, "j1")
    assert isinstance(status.state, JobState)
    assert status.progress is None or 0.0 <= status.progress <= 1.0
    assert not (status.is_final and status.is_halted)


# --------------------------------------------------------------------------- waiting


@pytest.mark.anyio
async def test_wait_returns_final_status_and_reports_changes() -> None:
    """wait polls to the end, returns the last status and calls on_status on each change."""
    handler, seen = sequence(
        [
            v1("PENDING", {"status": "RUNNING", "curProgress": 0.1}),
            v1("PENDING", {"status": "RUNNING", "curProgress": 0.1}),
            v1("PENDING", {"status": "RUNNING", "curProgress": 0.6}),
            v1("DONE", results=[{"status": "OK", "output_folder": "out"}]),
        ]
    )
    changes: list[JobStatus] = []
    async with client_for(handler) as ib:
        status = await ib.jobs.from_id("j1").wait(on_status=changes.append)
    assert status.state is JobState.COMPLETE
    assert [c.progress for c in changes] == [0.1, 0.6, 1.0]
    assert len(seen) == 4
    assert seen[0].url.params["job_id"] == "j1"
    assert seen[0].url.params["type"] == "flow"


@pytest.mark.anyio
async def test_wait_accepts_async_callbacks() -> None:
    """on_status may be a coroutine function."""
    handler, _ = sequence([v1("PENDING"), v1("DONE", results=[{"status": "OK"}])])
    states: list[JobState] = []

    async def record(status: JobStatus) -> None:
        await anyio.lowlevel.checkpoint()
        states.append(status.state)

    async with client_for(handler) as ib:
        await ib.jobs.wait(ib.jobs.from_id("j1"), on_status=record)
    assert states == [JobState.PENDING, JobState.COMPLETE]


@pytest.mark.anyio
async def test_wait_raises_on_failure_with_last_status() -> None:
    """A failed job raises JobFailedError carrying its last status; raise_on_failure=False returns it."""
    handler, _ = sequence([v1("DONE", results=[{"status": "ERROR", "msg": "bad input"}])])
    async with client_for(handler) as ib:
        job = ib.jobs.from_id("j1")
        with pytest.raises(JobFailedError) as info:
            await job.wait()
        assert info.value.status is not None
        assert info.value.status.message == "bad input"
        status = await job.wait(raise_on_failure=False)
        assert status.state is JobState.FAILED


@pytest.mark.anyio
async def test_wait_raises_on_cancelled() -> None:
    """A cancelled job raises JobCancelledError."""
    handler, _ = sequence([v1("DONE", {"status": "CANCELLED"})])
    async with client_for(handler) as ib:
        with pytest.raises(JobCancelledError):
            await ib.jobs.from_id("j1").wait()


@pytest.mark.anyio
async def test_wait_stops_when_halted_unless_told_not_to() -> None:
    """STOPPED_AT_CHECKPOINT ends a wait by default; stop_when_halted=False keeps waiting."""
    halted = v1("PENDING", {"status": "STOPPED_AT_CHECKPOINT"})
    handler, seen = sequence([halted, halted, v1("DONE", results=[{"status": "OK"}])])
    async with client_for(handler) as ib:
        status = await ib.jobs.from_id("j1").wait()
        assert status.state is JobState.STOPPED_AT_CHECKPOINT
        assert len(seen) == 1
        status = await ib.jobs.from_id("j1").wait(stop_when_halted=False)
        assert status.state is JobState.COMPLETE


@pytest.mark.anyio
async def test_wait_timeout_raises_with_last_status() -> None:
    """timeout bounds the whole wait: WaitTimeoutError (also a TimeoutError) carries the last status."""
    handler, seen = sequence([v1("PENDING", {"status": "RUNNING", "curProgress": 0.3})])
    async with client_for(handler, poll=PollPolicy.fixed(0.01)) as ib:
        with pytest.raises(WaitTimeoutError) as info:
            await ib.jobs.from_id("j1").wait(timeout=0.1)
    assert isinstance(info.value, TimeoutError)
    assert info.value.status is not None
    assert info.value.status.state is JobState.RUNNING
    assert 1 <= len(seen) < 50


@pytest.mark.anyio
async def test_unknown_state_is_waited_on_until_the_deadline() -> None:
    """An unknown state is UNKNOWN: polled again, bounded by the timeout, never a crash."""
    handler, seen = sequence([v1("MYSTERY")])
    async with client_for(handler, poll=PollPolicy.fixed(0.01)) as ib:
        with pytest.raises(WaitTimeoutError) as info:
            await ib.jobs.from_id("j1").wait(timeout=0.05)
    assert info.value.status is not None and info.value.status.state is JobState.UNKNOWN
    assert len(seen) >= 2


@pytest.mark.anyio
async def test_wait_works_under_callers_cancel_scope() -> None:
    """The caller's move_on_after stops a wait cleanly, and no poll happens after it."""
    handler, seen = sequence([v1("PENDING")])
    async with client_for(handler, poll=PollPolicy.fixed(0.01)) as ib:
        with anyio.move_on_after(0.05) as scope:
            await ib.jobs.from_id("j1").wait()
        assert scope.cancelled_caught
        count = len(seen)
        await anyio.sleep(0.05)
        assert len(seen) == count


@pytest.mark.anyio
async def test_v1_error_body_on_status_is_an_operation_error() -> None:
    """The status API's HTTP 200 {"status": "ERROR"} raises OperationError with its message."""
    handler, _ = sequence([{"status": "ERROR", "msg": "no such job"}])
    async with client_for(handler) as ib:
        with pytest.raises(OperationError, match="no such job"):
            await ib.jobs.status("nope")


@pytest.mark.anyio
async def test_retry_after_on_status_stretches_next_poll() -> None:
    """A Retry-After header on a status answer delays the next poll at least that long."""
    times: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        times.append(anyio.current_time())
        body = v1("DONE", results=[{"status": "OK"}]) if len(times) > 1 else v1("PENDING")
        return httpx.Response(200, json=body, headers={"Retry-After": "0.2"})

    async with client_for(handler) as ib:
        await ib.jobs.from_id("j1").wait()
    assert times[1] - times[0] >= 0.19


@pytest.mark.anyio
async def test_watch_yields_each_change_until_final() -> None:
    """watch() yields changed statuses only, ending at the final one."""
    handler, _ = sequence(
        [
            v1("PENDING"),
            v1("PENDING"),
            v1("PENDING", {"status": "RUNNING", "curProgress": 0.5}),
            v1("DONE", results=[{"status": "OK"}]),
        ]
    )
    async with client_for(handler) as ib:
        states = [s.state async for s in ib.jobs.from_id("j1").watch()]
    assert states == [JobState.PENDING, JobState.RUNNING, JobState.COMPLETE]


@pytest.mark.anyio
async def test_location_job_polls_its_url() -> None:
    """A files.delete job is polled at its Location URL and parsed as a v2 job."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "DELETE":
            return httpx.Response(202, headers={"Location": f"{BASE}/api/v2/files/delete/jobs/d-1"})
        return httpx.Response(200, json={"state": "COMPLETE"} if len(seen) > 2 else {"state": "RUNNING"})

    async with client_for(handler) as ib:
        job = await ib.files.delete("u/r/fs/Instabase Drive/a.txt")
        assert job.job_id == "d-1" and job.type is None
        status = await job.wait()
    assert status.succeeded
    assert seen[1:] == ["GET /api/v2/files/delete/jobs/d-1"] * 2


# --------------------------------------------------------------------------- tokens


@pytest.mark.anyio
async def test_token_round_trip_has_no_secret() -> None:
    """to_token is plain JSON without the token; from_token rebuilds an equal handle."""
    handler, _ = sequence([v1("DONE", results=[{"status": "OK"}])])
    async with client_for(handler) as ib:
        job = ib.jobs.from_id("j-42", type="async")
        token = job.to_token()
        assert "tok" not in token.replace("token", "")
        data = json.loads(token)
        assert data["job_id"] == "j-42" and data["type"] == "async" and data["v"] == 1
        again = ib.jobs.from_token(token)
        assert again == job
        assert (await again.status()).succeeded


@pytest.mark.anyio
@pytest.mark.parametrize(
    "token",
    [
        "not json",
        "[]",
        '{"v": 99, "job_id": "x"}',
        '{"v": 1}',
        '{"v": 1, "job_id": "x", "status_url": "https://evil.example/api/v2/jobs/x"}',
        '{"v": 1, "job_id": "x", "status_url": 5}',
    ],
)
async def test_bad_tokens_are_refused(token: str) -> None:
    """A malformed token, or one pointing at another origin, is a ValueError."""
    handler, seen = sequence([v1("DONE")])
    async with client_for(handler) as ib:
        with pytest.raises(ValueError):
            ib.jobs.from_token(token)
    assert seen == []


def test_poll_policy_delays() -> None:
    """PollPolicy grows by its multiplier, is capped at maximum and jittered within bounds."""
    policy = PollPolicy(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    jittered = PollPolicy(initial=1.0, maximum=1.0, jitter=0.2)
    assert all(0.8 <= jittered.delay(1) <= 1.2 for _ in range(200))
    assert PollPolicy.fixed(3).delay(10) == 3
    with pytest.raises(ValueError):
        PollPolicy(multiplier=0.5)
    with pytest.raises(ValueError):
        PollPolicy(jitter=1.5)
    with pytest.raises(ValueError):
        PollPolicy(initial=-1)


@pytest.mark.anyio
async def test_a_steep_poll_policy_waits_on_past_where_its_growth_overflows() -> None:
    """A valid PollPolicy whose growth passes what a float holds polls at its maximum: no OverflowError."""
    handler, seen = sequence([v1("PENDING")] * 40 + [v1("DONE", results=[{"status": "OK"}])])
    steep = PollPolicy(initial=0, maximum=0, multiplier=1e10, jitter=0, adaptive=False)
    async with client_for(handler, poll=steep) as ib:
        with anyio.fail_after(10):
            status = await ib.jobs.from_id("j1").wait()
    assert status.state is JobState.COMPLETE
    assert len(seen) == 41
