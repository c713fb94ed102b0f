"""Deployed-solution runs are waited on in batches through the multi-job listing."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import httpx
import pytest
import respx
from support import wait_each

from instabase_async import AsyncInstabase, JobState, PollPolicy, RetryPolicy, WaitTimeoutError
from instabase_async.testing import FakeInstabase

pytestmark = pytest.mark.anyio

BASE = "https://ib.test"
LISTING = "/api/v2/solutions/deployed/jobs"
STATUS = "/api/v1/jobs/status"
INPUT = "me/repo/fs/d/in"
INSTANT = PollPolicy(initial=0, maximum=0)


def done(job_id: str) -> dict[str, Any]:
    return {"status": "OK", "state": "DONE", "job_id": job_id, "results": [{"status": "OK"}]}


def listed(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"jobs": [{"id": job_id, "state": state, "jobType": "FLOW"} for job_id, state in pairs]}


def ids_of(request: httpx.Request) -> list[str]:
    return request.url.params.get_list("job_id")


async def started_runs(ib: AsyncInstabase, router: respx.MockRouter, count: int) -> list[Any]:
    """`count` runs of solution S started through `solutions.run` (what users get back)."""
    router.post("/api/v2/solutions/deployed/S/run").mock(
        side_effect=[httpx.Response(200, json={"job_id": f"r{i}"}) for i in range(count)]
    )
    return [await ib.solutions.run("S", input_dir=INPUT) for _ in range(count)]


@pytest.mark.usefixtures("httpx_transport")
async def test_runs_are_polled_in_one_listing_request(router: respx.MockRouter) -> None:
    """Ten runs go out as one listing request with ten repeated job_id parameters (limit ten);
    each then gets exactly one v1 status request, for its results."""
    listing = router.get(LISTING).mock(
        side_effect=lambda request: httpx.Response(
            200, json=listed(*((i, "COMPLETE") for i in ids_of(request)))
        )
    )
    status = router.get(STATUS).mock(
        side_effect=lambda request: httpx.Response(200, json=done(request.url.params["job_id"]))
    )
    async with AsyncInstabase(BASE, "tok", poll=INSTANT) as ib:
        jobs = await started_runs(ib, router, 10)
        assert all(job.solution_id == "S" and job.solution_run for job in jobs)
        with anyio.fail_after(10):
            outcomes = await ib.jobs.wait_all(jobs)
    assert [o.ok for o in outcomes] == [True] * 10
    assert listing.call_count == 1
    request = listing.calls[0].request
    assert sorted(ids_of(request)) == sorted(f"r{i}" for i in range(10))
    assert request.url.params["limit"] == "10"
    assert request.url.params["offset"] == "0"
    assert Counter(call.request.url.params["job_id"] for call in status.calls) == Counter(
        f"r{i}" for i in range(10)
    )


@pytest.mark.usefixtures("httpx_transport")
async def test_a_run_left_out_of_the_listing_is_polled_on_its_own(router: respx.MockRouter) -> None:
    """A run the listing does not name is polled with its own v1 status request from then on."""
    router.get(LISTING).mock(return_value=httpx.Response(200, json=listed(("r0", "RUNNING"))))
    answers = {"r0": [done("r0")], "r1": [{"status": "OK", "state": "PENDING"}, done("r1")]}
    status = router.get(STATUS).mock(
        side_effect=lambda request: httpx.Response(200, json=answers[request.url.params["job_id"]].pop(0))
    )
    async with AsyncInstabase(BASE, "tok", poll=INSTANT) as ib:
        jobs = await started_runs(ib, router, 2)
        with anyio.fail_after(10):
            async with ib.jobs.waiter() as waiter:
                waiter.add(jobs[1])
                outcome = await waiter.__anext__()
    assert outcome.ok
    assert [call.request.url.params["job_id"] for call in status.calls] == ["r1", "r1"]


@pytest.mark.usefixtures("httpx_transport")
async def test_a_failing_listing_falls_back_to_each_runs_own_status(router: respx.MockRouter) -> None:
    """A listing that fails past the retries costs no outcome: each run asks its own status."""
    router.get(LISTING).mock(return_value=httpx.Response(500, json={"message": "down"}))
    router.get(STATUS).mock(
        side_effect=lambda request: httpx.Response(200, json=done(request.url.params["job_id"]))
    )
    async with AsyncInstabase(BASE, "tok", poll=INSTANT, retry=RetryPolicy.disabled()) as ib:
        jobs = await started_runs(ib, router, 3)
        with anyio.fail_after(10):
            outcomes = await ib.jobs.wait_all(jobs)
    assert [o.ok for o in outcomes] == [True] * 3


@pytest.mark.usefixtures("httpx_transport")
async def test_a_rate_limited_listing_pauses_the_waiter(router: respx.MockRouter) -> None:
    """A 429 on the listing (past the client's retries) pauses every poll for its Retry-After."""
    router.get(LISTING).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.3"}, json={}),
            httpx.Response(200, json=listed(("r0", "COMPLETE"), ("r1", "COMPLETE"))),
        ]
    )
    router.get(STATUS).mock(
        side_effect=lambda request: httpx.Response(200, json=done(request.url.params["job_id"]))
    )
    async with AsyncInstabase(BASE, "tok", poll=INSTANT, retry=RetryPolicy.disabled()) as ib:
        jobs = await started_runs(ib, router, 2)
        with anyio.fail_after(10):
            started = anyio.current_time()
            outcomes = await ib.jobs.wait_all(jobs)
            assert anyio.current_time() - started >= 0.25
    assert [o.ok for o in outcomes] == [True, True]


@pytest.mark.usefixtures("httpx_transport")
async def test_run_by_name_and_listed_jobs_are_solution_runs(router: respx.MockRouter) -> None:
    """Jobs from run_by_name and from the jobs listing are solution runs too; the token keeps it."""
    router.post("/api/v2/solutions/deployed/run").mock(
        return_value=httpx.Response(200, json={"job_id": "n1"})
    )
    router.get(LISTING).mock(
        return_value=httpx.Response(200, json={"jobs": [{"id": "l1", "deployedSolutionId": "S"}]})
    )
    async with AsyncInstabase(BASE, "tok") as ib:
        (item,) = [item async for item in ib.solutions.jobs()]
        assert item.job.solution_run and item.job.solution_id == "S"
        by_name = await ib.solutions.run_by_name("My Solution", input_dir=INPUT)
        assert by_name.solution_run and by_name.solution_id is None
        resumed = ib.jobs.from_token(by_name.to_token())
        assert resumed.solution_run
        plain = ib.jobs.from_id("x")
        assert not plain.solution_run and plain.solution_id is None
        assert not ib.jobs.from_token(plain.to_token()).solution_run


async def test_solution_runs_on_the_fake_are_reported_once_with_few_listings() -> None:
    """On the fake: 30 runs, each reported exactly once; the listing carries many ids a request
    and every run gets one v1 status request (once the listing says final)."""
    fake = FakeInstabase(job_seconds=0.3, seed=2)
    fake.write_file(f"{INPUT}/a.pdf", b"%PDF")
    solution_id = fake.add_solution(name="A")
    async with fake.client(poll=PollPolicy(initial=0.1, maximum=0.2)) as ib:
        jobs = [await ib.solutions.run(solution_id, input_dir=INPUT) for _ in range(30)]
        with anyio.fail_after(20):
            seen = await wait_each(ib, jobs)
    assert seen == Counter(job.job_id for job in jobs)
    listings = fake.requests.filter("solutions.jobs")
    carried = sum(len(r.query.get("job_id", [])) for r in listings)
    assert len(listings) < len(jobs)
    assert carried / len(listings) > 3
    assert fake.requests.count("jobs.status") == len(jobs)


async def test_poll_timed_solution_runs_end_under_batched_polling() -> None:
    """With the fake's default poll-timed jobs, a listing that names a run counts as a poll of it,
    so runs waited on in batches end (and each gets its one v1 status request)."""
    fake = FakeInstabase(job_polls=2, seed=4)
    fake.write_file(f"{INPUT}/a.pdf", b"%PDF")
    solution_id = fake.add_solution(name="A")
    async with fake.client(poll=INSTANT) as ib:
        jobs = [await ib.solutions.run(solution_id, input_dir=INPUT) for _ in range(5)]
        with anyio.fail_after(10):
            seen = await wait_each(ib, jobs)
    assert seen == Counter(job.job_id for job in jobs)
    assert fake.requests.count("jobs.status") == 5


@pytest.mark.usefixtures("httpx_transport")
async def test_a_run_still_going_at_its_timeout_reports_the_listed_state(router: respx.MockRouter) -> None:
    """A run the listing keeps reporting RUNNING times out with that state as its last one, and
    never costs a v1 status request."""
    router.get(LISTING).mock(
        return_value=httpx.Response(
            200, json={"jobs": [{"id": "r0", "state": "RUNNING", "curProgress": 0.5}]}
        )
    )
    async with AsyncInstabase(BASE, "tok", poll=PollPolicy(initial=0.01, maximum=0.02)) as ib:
        (job,) = await started_runs(ib, router, 1)
        with anyio.fail_after(10):
            (outcome,) = await ib.jobs.wait_all([job], timeout=0.2)
    assert isinstance(outcome.error, WaitTimeoutError)
    assert outcome.status is not None
    assert (outcome.status.state, outcome.status.progress) == (JobState.RUNNING, 0.5)
    assert "RUNNING" in str(outcome.error)
    assert all(call.request.url.path != STATUS for call in router.calls)


@pytest.mark.usefixtures("httpx_transport")
async def test_a_listing_ahead_of_the_status_goes_back_to_the_listing(router: respx.MockRouter) -> None:
    """A run listed COMPLETE whose own status still says PENDING is polled through the listing
    again, and confirmed on v1 once more when the listing says final again."""
    listing = router.get(LISTING).mock(return_value=httpx.Response(200, json=listed(("r0", "COMPLETE"))))
    answers = [{"status": "OK", "state": "PENDING"}, done("r0")]
    status = router.get(STATUS).mock(side_effect=lambda request: httpx.Response(200, json=answers.pop(0)))
    async with AsyncInstabase(BASE, "tok", poll=INSTANT) as ib:
        jobs = await started_runs(ib, router, 1)
        with anyio.fail_after(10):
            (outcome,) = await ib.jobs.wait_all(jobs)
    assert outcome.ok
    assert (listing.call_count, status.call_count) == (2, 2)


@pytest.mark.usefixtures("httpx_transport")
@pytest.mark.parametrize(
    "body",
    [{"no": "jobs"}, {"jobs": ["junk", {"id": 5, "state": "RUNNING"}, {"id": "r0"}]}],
)
async def test_a_garbled_listing_sends_each_run_to_its_own_status(
    router: respx.MockRouter, body: dict[str, Any]
) -> None:
    """A listing without a `jobs` list, or whose items say nothing usable, costs no outcome: the
    runs are polled on their own status."""
    router.get(LISTING).mock(return_value=httpx.Response(200, json=body))
    router.get(STATUS).mock(
        side_effect=lambda request: httpx.Response(200, json=done(request.url.params["job_id"]))
    )
    async with AsyncInstabase(BASE, "tok", poll=INSTANT) as ib:
        jobs = await started_runs(ib, router, 2)
        with anyio.fail_after(10):
            outcomes = await ib.jobs.wait_all(jobs)
    assert [o.ok for o in outcomes] == [True, True]


async def test_a_hung_listing_does_not_hold_back_a_runs_timeout() -> None:
    """Each run's timeout also bounds a listing request in the air, as it bounds a status request."""

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == LISTING:
            await anyio.sleep(30)  # answers, but long after every run's timeout
        return httpx.Response(200, json={"status": "OK", "state": "PENDING"})

    async with AsyncInstabase(BASE, "tok", transport=httpx.MockTransport(handler), poll=INSTANT) as ib:
        token = '{"v": 1, "job_id": "r0", "type": "flow", "solution_id": "S"}'
        job = ib.jobs.from_token(token)
        assert job.solution_run
        with anyio.fail_after(10):
            (outcome,) = await ib.jobs.wait_all([job], timeout=0.3)
    assert isinstance(outcome.error, WaitTimeoutError)
