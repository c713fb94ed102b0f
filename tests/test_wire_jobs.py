"""Wire tests of `ib.jobs` (reference/05-job-status-facts.md) and of `ib.request()` for any other API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from instabase_async import (
    AsyncInstabase,
    JobFailedError,
    JobState,
    JobStatus,
    NotFoundError,
    OperationError,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-jobs-0123456789"
STATUS = "/api/v1/jobs/status"


def client(base_url: str = BASE) -> AsyncInstabase:
    return AsyncInstabase(base_url, TOKEN, retry=RetryPolicy(initial_backoff=0), poll=PollPolicy(initial=0))


def raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode().split("?")[0]


def cur(**values: Any) -> str:
    return json.dumps(values)


async def status_of(router: respx.MockRouter, answer: Any) -> JobStatus:
    router.get(STATUS).respond(200, json=answer)
    async with client() as ib:
        return await ib.jobs.status("job-1")


# ---------------------------------------------------------------------------------- the request


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [("job_id", "job 1"), ("type", "flow")]),
        ({"type": "async"}, [("job_id", "job 1"), ("type", "async")]),
        ({"type": None}, [("job_id", "job 1")]),
    ],
)
async def test_status_request(router: respx.MockRouter, kwargs: dict[str, Any], expected: Any) -> None:
    """jobs.status GETs /api/v1/jobs/status?job_id=..&type=.. (type=flow by default, absent if None)."""
    route = router.get(STATUS).respond(200, json={"status": "OK", "state": "PENDING"})
    async with client() as ib:
        await ib.jobs.status("job 1", **kwargs)
    request = route.calls.last.request
    assert request.method == "GET"
    assert raw_path(request) == STATUS
    assert request.url.params.multi_items() == expected
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.anyio
async def test_from_id_polls_with_its_type(router: respx.MockRouter) -> None:
    """jobs.from_id(id, type=...) makes a handle polled with that type."""
    route = router.get(STATUS).respond(200, json={"status": "OK", "state": "PENDING"})
    async with client() as ib:
        job = ib.jobs.from_id("abc", type="async")
        await job.status()
    assert (job.job_id, job.type, job.status_url) == ("abc", "async", None)
    assert route.calls.last.request.url.params.multi_items() == [("job_id", "abc"), ("type", "async")]


# ---------------------------------------------------------------------------------- odd shapes


@pytest.mark.anyio
async def test_cur_status_json_string_gives_running_and_progress(router: respx.MockRouter) -> None:
    """While PENDING, cur_status (a JSON string) gives RUNNING and curProgress."""
    status = await status_of(
        router, {"status": "OK", "state": "PENDING", "cur_status": cur(status="RUNNING", curProgress=0.25)}
    )
    assert status.state is JobState.RUNNING
    assert status.raw_state == "PENDING"
    assert status.progress == 0.25
    assert not status.is_final


@pytest.mark.anyio
async def test_cur_status_paused_is_halted(router: respx.MockRouter) -> None:
    """A PENDING job whose cur_status says PAUSED is PAUSED, halted but not final."""
    status = await status_of(router, {"status": "OK", "state": "PENDING", "cur_status": cur(status="PAUSED")})
    assert status.state is JobState.PAUSED
    assert status.is_halted
    assert not status.is_final


@pytest.mark.anyio
async def test_done_with_ok_results_is_complete(router: respx.MockRouter) -> None:
    """DONE with every result OK is COMPLETE; results is the documented list, as mappings."""
    results = [{"status": "OK", "output_folder": "o/out"}, {"status": "OK", "deployed_solution_id": "s1"}]
    status = await status_of(router, {"status": "OK", "state": "DONE", "job_id": "job-1", "results": results})
    assert status.state is JobState.COMPLETE
    assert status.succeeded
    assert status.output_folder == "o/out"
    assert status.results == tuple(results)
    assert status.raw["results"] == results


@pytest.mark.anyio
async def test_done_with_an_error_result_is_failed(router: respx.MockRouter) -> None:
    """A results entry with ERROR makes the job FAILED, its msg the message."""
    status = await status_of(
        router,
        {"status": "OK", "state": "COMPLETE", "results": [{"status": "ERROR", "msg": "bad input file"}]},
    )
    assert status.state is JobState.FAILED
    assert status.message == "bad input file"
    assert status.is_final


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("cur_state", "expected"),
    [
        ("FAILED", JobState.FAILED),
        ("CANCELLED", JobState.CANCELLED),
        ("STOPPED_AT_CHECKPOINT", JobState.STOPPED_AT_CHECKPOINT),
    ],
)
async def test_deciding_cur_status_wins(router: respx.MockRouter, cur_state: str, expected: JobState) -> None:
    """cur_status FAILED/CANCELLED/STOPPED_AT_CHECKPOINT decides whatever state and results say."""
    status = await status_of(
        router,
        {"status": "OK", "state": "DONE", "results": [{"status": "OK"}], "cur_status": cur(status=cur_state)},
    )
    assert status.state is expected


@pytest.mark.anyio
async def test_unknown_state_is_unknown(router: respx.MockRouter) -> None:
    """An undocumented state string is UNKNOWN, not a crash."""
    status = await status_of(router, {"status": "OK", "state": "WEIRD", "cur_status": "not json"})
    assert status.state is JobState.UNKNOWN
    assert status.raw_state == "WEIRD"


@pytest.mark.anyio
async def test_v1_error_is_operation_error(router: respx.MockRouter) -> None:
    """A status answer {"status": "ERROR", "msg": ...} raises OperationError."""
    router.get(STATUS).respond(200, json={"status": "ERROR", "msg": "job not found"})
    async with client() as ib:
        with pytest.raises(OperationError) as info:
            await ib.jobs.status("job-1")
    assert info.value.message == "job not found"


@pytest.mark.anyio
async def test_non_json_status_is_validation_error(router: respx.MockRouter) -> None:
    """A status answer that is not JSON raises ResponseValidationError."""
    router.get(STATUS).respond(200, text="<html>gateway</html>")
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.jobs.status("job-1")


@pytest.mark.anyio
async def test_wait_polls_until_final(router: respx.MockRouter) -> None:
    """job.wait polls the status endpoint until the job is final and returns the last status."""
    route = router.get(STATUS)
    route.side_effect = [
        httpx.Response(200, json={"status": "OK", "state": "PENDING"}),
        httpx.Response(200, json={"status": "OK", "state": "PENDING", "cur_status": cur(status="RUNNING")}),
        httpx.Response(200, json={"status": "OK", "state": "DONE", "results": [{"status": "OK"}]}),
    ]
    async with client() as ib:
        status = await ib.jobs.from_id("job-1").wait(timeout=5)
    assert status.state is JobState.COMPLETE
    assert route.call_count == 3


@pytest.mark.anyio
async def test_wait_raises_job_failed(router: respx.MockRouter) -> None:
    """job.wait raises JobFailedError carrying the final status."""
    router.get(STATUS).respond(
        200, json={"status": "OK", "state": "DONE", "results": [{"status": "ERROR", "msg": "boom"}]}
    )
    async with client() as ib:
        with pytest.raises(JobFailedError) as info:
            await ib.jobs.wait(ib.jobs.from_id("job-1"), timeout=5)
    assert info.value.status is not None
    assert info.value.status.message == "boom"


# ---------------------------------------------------------------------------------- tokens


@pytest.mark.anyio
async def test_token_round_trip_keeps_the_status_url(router: respx.MockRouter) -> None:
    """to_token/from_token keep the Location-polled status URL, and the token holds no secret."""
    router.delete(path__startswith="/api/v2/files/").respond(202, headers={"Location": "/api/v2/jobs/j9"})
    route = router.get("/api/v2/jobs/j9").respond(200, json={"state": "COMPLETE"})
    async with client() as ib:
        job = await ib.files.delete("o/r/fs/d/x.txt")
        token = job.to_token()
        assert TOKEN not in token
        again = ib.jobs.from_token(token)
        assert again == job
        assert (await again.status()).state is JobState.COMPLETE
    assert route.call_count == 1


@pytest.mark.anyio
async def test_token_for_another_origin_is_refused() -> None:
    """A job token whose status_url names another origin is a ValueError."""
    token = json.dumps({"v": 1, "job_id": "j", "type": None, "status_url": "https://evil.test/jobs/j"})
    async with client() as ib:
        with pytest.raises(ValueError, match="origin"):
            ib.jobs.from_token(token)


# ---------------------------------------------------------------------------------- ib.request


@pytest.mark.anyio
async def test_request_any_api_with_auth_params_and_json(router: respx.MockRouter) -> None:
    """ib.request sends the method, path, params and JSON body with the Bearer token."""
    route = router.post("/api/v1/scheduler/jobs").respond(200, json={"status": "OK", "id": 5})
    async with client() as ib:
        response = await ib.request(
            "post", "/api/v1/scheduler/jobs", params={"a": "1", "b": ["x", "y"]}, json={"k": [1]}
        )
    assert response.json() == {"status": "OK", "id": 5}
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.params.multi_items() == [("a", "1"), ("b", "x"), ("b", "y")]
    assert json.loads(request.content) == {"k": [1]}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.anyio
async def test_request_raw_content_and_headers(router: respx.MockRouter) -> None:
    """ib.request sends raw content (bytes, or str as UTF-8) and extra headers as given."""
    route = router.put("/api/v2/other").respond(204)
    async with client() as ib:
        response = await ib.request("PUT", "/api/v2/other", content=b"raw", headers={"X-A": "b"})
        await ib.request("PUT", "/api/v2/other", content="héllo")
    assert response.status_code == 204
    first, second = (c.request for c in route.calls)
    assert first.content == b"raw"
    assert first.headers["X-A"] == "b"
    assert second.content == "héllo".encode()
    assert second.headers["Content-Length"] == "6"


@pytest.mark.anyio
async def test_request_v1_error_convention_on_v1_paths_only(router: respx.MockRouter) -> None:
    """ib.request raises OperationError for a v1 ERROR body on /api/v1/ paths, not on other paths."""
    router.get("/api/v1/accounts/list").respond(200, json={"status": "ERROR", "msg": "no admin"})
    router.get("/api/v2/things").respond(200, json={"status": "ERROR", "msg": "just data"})
    async with client() as ib:
        with pytest.raises(OperationError) as info:
            await ib.request("GET", "/api/v1/accounts/list")
        response = await ib.request("GET", "/api/v2/things")
    assert info.value.message == "no admin"
    assert response.json()["status"] == "ERROR"


@pytest.mark.anyio
async def test_request_maps_status_codes(router: respx.MockRouter) -> None:
    """ib.request maps an error status to its APIError like every other call."""
    router.get("/api/v1/audit/logs").respond(404, json={"msg": "gone"})
    async with client() as ib:
        with pytest.raises(NotFoundError) as info:
            await ib.request("GET", "/api/v1/audit/logs")
    assert info.value.message == "gone"
    assert info.value.url == f"{BASE}/api/v1/audit/logs"


@pytest.mark.anyio
async def test_base_url_path_prefix_is_kept() -> None:
    """A base URL with a path prefix (on-premises) prefixes every API path."""
    with respx.mock(base_url="https://onprem.test/instabase") as r:
        api = r.get("/api/v1/jobs/status").respond(200, json={"status": "OK", "state": "PENDING"})
        other = r.get("/api/v1/site/config").respond(200, json={"status": "OK"})
        async with client("https://onprem.test/instabase/") as ib:
            await ib.jobs.status("j")
            await ib.request("GET", "/api/v1/site/config")
    assert raw_path(api.calls.last.request) == "/instabase/api/v1/jobs/status"
    assert raw_path(other.calls.last.request) == "/instabase/api/v1/site/config"


@pytest.mark.anyio
async def test_request_params_spelling(router: respx.MockRouter) -> None:
    """Query values: booleans as true/false, numbers as text, lists repeated, None left out."""
    route = router.get("/api/v1/metrics/query").respond(200, json={"status": "OK"})
    async with client() as ib:
        await ib.request(
            "GET",
            "/api/v1/metrics/query",
            params={"on": True, "off": False, "n": 3, "x": 0.5, "skip": None, "ids": ("a", "b")},
        )
    assert route.calls.last.request.url.params.multi_items() == [
        ("on", "true"),
        ("off", "false"),
        ("n", "3"),
        ("x", "0.5"),
        ("ids", "a"),
        ("ids", "b"),
    ]


@pytest.mark.anyio
async def test_default_headers_and_injected_client(router: respx.MockRouter) -> None:
    """headers= are sent on every request; an injected http_client carries them and is left open."""
    route = router.get(STATUS).respond(200, json={"status": "OK", "state": "PENDING"})
    async with httpx.AsyncClient() as http_client:
        async with AsyncInstabase(BASE, TOKEN, headers={"X-Org": "acme"}, http_client=http_client) as ib:
            await ib.jobs.status("j")
        assert not http_client.is_closed
    request = route.calls.last.request
    assert request.headers["X-Org"] == "acme"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
