"""Many jobs and many files at once: the waiter, wait_all, run_many, upload_many and download_many."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest
from support import wait_each

from instabase_async import (
    AsyncInstabase,
    FlowRunRequest,
    Job,
    JobCancelledError,
    JobFailedError,
    JobOutcome,
    JobState,
    NotFoundError,
    OperationError,
    PollPolicy,
    Progress,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    RunOutcome,
    ServerError,
    WaitTimeoutError,
)
from instabase_async._transfers import dir_items
from instabase_async.testing import FakeInstabase

BASE = "https://ib.test"
STATUS = "/api/v1/jobs/status"
FILES = "/api/v2/files/"


class _Broken(httpx.AsyncByteStream):
    """A download body that breaks after its first chunk."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"partial"
        raise httpx.ReadError("connection dropped")


class Server:
    """A tiny in-test Instabase: flow jobs that finish after a set number of polls, a file store,
    and counters of what reached it (requests, requests in the air, runs alive)."""

    def __init__(self, *, polls: int = 2, delay: float = 0.001) -> None:
        self.polls_to_finish = polls
        self.delay = delay
        self.finish: dict[str, int] = {}  # job id -> polls before it is DONE
        self.behaviour: dict[str, str] = {}  # job id -> 500, garbage, failed, cancelled, pending, slow
        self.polls: Counter[str] = Counter()
        self.log: list[tuple[float, str, str]] = []  # (time, method, job id or path)
        self.in_flight = 0
        self.max_in_flight = 0
        self.alive: set[str] = set()
        self.max_alive = 0
        self.runs = 0
        self.rate_limit_first: str | None = None  # a Retry-After for the very first status request
        self.rate_limited_at: float | None = None
        self.store: dict[str, bytes] = {}
        self.put_headers: list[httpx.Headers] = []

    @property
    def count(self) -> int:
        return len(self.log)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.delay)
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == STATUS:
            job_id = request.url.params["job_id"]
            self.log.append((anyio.current_time(), "GET", job_id))
            return await self._status(job_id)
        if path == "/api/v1/flow/run_flow_async":
            self.log.append((anyio.current_time(), "POST", path))
            body = json.loads(request.content)
            if "reject" in body["ibflow_path"]:
                return httpx.Response(200, json={"status": "ERROR", "msg": "no such flow"})
            self.runs += 1
            job_id = f"run-{self.runs}"
            self.alive.add(job_id)
            self.max_alive = max(self.max_alive, len(self.alive))
            return httpx.Response(200, json={"status": "OK", "data": {"job_id": job_id}})
        if path.startswith(FILES):
            name = path[len(FILES) :]
            self.log.append((anyio.current_time(), request.method, name))
            return await self._file(request, name)
        return httpx.Response(404, json={"msg": "no route"})

    async def _status(self, job_id: str) -> httpx.Response:
        if self.rate_limit_first is not None and self.rate_limited_at is None:
            self.rate_limited_at = anyio.current_time()
            return httpx.Response(429, headers={"Retry-After": self.rate_limit_first})
        self.polls[job_id] += 1
        what = self.behaviour.get(job_id)
        if what == "500":
            return httpx.Response(500, json={"msg": "status store down"})
        if what == "garbage":
            return httpx.Response(200, content=b"<html>gateway</html>")
        if what == "failed":
            self.alive.discard(job_id)
            return ok_body(job_id, "DONE", results=[{"status": "ERROR", "msg": "bad input"}])
        if what == "cancelled":
            self.alive.discard(job_id)
            return ok_body(job_id, "DONE", cur={"status": "CANCELLED"}, results=[])
        if what == "slow":
            await anyio.sleep(5)
        if what in ("pending", "slow"):
            return ok_body(job_id, "PENDING", cur={"status": "RUNNING", "curProgress": 0.1})
        if self.polls[job_id] >= self.finish.get(job_id, self.polls_to_finish):
            self.alive.discard(job_id)
            return ok_body(job_id, "DONE", results=[{"status": "OK", "output_folder": f"out/{job_id}"}])
        return ok_body(job_id, "PENDING", cur={"status": "RUNNING", "curProgress": 0.5})

    async def _file(self, request: httpx.Request, name: str) -> httpx.Response:
        if request.method == "PUT":
            self.put_headers.append(request.headers)
            data = await request.aread()
            if "broken" in name:
                return httpx.Response(500, json={"msg": "disk full"})
            self.store[name] = data
            return httpx.Response(204)
        if "flaky" in name:
            return httpx.Response(200, stream=_Broken())
        if name not in self.store:
            return httpx.Response(404, json={"msg": "not found"})
        return httpx.Response(200, content=self.store[name])


def ok_body(job_id: str, state: str, *, cur: Any = None, results: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"status": "OK", "job_id": job_id, "state": state}
    if cur is not None:
        body["cur_status"] = json.dumps(cur)
    if results is not None:
        body["results"] = results
    return httpx.Response(200, json=body)


def client_for(server: Server, **kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("poll", PollPolicy(initial=0, maximum=0))
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
    return AsyncInstabase(BASE, "tok", transport=httpx.MockTransport(server.handler), **kwargs)


def jobs_for(ib: AsyncInstabase, count: int, prefix: str = "j") -> list[Job]:
    return [ib.jobs.from_id(f"{prefix}{i}") for i in range(count)]


async def assert_quiet(server: Server) -> None:
    """Nothing reaches the server any more, and nothing is in the air."""
    before = server.count
    await anyio.sleep(0.05)
    assert server.count == before
    assert server.in_flight == 0


# --------------------------------------------------------------------------- the waiter


@pytest.mark.anyio
async def test_waiter_reports_each_of_500_jobs_exactly_once() -> None:
    """500 jobs finishing after 1 to 4 polls each come out once each, all successful."""
    server = Server()
    rng = random.Random(7)
    async with client_for(server) as ib:
        jobs = jobs_for(ib, 500)
        for job in jobs:
            server.finish[job.job_id] = rng.randint(1, 4)
        seen = await wait_each(ib, jobs, max_in_flight=16)
    assert seen == Counter(job.job_id for job in jobs)
    assert len(seen) == 500
    assert sum(server.polls.values()) == sum(server.finish.values())


@pytest.mark.anyio
async def test_iteration_without_jobs_ends_at_once() -> None:
    """A waiter with nothing added ends its iteration immediately."""
    server = Server()
    async with client_for(server) as ib, ib.jobs.waiter() as waiter:
        assert [outcome async for outcome in waiter] == []
    assert server.count == 0


@pytest.mark.anyio
async def test_waiter_yields_completion_order_and_wait_all_input_order() -> None:
    """The waiter reports the quickest job first; wait_all returns input order, duplicates included."""
    server = Server()
    async with client_for(server) as ib:
        slow, fast = ib.jobs.from_id("slow"), ib.jobs.from_id("fast")
        server.finish.update(slow=6, fast=1)
        async with ib.jobs.waiter() as waiter:
            waiter.add(slow)
            waiter.add(fast)
            order = [outcome.job.job_id async for outcome in waiter]
        assert order == ["fast", "slow"]

        server.polls.clear()
        outcomes = await ib.jobs.wait_all([slow, fast, slow])
    assert [o.job.job_id for o in outcomes] == ["slow", "fast", "slow"]
    assert all(o.ok for o in outcomes)
    assert outcomes[0] is not outcomes[2]


@pytest.mark.anyio
async def test_in_flight_requests_are_capped() -> None:
    """However many jobs wait, at most max_in_flight status requests are in the air."""
    # Each answer takes 50 ms, so even on a busy machine the pollers overlap and reach the cap.
    server = Server(polls=2, delay=0.05)
    async with client_for(server) as ib:
        outcomes = await ib.jobs.wait_all(jobs_for(ib, 40), max_in_flight=5)
    assert all(o.ok for o in outcomes)
    assert server.max_in_flight == 5
    assert sum(server.polls.values()) == 80


@pytest.mark.anyio
async def test_polls_per_second_cap_spaces_requests() -> None:
    """max_polls_per_second spaces status requests at least 1/rate apart, whatever the jobs."""
    server = Server(polls=1, delay=0)
    async with client_for(server) as ib:
        outcomes = await ib.jobs.wait_all(jobs_for(ib, 20), max_in_flight=20, max_polls_per_second=200)
    assert all(o.ok for o in outcomes)
    times = [t for t, _, _ in server.log]
    assert len(times) == 20
    # A lower bound only: never flaky, however slow the machine.
    assert times[-1] - times[0] >= 19 / 200 * 0.9


@pytest.mark.anyio
@pytest.mark.parametrize("client_retries", [True, False])
async def test_429_pauses_the_whole_waiter(client_retries: bool) -> None:
    """A 429 stops every job's polling for Retry-After (retried inside the client or not); no job fails."""
    server = Server(polls=3)
    server.rate_limit_first = "0.2"
    retry = RetryPolicy(initial_backoff=0) if client_retries else RetryPolicy.disabled()
    async with client_for(server, retry=retry) as ib:
        outcomes = await ib.jobs.wait_all(jobs_for(ib, 40), max_in_flight=4)
    assert all(o.ok for o in outcomes), outcomes
    assert sum(server.polls.values()) == 120  # the 429 cost no job a poll
    hit = server.rate_limited_at
    assert hit is not None
    # Only the (at most 3) requests already in the air when the 429 came back may land during
    # the pause; without a shared pause, polling at PollPolicy(0) would put dozens there.
    during = [t for t, _, _ in server.log if hit < t < hit + 0.18]
    assert len(during) <= 3
    assert max(t for t, _, _ in server.log) - hit >= 0.18


@pytest.mark.anyio
async def test_endless_429_becomes_that_jobs_outcome() -> None:
    """A job whose status answers 429 past the client's retries again and again ends as RateLimitError."""

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0"})

    ib = AsyncInstabase(
        BASE,
        "tok",
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy.disabled(),
        poll=PollPolicy(0, 0),
    )
    async with ib:
        (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("j")])
    assert isinstance(outcome.error, RateLimitError)
    assert not outcome.ok


@pytest.mark.anyio
async def test_failing_status_is_that_jobs_outcome_only() -> None:
    """Status 500s past the retries, garbage bodies, failed and cancelled jobs end only their own wait."""
    server = Server()
    server.behaviour.update({"e500": "500", "junk": "garbage", "boom": "failed", "stop": "cancelled"})
    async with client_for(server) as ib:
        names = ["ok1", "e500", "junk", "boom", "stop", "ok2"]
        outcomes = await ib.jobs.wait_all([ib.jobs.from_id(n) for n in names])
    by_name = {o.job.job_id: o for o in outcomes}
    assert by_name["ok1"].ok
    assert by_name["ok2"].ok
    assert isinstance(by_name["e500"].error, ServerError)
    assert server.polls["e500"] == 4  # the client's own retries, then the outcome
    assert isinstance(by_name["junk"].error, ResponseValidationError)
    boom, stop = by_name["boom"], by_name["stop"]
    assert isinstance(boom.error, JobFailedError)
    assert boom.status is not None
    assert boom.status.state is JobState.FAILED
    assert boom.error.status is boom.status
    assert isinstance(stop.error, JobCancelledError)
    assert stop.status is not None
    assert stop.status.state is JobState.CANCELLED
    assert not any(by_name[n].ok for n in ("e500", "junk", "boom", "stop"))


@pytest.mark.anyio
async def test_halted_job_stops_the_wait_unless_told_otherwise() -> None:
    """A job stopped at a checkpoint is an outcome (not ok, no error) by default."""

    async def handler(request: httpx.Request) -> httpx.Response:
        return ok_body("j", "PENDING", cur={"status": "STOPPED_AT_CHECKPOINT"})

    ib = AsyncInstabase(BASE, "tok", transport=httpx.MockTransport(handler), poll=PollPolicy.fixed(0.01))
    async with ib:
        (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("j")])
        assert outcome.error is None
        assert not outcome.ok
        assert outcome.status is not None
        assert outcome.status.state is JobState.STOPPED_AT_CHECKPOINT
        (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("j")], stop_when_halted=False, timeout=0.05)
        assert isinstance(outcome.error, WaitTimeoutError)


@pytest.mark.anyio
async def test_timeout_counts_per_job_from_when_it_was_added() -> None:
    """A job added late gets its full timeout; the outcome carries WaitTimeoutError and the last status."""
    server = Server()
    server.behaviour["stuck"] = "pending"
    async with client_for(server, poll=PollPolicy.fixed(0.01)) as ib:
        async with ib.jobs.waiter(timeout=0.15) as waiter:
            waiter.add(ib.jobs.from_id("quick"))
            results: dict[str, tuple[JobOutcome, float]] = {}
            added_at = 0.0
            async for outcome in waiter:
                results[outcome.job.job_id] = (outcome, anyio.current_time())
                if outcome.job.job_id == "quick":
                    await anyio.sleep(0.1)  # longer than half the timeout: the clock must start at add()
                    added_at = anyio.current_time()
                    waiter.add(ib.jobs.from_id("stuck"))
        quick, _ = results["quick"]
        stuck, ended_at = results["stuck"]
    assert quick.ok
    assert isinstance(stuck.error, WaitTimeoutError)
    assert stuck.status is not None
    assert stuck.status.state is JobState.RUNNING
    assert stuck.error.status is stuck.status
    assert ended_at - added_at >= 0.15 * 0.95


@pytest.mark.anyio
async def test_timeout_cuts_a_poll_in_the_air() -> None:
    """A job whose status request hangs times out at its deadline, not when the request ends."""
    server = Server()
    server.behaviour["hang"] = "slow"
    async with client_for(server) as ib:
        start = anyio.current_time()
        (outcome,) = await ib.jobs.wait_all([ib.jobs.from_id("hang")], timeout=0.05)
        elapsed = anyio.current_time() - start
    assert isinstance(outcome.error, WaitTimeoutError)
    assert outcome.status is None
    assert elapsed < 2.5  # the server would have taken 5 s
    assert server.in_flight == 0


@pytest.mark.anyio
async def test_zero_timeout_times_out_without_polling() -> None:
    """timeout=0 ends every wait at once."""
    server = Server()
    async with client_for(server) as ib:
        outcomes = await ib.jobs.wait_all(jobs_for(ib, 3), timeout=0)
    assert all(isinstance(o.error, WaitTimeoutError) for o in outcomes)


@pytest.mark.anyio
async def test_add_inside_the_loop_extends_the_iteration() -> None:
    """Jobs added while iterating are waited on and reported before the iteration ends."""
    server = Server()
    async with client_for(server) as ib, ib.jobs.waiter() as waiter:
        waiter.add(ib.jobs.from_id("gen0"))
        seen = []
        async for outcome in waiter:
            seen.append(outcome.job.job_id)
            generation = int(outcome.job.job_id[3:])
            if generation < 3:
                waiter.add(ib.jobs.from_id(f"gen{generation + 1}"))
                waiter.add(ib.jobs.from_id(f"gen{generation + 1}"))
    assert Counter(seen) == {"gen0": 1, "gen1": 2, "gen2": 4, "gen3": 8}


@pytest.mark.anyio
async def test_add_needs_an_open_waiter() -> None:
    """add() before entering or after leaving is a RuntimeError; a non-Job is a TypeError."""
    server = Server()
    async with client_for(server) as ib:
        waiter = ib.jobs.waiter()
        with pytest.raises(RuntimeError):
            waiter.add(ib.jobs.from_id("a"))
        async with waiter:
            with pytest.raises(TypeError):
                waiter.add("a")
        with pytest.raises(RuntimeError):
            waiter.add(ib.jobs.from_id("a"))
        assert [o async for o in waiter] == []


@pytest.mark.anyio
async def test_break_leaves_nothing_running() -> None:
    """Breaking out of the loop cancels every other poll at once."""
    server = Server()
    server.behaviour.update({f"p{i}": "pending" for i in range(50)})
    async with client_for(server, poll=PollPolicy.fixed(0.001)) as ib:
        async with ib.jobs.waiter(max_in_flight=8) as waiter:
            for job in [ib.jobs.from_id("done"), *jobs_for(ib, 50, "p")]:
                waiter.add(job)
            async for outcome in waiter:
                assert outcome.job.job_id == "done"
                break
        await assert_quiet(server)


@pytest.mark.anyio
async def test_exception_in_the_body_propagates_unwrapped_and_stops_polling() -> None:
    """An exception inside the block comes out as it is, with all polling stopped."""
    server = Server()
    server.behaviour.update({f"p{i}": "pending" for i in range(20)})
    async with client_for(server, poll=PollPolicy.fixed(0.001)) as ib:

        async def body() -> None:
            async with ib.jobs.waiter() as waiter:
                for job in jobs_for(ib, 20, "p"):
                    waiter.add(job)
                await anyio.sleep(0.02)
                raise KeyError("mine")

        with pytest.raises(KeyError):
            await body()
        await assert_quiet(server)


@pytest.mark.anyio
async def test_cancellation_leaves_nothing_running() -> None:
    """A caller's cancel scope ends the waiter and every request it had in the air."""
    server = Server()
    server.behaviour.update({f"p{i}": "pending" for i in range(20)})
    server.behaviour["hang"] = "slow"
    async with client_for(server, poll=PollPolicy.fixed(0.001)) as ib:
        with anyio.move_on_after(0.05) as scope:
            await ib.jobs.wait_all([ib.jobs.from_id("hang"), *jobs_for(ib, 20, "p")], max_in_flight=4)
        assert scope.cancelled_caught
        await assert_quiet(server)


@pytest.mark.anyio
async def test_waiter_rejects_bad_limits() -> None:
    """Limits that would hang or make no sense are a ValueError before anything is sent."""
    server = Server()
    async with client_for(server) as ib:
        for kwargs in ({"max_in_flight": 0}, {"max_polls_per_second": 0}, {"timeout": -1}):
            with pytest.raises(ValueError, match=next(iter(kwargs))):
                ib.jobs.waiter(**kwargs)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match=next(iter(kwargs))):
                await ib.jobs.wait_all(jobs_for(ib, 2), **kwargs)  # type: ignore[arg-type]
    assert server.count == 0


# --------------------------------------------------------------------------- run_many


@pytest.mark.anyio
async def test_run_many_caps_running_jobs_and_reports_everything() -> None:
    """At most max_running runs are alive; a rejected submission is an outcome; callbacks see each one."""
    # 20 ms answers: the first four submissions all land before any run can finish, even under load.
    server = Server(polls=3, delay=0.02)
    requests = [FlowRunRequest(f"me/repo/fs/d/flow{i}.ibflow", "me/repo/fs/d/in") for i in range(30)]
    requests[7] = FlowRunRequest("me/repo/fs/d/reject.ibflow", "me/repo/fs/d/in")
    seen: list[RunOutcome] = []
    events: list[Progress] = []

    async def on_progress(event: Progress) -> None:
        await anyio.lowlevel.checkpoint()
        events.append(event)

    async with client_for(server) as ib:
        outcomes = await ib.flows.run_many(
            requests, max_running=4, on_outcome=seen.append, progress=on_progress
        )
    assert server.max_alive == 4
    assert not server.alive
    assert [o.request for o in outcomes] == requests
    rejected = outcomes[7]
    assert rejected.job is None
    assert rejected.status is None
    assert isinstance(rejected.error, OperationError)
    assert all(o.ok for i, o in enumerate(outcomes) if i != 7)
    assert len({o.job.job_id for o in outcomes if o.job}) == 29
    assert sorted(seen, key=outcomes.index) == outcomes
    assert [e.done for e in events] == list(range(1, 31))
    assert events[-1] == Progress(30, 30, 1)


@pytest.mark.anyio
async def test_run_many_sync_progress_and_async_outcome_callbacks() -> None:
    """Sync and async callbacks both work; a job failing on the server counts as failed."""
    server = Server(polls=1)
    server.behaviour["run-2"] = "failed"
    seen: list[RunOutcome] = []
    events: list[Progress] = []

    async def on_outcome(outcome: RunOutcome) -> None:
        await anyio.lowlevel.checkpoint()
        seen.append(outcome)

    requests = [FlowRunRequest(f"f{i}.ibflow", "in") for i in range(5)]
    async with client_for(server) as ib:
        outcomes = await ib.flows.run_many(
            requests, max_running=1, on_outcome=on_outcome, progress=events.append
        )
    assert server.max_alive == 1
    assert len(seen) == 5
    assert isinstance(outcomes[1].error, JobFailedError)
    assert events[-1] == Progress(5, 5, 1)


@pytest.mark.anyio
async def test_run_many_checks_arguments_before_sending() -> None:
    """max_running < 1 or a bad request is refused before any request is sent."""
    server = Server()
    good = FlowRunRequest("f.ibflow", "in")
    async with client_for(server) as ib:
        with pytest.raises(ValueError, match="max_running"):
            await ib.flows.run_many([good], max_running=0)
        with pytest.raises(ValueError):
            await ib.flows.run_many([good, FlowRunRequest("f.ibflow", "")])
        assert await ib.flows.run_many([]) == []
    assert server.count == 0


@pytest.mark.anyio
async def test_run_many_callback_error_stops_everything() -> None:
    """An on_outcome that raises ends run_many with that exception and nothing left running."""
    server = Server(polls=50)
    server.finish["run-1"] = 1

    def on_outcome(outcome: RunOutcome) -> None:
        raise LookupError("callback bug")

    requests = [FlowRunRequest(f"f{i}.ibflow", "in") for i in range(10)]
    async with client_for(server) as ib:
        with pytest.raises(LookupError):
            await ib.flows.run_many(requests, max_running=3, on_outcome=on_outcome)
        await assert_quiet(server)


# --------------------------------------------------------------------------- transfers


@pytest.mark.anyio
async def test_upload_many_failure_in_the_middle_does_not_stop_the_rest(tmp_path: Path) -> None:
    """Every file gets an outcome in input order; a missing file and a server error fail only themselves."""
    server = Server(delay=0)
    sources = []
    for i in range(6):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes([i]) * (1000 * (i + 1)))
        sources.append(path)
    sources[2].unlink()
    items = [
        (str(p) if i % 2 else p, f"me/repo/fs/d/up/{'broken' if i == 4 else 'ok'}{i}.bin")
        for i, p in enumerate(sources)
    ]
    events: list[Progress] = []
    async with client_for(server) as ib:
        outcomes = await ib.files.upload_many(items, concurrency=2, progress=events.append)
    assert [o.source for o in outcomes] == [str(p) for p in sources]
    assert [o.target for o in outcomes] == [remote for _, remote in items]
    assert [o.ok for o in outcomes] == [True, True, False, True, False, True]
    assert isinstance(outcomes[2].error, FileNotFoundError)
    assert isinstance(outcomes[4].error, ServerError)
    for i in (0, 1, 3, 5):
        assert outcomes[i].bytes == 1000 * (i + 1)
        assert server.store[f"me/repo/fs/d/up/ok{i}.bin"] == sources[i].read_bytes()
    total = sum(1000 * (i + 1) for i in range(6) if i != 2)
    assert [e.done for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[-1] == Progress(6, 6, 2, bytes_done=total - 5000, bytes_total=total)


@pytest.mark.anyio
async def test_upload_many_overwrite_false_sends_if_none_match(tmp_path: Path) -> None:
    """overwrite=False asks the server not to replace an existing file."""
    server = Server(delay=0)
    (tmp_path / "a.txt").write_text("hello")
    async with client_for(server) as ib:
        (outcome,) = await ib.files.upload_many([(tmp_path / "a.txt", "me/a.txt")], overwrite=False)
    assert outcome.ok
    assert outcome.bytes == 5
    assert server.put_headers[0]["If-None-Match"] == "*"


@pytest.mark.anyio
async def test_upload_many_checks_every_item_before_sending(tmp_path: Path) -> None:
    """A bad remote path anywhere, or concurrency < 1, raises before the first upload."""
    server = Server(delay=0)
    (tmp_path / "a").write_text("a")
    good = (tmp_path / "a", "me/a")
    async with client_for(server) as ib:
        with pytest.raises(ValueError):
            await ib.files.upload_many([good, (tmp_path / "a", "me/../etc")])
        with pytest.raises(ValueError, match="concurrency"):
            await ib.files.upload_many([good], concurrency=0)
        with pytest.raises(TypeError):
            await ib.files.upload_many([good], concurrency=1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ib.files.upload_many([(b"a", "me/a")])  # type: ignore[list-item]
        assert await ib.files.upload_many([]) == []
    assert server.count == 0


@pytest.mark.anyio
async def test_upload_dir_sends_every_file_under_its_relative_path(tmp_path: Path) -> None:
    """upload_dir walks the folder recursively, in sorted order, keeping relative paths."""
    server = Server(delay=0)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "sub" / "a b.txt").write_text("ab")
    (tmp_path / "sub" / "deeper" / "c.txt").write_text("c")
    assert [remote for _, remote in dir_items(tmp_path, "me/up/")] == [
        "me/up/b.txt",
        "me/up/sub/a b.txt",
        "me/up/sub/deeper/c.txt",
    ]
    async with client_for(server) as ib:
        outcomes = await ib.files.upload_dir(tmp_path, "me/up", concurrency=1)
    assert all(o.ok for o in outcomes)
    assert server.store == {"me/up/b.txt": b"b", "me/up/sub/a b.txt": b"ab", "me/up/sub/deeper/c.txt": b"c"}
    with pytest.raises(NotADirectoryError):
        dir_items(tmp_path / "b.txt", "me/up")


@pytest.mark.anyio
async def test_download_many_leaves_no_partial_files(tmp_path: Path) -> None:
    """Good files land whole; a 404 and a body cut mid-stream leave nothing at their paths."""
    server = Server(delay=0)
    server.store.update({"me/a": b"a" * 3000, "me/b": b"b" * 10})
    items: list[tuple[str, str | Path]] = [
        ("me/a", tmp_path / "a"),
        ("me/missing", tmp_path / "missing"),
        ("me/flaky", str(tmp_path / "flaky")),
        ("me/b", tmp_path / "nested" / "b"),
    ]
    events: list[Progress] = []
    async with client_for(server) as ib:
        outcomes = await ib.files.download_many(items, concurrency=3, progress=events.append)
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, NotFoundError)
    assert outcomes[2].error is not None
    assert (tmp_path / "a").read_bytes() == b"a" * 3000
    assert (tmp_path / "nested" / "b").read_bytes() == b"b" * 10
    assert not (tmp_path / "missing").exists()
    assert not (tmp_path / "flaky").exists()
    assert sorted(os.listdir(tmp_path)) == ["a", "nested"]  # no temporary leftovers
    assert events[-1] == Progress(4, 4, 2, bytes_done=3010, bytes_total=None)
    assert [o.bytes for o in outcomes] == [3000, 0, 0, 10]


@pytest.mark.anyio
async def test_download_many_checks_arguments_before_sending(tmp_path: Path) -> None:
    """concurrency < 1 and bad remote paths raise before anything is sent."""
    server = Server(delay=0)
    async with client_for(server) as ib:
        with pytest.raises(ValueError, match="concurrency"):
            await ib.files.download_many([("me/a", tmp_path / "a")], concurrency=0)
        with pytest.raises(ValueError):
            await ib.files.download_many([("me/a", tmp_path / "a"), ("me//b", tmp_path / "b")])
        with pytest.raises(TypeError):
            await ib.files.download_many([("me/a",)])  # type: ignore[list-item]
    assert server.count == 0


# --------------------------------------------------------------------------- end to end on the fake


@pytest.mark.anyio
async def test_run_many_on_the_fake_keeps_to_max_running() -> None:
    """On the fake Instabase, run_many never has more than max_running runs going; a 500 is an outcome."""
    fake = FakeInstabase(job_polls=2, seed=1)
    fake.write_file("me/repo/fs/d/in/a.pdf", b"%PDF")
    fake.faults.add("flow.run", status=500, times=1)
    requests = [FlowRunRequest("me/repo/fs/d/f.ibflow", "me/repo/fs/d/in") for _ in range(20)]
    async with fake.client(poll=PollPolicy(initial=0, maximum=0), retry=RetryPolicy(initial_backoff=0)) as ib:
        outcomes = await ib.flows.run_many(requests, max_running=3)
    assert fake.max_running_jobs == 3
    assert isinstance(outcomes[0].error, ServerError)
    assert outcomes[0].job is None
    assert all(o.ok for o in outcomes[1:])


@pytest.mark.anyio
async def test_upload_dir_and_download_many_round_trip_on_the_fake(tmp_path: Path) -> None:
    """Files uploaded with upload_dir come back byte for byte with download_many."""
    fake = FakeInstabase()
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "big.bin").write_bytes(bytes(range(256)) * 12_000)  # a few chunks
    (source / "sub" / "a b.txt").write_text("hello")
    async with fake.client() as ib:
        up = await ib.files.upload_dir(source, "me/repo/fs/d/up")
        down = await ib.files.download_many([(o.target, tmp_path / "back" / Path(o.target).name) for o in up])
    assert [o.ok for o in up + down] == [True] * 4
    assert fake.read_file("me/repo/fs/d/up/sub/a b.txt") == b"hello"
    assert (tmp_path / "back" / "big.bin").read_bytes() == (source / "big.bin").read_bytes()
    assert down[0].bytes == 256 * 12_000
