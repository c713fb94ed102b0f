"""Wire tests of `ib.solutions` (reference/01-deployed-solutions-api.txt, the v2 convention)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
import respx

from instabase_async import (
    AsyncInstabase,
    NotFoundError,
    ResponseValidationError,
    RetryPolicy,
    RunSettings,
    Solution,
    SolutionJob,
    WebhookConfig,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-solutions-0123456789"
ROOT = "/api/v2/solutions/deployed"
UUID = "0b5c3e1e-8a7f-4c55-9a57-1d2d6f0e4b11"
INPUT = "jaydoe/my_repo/fs/Instabase Drive/proj/data/input"

T = TypeVar("T")

FULL_SOLUTION = {
    "id": UUID,
    "name": "My Solution",
    "version": "0.0.1",
    "owner": "example-owner",
    "createdAtMs": 1683159463986,
    "updatedAtMs": "1683159471011",
    "summary": "A short description",
    "description": "A longer description",
    "state": "ACTIVE",
    "author": "user1",
    "metadata": '{"authors": ["user1"]}',
    "solution_path": "o/r/fs/Instabase Drive/s.ibsolution",
    "visibility": "PRIVATE",
}

JOB = {
    "id": "example-job-id",
    "accountId": "example-account-id",
    "jobType": "FLOW",
    "startTimeNs": "1683159463986732303",
    "modifiedTimeNs": "1683159471011951164",
    "completionTimeNs": "1683159471011951164",
    "state": "COMPLETE",
    "lastStartTimeNs": "1683159463986732303",
    "timeTakenNs": "7025218861",
    "message": "Completed single_flow",
    "metadata": '{"k": [1, 2]}',
    "deployedSolutionId": "example-solution-id",
    "outputFolder": "path/to/output/folder",
}


def client() -> AsyncInstabase:
    return AsyncInstabase(BASE, TOKEN, retry=RetryPolicy(initial_backoff=0))


def raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode().split("?")[0]


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return sorted(request.url.params.multi_items())


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1e3, tz=UTC)


def ns(value: str) -> datetime:
    return datetime.fromtimestamp(int(value) / 1e9, tz=UTC)


async def collect(items: AsyncIterator[T]) -> list[T]:
    return [item async for item in items]


@pytest.mark.anyio
async def test_deploy_posts_solution_path_and_returns_async_job(router: respx.MockRouter) -> None:
    """solutions.deploy POSTs {"solution_path"} to the root; the job is polled with type=async."""
    route = router.post(ROOT).respond(200, json={"job_id": "deploy-1"})
    status = router.get("/api/v1/jobs/status").respond(200, json={"status": "OK", "state": "PENDING"})
    async with client() as ib:
        job = await ib.solutions.deploy("o/r/fs/Instabase Drive/s.ibsolution")
        await job.status()
    request = route.calls.last.request
    assert request.method == "POST"
    assert raw_path(request) == ROOT
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert body(request) == {"solution_path": "o/r/fs/Instabase Drive/s.ibsolution"}
    assert (job.job_id, job.type, job.status_url) == ("deploy-1", "async", None)
    assert query(status.calls.last.request) == [("job_id", "deploy-1"), ("type", "async")]


@pytest.mark.anyio
async def test_get_parses_every_field(router: respx.MockRouter) -> None:
    """solutions.get parses epoch ms (int or digit string) to aware UTC datetimes and decodes metadata."""
    route = router.get(f"{ROOT}/{UUID}").respond(200, json={"solution": FULL_SOLUTION})
    async with client() as ib:
        solution = await ib.solutions.get(UUID)
    assert route.calls.last.request.method == "GET"
    assert route.calls.last.request.content == b""
    assert solution == Solution(
        id=UUID,
        name="My Solution",
        version="0.0.1",
        owner="example-owner",
        created_at=ms(1683159463986),
        updated_at=ms(1683159471011),
        summary="A short description",
        description="A longer description",
        state="ACTIVE",
        author="user1",
        metadata={"authors": ["user1"]},
        solution_path="o/r/fs/Instabase Drive/s.ibsolution",
        visibility="PRIVATE",
    )
    assert solution.created_at is not None
    assert solution.created_at.tzinfo is UTC
    assert solution.created_at == datetime(2023, 5, 4, 0, 17, 43, 986000, tzinfo=UTC)


@pytest.mark.anyio
async def test_get_with_only_id(router: respx.MockRouter) -> None:
    """A solution with only an id parses, every other attribute None."""
    router.get(f"{ROOT}/{UUID}").respond(200, json={"solution": {"id": UUID}})
    async with client() as ib:
        assert await ib.solutions.get(UUID) == Solution(id=UUID)


@pytest.mark.anyio
async def test_solution_id_is_percent_encoded(router: respx.MockRouter) -> None:
    """A solution id is one path segment: a space is %20, '?' %3F and '#' %23 ('/' is refused)."""
    route = router.get(path__regex=r"^/api/v2/solutions/deployed/.*").respond(
        200, json={"solution": {"id": "x"}}
    )
    async with client() as ib:
        await ib.solutions.get("a b?c#d")
    assert raw_path(route.calls.last.request) == f"{ROOT}/a%20b%3Fc%23d"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer", [{}, {"solution": None}, {"solution": {"name": "no id"}}, {"solution": {"id": ""}}, []]
)
async def test_get_without_solution_id_is_validation_error(router: respx.MockRouter, answer: Any) -> None:
    """A get answer without solution.id raises ResponseValidationError, never KeyError."""
    router.get(f"{ROOT}/{UUID}").respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.solutions.get(UUID)


@pytest.mark.anyio
async def test_get_404_is_not_found(router: respx.MockRouter) -> None:
    """A 404 on a solution raises NotFoundError (v2: errors are status codes)."""
    router.get(f"{ROOT}/{UUID}").respond(404, json={"message": "not found"})
    async with client() as ib:
        with pytest.raises(NotFoundError) as info:
            await ib.solutions.get(UUID)
    assert info.value.message == "not found"


@pytest.mark.anyio
async def test_delete_returns_async_job(router: respx.MockRouter) -> None:
    """solutions.delete sends DELETE <uuid> with no body; the job has type async."""
    route = router.delete(f"{ROOT}/{UUID}").respond(200, json={"job_id": "del-1"})
    async with client() as ib:
        job = await ib.solutions.delete(UUID)
    assert route.calls.last.request.content == b""
    assert (job.job_id, job.type) == ("del-1", "async")


@pytest.mark.anyio
async def test_list_follows_list_shaped_has_more_and_next_offset(router: respx.MockRouter) -> None:
    """solutions.list follows has_more[0]/next_offset[0] with limit/offset, stopping at has_more [false]."""
    route = router.get(ROOT)
    route.side_effect = [
        httpx.Response(
            200,
            json={"has_more": [True], "next_offset": [20], "solutions": [{"id": "s1", "createdAtMs": 12345}]},
        ),
        httpx.Response(200, json={"has_more": [False], "next_offset": [-1], "solutions": [{"id": "s2"}]}),
    ]
    async with client() as ib:
        solutions = await collect(ib.solutions.list())
    assert [s.id for s in solutions] == ["s1", "s2"]
    assert solutions[0].created_at == datetime(1970, 1, 1, 0, 0, 12, 345000, tzinfo=UTC)
    assert [query(c.request) for c in route.calls] == [
        [("limit", "20"), ("offset", "0")],
        [("limit", "20"), ("offset", "20")],
    ]


@pytest.mark.anyio
async def test_list_sends_filters_and_page_size(router: respx.MockRouter) -> None:
    """solutions.list sends state/name/author/owner/visibility and limit=page_size; None is not sent."""
    route = router.get(ROOT).respond(200, json={"has_more": [False], "next_offset": [-1], "solutions": []})
    async with client() as ib:
        assert await collect(ib.solutions.list(state="ACTIVE", name="My Solution", page_size=5)) == []
        await collect(ib.solutions.list(author="user1", owner="IB_DEPLOYED", visibility="PUBLIC"))
    assert query(route.calls[0].request) == [
        ("limit", "5"),
        ("name", "My Solution"),
        ("offset", "0"),
        ("state", "ACTIVE"),
    ]
    assert query(route.calls[1].request) == [
        ("author", "user1"),
        ("limit", "20"),
        ("offset", "0"),
        ("owner", "IB_DEPLOYED"),
        ("visibility", "PUBLIC"),
    ]


@pytest.mark.anyio
async def test_list_without_solutions_key_is_validation_error(router: respx.MockRouter) -> None:
    """A listing without a 'solutions' list raises ResponseValidationError."""
    router.get(ROOT).respond(200, json={"has_more": [False]})
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await collect(ib.solutions.list())


@pytest.mark.anyio
async def test_run_sends_input_dir_only_by_default(router: respx.MockRouter) -> None:
    """solutions.run POSTs <uuid>/run with input_dir only; the job is a flow job."""
    route = router.post(f"{ROOT}/{UUID}/run").respond(200, json={"job_id": "example-job-id"})
    async with client() as ib:
        job = await ib.solutions.run(UUID, input_dir=INPUT)
    request = route.calls.last.request
    assert request.headers["Content-Type"] == "application/json"
    assert body(request) == {"input_dir": INPUT}
    assert (job.job_id, job.type) == ("example-job-id", "flow")


@pytest.mark.anyio
async def test_run_with_run_settings(router: respx.MockRouter) -> None:
    """RunSettings becomes the settings dict: None left out, webhook as webhook_config, extra merged."""
    route = router.post(f"{ROOT}/{UUID}/run").respond(200, json={"job_id": "j"})
    settings = RunSettings(
        delete_out_dir=False,
        output_has_run_id=True,
        notification_emails=("me@domain.com",),
        webhook=WebhookConfig("https://hook.example", headers={"A": "b"}),
        extra={"custom_key": 3},
    )
    async with client() as ib:
        await ib.solutions.run(UUID, input_dir=INPUT, output_dir="o/out", job_id="x" * 50, settings=settings)
    assert body(route.calls.last.request) == {
        "input_dir": INPUT,
        "output_dir": "o/out",
        "job_id": "x" * 50,
        "settings": {
            "delete_out_dir": False,
            "output_has_run_id": True,
            "notification_emails": ["me@domain.com"],
            "webhook_config": {"url": "https://hook.example", "headers": {"A": "b"}},
            "custom_key": 3,
        },
    }


@pytest.mark.anyio
async def test_run_with_plain_dict_settings(router: respx.MockRouter) -> None:
    """A plain dict of settings is sent as it is."""
    route = router.post(f"{ROOT}/{UUID}/run").respond(200, json={"job_id": "j"})
    async with client() as ib:
        await ib.solutions.run(UUID, input_dir=INPUT, settings={"delete_out_dir": False, "anything": [1]})
    assert body(route.calls.last.request) == {
        "input_dir": INPUT,
        "settings": {"delete_out_dir": False, "anything": [1]},
    }


@pytest.mark.anyio
async def test_run_by_name_body(router: respx.MockRouter) -> None:
    """solutions.run_by_name POSTs /run with name and input_dir, and the optional keys only when set."""
    route = router.post(f"{ROOT}/run").respond(200, json={"job_id": "j1"})
    async with client() as ib:
        job = await ib.solutions.run_by_name("My Solution", input_dir=INPUT)
        await ib.solutions.run_by_name(
            "My Solution",
            input_dir=INPUT,
            version="0.0.2",
            owner="IB_DEPLOYED",
            output_dir="o/out",
            job_id="mine",
            settings=RunSettings(output_has_run_id=True),
        )
    assert raw_path(route.calls[0].request) == f"{ROOT}/run"
    assert body(route.calls[0].request) == {"name": "My Solution", "input_dir": INPUT}
    assert body(route.calls[1].request) == {
        "name": "My Solution",
        "version": "0.0.2",
        "owner": "IB_DEPLOYED",
        "input_dir": INPUT,
        "output_dir": "o/out",
        "job_id": "mine",
        "settings": {"output_has_run_id": True},
    }
    assert (job.job_id, job.type) == ("j1", "flow")


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [{}, {"job_id": None}, {"job_id": ""}, ["j"]])
async def test_run_without_job_id_is_validation_error(router: respx.MockRouter, answer: Any) -> None:
    """A run answer without job_id raises ResponseValidationError, never KeyError."""
    router.post(f"{ROOT}/{UUID}/run").respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.solutions.run(UUID, input_dir=INPUT)


@pytest.mark.anyio
async def test_update_uses_query_parameters(router: respx.MockRouter) -> None:
    """solutions.update PATCHes <uuid>?visibility=..&state=.. with no body and parses the solution."""
    route = router.patch(f"{ROOT}/{UUID}").respond(200, json={"solution": FULL_SOLUTION})
    async with client() as ib:
        solution = await ib.solutions.update(UUID, visibility="PUBLIC", state="INACTIVE")
        await ib.solutions.update(UUID, state="ACTIVE")
    first, second = (c.request for c in route.calls)
    assert first.method == "PATCH"
    assert first.content == b""
    assert query(first) == [("state", "INACTIVE"), ("visibility", "PUBLIC")]
    assert query(second) == [("state", "ACTIVE")]
    assert solution.id == UUID
    assert solution.metadata == {"authors": ["user1"]}


@pytest.mark.anyio
async def test_jobs_of_one_solution_parse_ns_times(router: respx.MockRouter) -> None:
    """solutions.jobs(id) GETs <uuid>/jobs and parses ns strings, time_taken, metadata and a flow Job."""
    route = router.get(f"{ROOT}/{UUID}/jobs").respond(200, json={"jobs": [JOB]})
    async with client() as ib:
        jobs = await collect(ib.solutions.jobs(UUID))
    assert query(route.calls.last.request) == [("limit", "20"), ("offset", "0")]
    (job,) = jobs
    assert isinstance(job, SolutionJob)
    assert job.id == "example-job-id"
    assert job.account_id == "example-account-id"
    assert job.job_type == "FLOW"
    assert job.start_time == ns("1683159463986732303")
    assert job.start_time == datetime(2023, 5, 4, 0, 17, 43, 986732, tzinfo=UTC)
    assert job.modified_time == ns("1683159471011951164")
    assert job.completion_time == ns("1683159471011951164")
    assert job.last_start_time == ns("1683159463986732303")
    assert job.time_taken is not None
    assert abs(job.time_taken - timedelta(seconds=7.025218861)) <= timedelta(microseconds=1)
    assert job.state == "COMPLETE"
    assert job.message == "Completed single_flow"
    assert job.metadata == {"k": [1, 2]}
    assert job.deployed_solution_id == "example-solution-id"
    assert job.output_folder == "path/to/output/folder"
    assert job.job is not None
    assert (job.job.job_id, job.job.type) == ("example-job-id", "flow")


@pytest.mark.anyio
async def test_jobs_filters_are_repeated_query_parameters(router: respx.MockRouter) -> None:
    """solutions.jobs() GETs /jobs with one query parameter per list item, solution_ids as solution_id."""
    route = router.get(f"{ROOT}/jobs").respond(200, json={"jobs": []})
    async with client() as ib:
        await collect(
            ib.solutions.jobs(
                solution_ids=["s1", "s2"],
                user=["u1", "u2"],
                job_id="j1",
                state=["COMPLETE", "FAILED"],
                owner=["o1"],
                name=["n 1", "n2"],
                output_repo=["me/repo", "me/other"],
                sort_by="timeTakenNs",
                order="ASCENDING",
                page_size=50,
            )
        )
    request = route.calls.last.request
    assert raw_path(request) == f"{ROOT}/jobs"
    params = request.url.params
    assert params.get_list("solution_id") == ["s1", "s2"]
    assert params.get_list("user") == ["u1", "u2"]
    assert params.get_list("job_id") == ["j1"]
    assert params.get_list("state") == ["COMPLETE", "FAILED"]
    assert params.get_list("owner") == ["o1"]
    assert params.get_list("name") == ["n 1", "n2"]
    assert params.get_list("output_repo") == ["me/repo", "me/other"]
    assert params.get_list("sort_by") == ["timeTakenNs"]
    assert params.get_list("order") == ["ASCENDING"]
    assert params.get_list("limit") == ["50"]
    assert params.get_list("offset") == ["0"]
    assert len(params.multi_items()) == 16


@pytest.mark.anyio
async def test_jobs_paginate_by_offset_until_a_short_page(router: respx.MockRouter) -> None:
    """solutions.jobs pages by offset with limit=page_size and stops at a short page."""
    route = router.get(f"{ROOT}/jobs")
    route.side_effect = [
        httpx.Response(200, json={"jobs": [{"id": "a"}, {"id": "b"}]}),
        httpx.Response(200, json={"jobs": [{"id": "c"}]}),
    ]
    async with client() as ib:
        jobs = await collect(ib.solutions.jobs(page_size=2))
    assert [j.id for j in jobs] == ["a", "b", "c"]
    assert [query(c.request) for c in route.calls] == [
        [("limit", "2"), ("offset", "0")],
        [("limit", "2"), ("offset", "2")],
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [{}, {"jobs": None}, {"jobs": [{"state": "RUNNING"}]}, {"jobs": ["x"]}])
async def test_jobs_bad_shape_is_validation_error(router: respx.MockRouter, answer: Any) -> None:
    """A jobs answer without a list of objects with ids raises ResponseValidationError."""
    router.get(f"{ROOT}/jobs").respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await collect(ib.solutions.jobs())
