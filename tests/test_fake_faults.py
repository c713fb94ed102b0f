"""The fake Instabase: authentication, routing errors, fault injection and the request log (in process)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest
from support import connect

from instabase_async.testing import ROUTE_NAMES, ConnectionDropped, FakeInstabase

FLOW_BODY = {"ibflow_path": "a/b/f.ibflow", "input_dir": "a/b/in"}


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh, seeded fake."""
    instance = FakeInstabase(seed=5)
    yield instance
    instance.close()


@pytest.mark.anyio
async def test_bad_token_is_401_on_v1_and_v2(fake: FakeInstabase) -> None:
    """A wrong or missing bearer token is a 401 everywhere: v2 with {message}, v1 with the v1 ERROR body."""
    async with connect(fake, token="wrong") as http:
        v2 = await http.get("/api/v2/files/x", params={"expect-node-type": "file"})
        v1 = await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url="http://localhost"
    ) as bare:
        none = await bare.get("/api/v1/jobs/status", params={"job_id": "x"})
    assert v2.status_code == v1.status_code == none.status_code == 401
    assert "message" in v2.json()
    assert v1.json()["status"] == "ERROR"
    assert not fake.jobs


@pytest.mark.anyio
async def test_unknown_path_is_404_and_wrong_method_405(fake: FakeInstabase) -> None:
    """A path no API serves is a 404; a known path with another method is a 405 with Allow."""
    async with connect(fake) as http:
        missing = await http.get("/api/v1/nothing")
        outside = await http.get("/elsewhere")
        wrong = await http.get("/api/v1/flow/run_flow_async")
    assert missing.status_code == outside.status_code == 404
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


@pytest.mark.anyio
async def test_status_fault_with_retry_after_then_recovers(fake: FakeInstabase) -> None:
    """A `times=1` 503 fault with Retry-After hits the next matching request only."""
    fault = fake.faults.add("jobs.status", status=503, retry_after=2, times=1)
    async with connect(fake) as http:
        first = await http.get("/api/v1/jobs/status", params={"job_id": "x"})
        second = await http.get("/api/v1/jobs/status", params={"job_id": "x"})
    assert first.status_code == 503
    assert first.headers["retry-after"] == "2"
    assert second.status_code == 200
    assert fault.hits == 1
    assert len(fake.faults) == 0


@pytest.mark.anyio
async def test_faults_match_by_group_prefix_regex_and_method(fake: FakeInstabase) -> None:
    """Route groups ("files"), path prefixes, regexes and a method filter select the requests hit."""
    fake.faults.add("files", method="PUT", status=429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    fake.faults.add("/api/v1/http-endpoint", status=500)
    fake.faults.add(re.compile(r"/solutions/deployed/[^/]+/run$"), status=502)
    async with connect(fake) as http:
        put = await http.put("/api/v2/files/a.txt", content=b"x")
        head = await http.head("/api/v2/files/a.txt")
        endpoint = await http.get("/api/v1/http-endpoint/list")
        run = await http.post("/api/v2/solutions/deployed/abc/run", json={})
        by_name = await http.post("/api/v2/solutions/deployed/run", json={})
    assert put.status_code == 429
    assert put.headers["retry-after"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert head.status_code == 404
    assert endpoint.status_code == 500
    assert run.status_code == 502
    assert by_name.status_code == 400


@pytest.mark.anyio
async def test_drop_raises_remote_protocol_error_and_processes_nothing(fake: FakeInstabase) -> None:
    """In process, a drop fault raises httpx.RemoteProtocolError out of the call; the run is not created."""
    fake.faults.add("flow.run", drop=True, times=1)
    async with connect(fake) as http:
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
    assert isinstance(caught.value, ConnectionDropped)
    assert not fake.jobs
    assert fake.requests[-1].dropped
    assert fake.requests[-1].status is None


@pytest.mark.anyio
async def test_after_processing_drop_creates_the_run_then_drops(fake: FakeInstabase) -> None:
    """`after_processing=True` handles the POST (the run exists) and then drops the connection."""
    fake.faults.add("flow.run", drop=True, after_processing=True, times=1)
    async with connect(fake) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
        follow_up = await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
    assert len(fake.jobs) == 2
    assert follow_up.json()["status"] == "OK"
    assert [r.dropped for r in fake.requests.filter("flow.run")] == [True, False]


@pytest.mark.anyio
async def test_after_processing_status_replaces_the_answer(fake: FakeInstabase) -> None:
    """`after_processing=True` with a status: the request takes effect, the client still sees the error."""
    fake.faults.add("files.put", status=500, after_processing=True)
    async with connect(fake) as http:
        response = await http.put("/api/v2/files/a.txt", content=b"written")
    assert response.status_code == 500
    assert fake.read_file("a.txt") == b"written"


@pytest.mark.anyio
async def test_fraction_is_drawn_from_the_seeded_rng() -> None:
    """`fraction=p` hits about p of the matching requests, the same ones for the same seed."""

    async def pattern(seed: int) -> list[int]:
        fake = FakeInstabase(seed=seed)
        fake.faults.add("jobs.status", status=503, fraction=0.5)
        async with connect(fake) as http:
            return [
                (await http.get("/api/v1/jobs/status", params={"job_id": "x"})).status_code for _ in range(40)
            ]

    first = await pattern(9)
    assert first == await pattern(9)
    assert 5 < first.count(503) < 35


@pytest.mark.anyio
async def test_delay_slows_the_request_down(fake: FakeInstabase) -> None:
    """A `delay=` fault alone only delays the answer."""
    fake.faults.add("jobs.status", delay=0.1)
    async with connect(fake) as http:
        started = time.monotonic()
        response = await http.get("/api/v1/jobs/status", params={"job_id": "x"})
    assert time.monotonic() - started >= 0.1
    assert response.status_code == 200


def test_fault_arguments_are_checked(fake: FakeInstabase) -> None:
    """A fault must do something, cannot both drop and answer, and takes sane counts."""
    with pytest.raises(ValueError, match="needs"):
        fake.faults.add("jobs.status")
    with pytest.raises(ValueError, match="not both"):
        fake.faults.add("jobs.status", status=500, drop=True)
    with pytest.raises(ValueError, match="times"):
        fake.faults.add("jobs.status", status=500, times=0)
    with pytest.raises(ValueError, match="fraction"):
        fake.faults.add("jobs.status", status=500, fraction=1.5)
    with pytest.raises(ValueError, match="retry_after"):
        fake.faults.add("jobs.status", drop=True, retry_after=1)
    fault = fake.faults.add("jobs.status", status=500)
    fake.faults.remove(fault)
    fake.faults.add("files", drop=True)
    fake.faults.clear()
    assert len(fake.faults) == 0


@pytest.mark.anyio
async def test_request_log_records_the_wire_and_redacts_the_token(fake: FakeInstabase) -> None:
    """Each request is logged: raw path, multi-valued query, redacted auth, capped body, status, route."""
    small = FakeInstabase(max_logged_body=4)
    async with connect(fake) as http:
        await http.get("/api/v2/solutions/deployed/jobs", params=[("state", "A"), ("state", "B")])
        await http.put("/api/v2/files/Instabase%20Drive/a.txt", content=b"hello")
    async with connect(small) as http:
        await http.put("/api/v2/files/b.txt", content=b"0123456789")
    listing, upload = fake.requests
    assert listing.route == "solutions.jobs"
    assert listing.query == {"state": ["A", "B"]}
    assert listing.headers["authorization"] == "REDACTED"
    assert fake.token not in repr(listing)
    assert listing.status == 200
    assert (upload.method, upload.path, upload.body, upload.route) == (
        "PUT",
        "/api/v2/files/Instabase%20Drive/a.txt",
        b"hello",
        "files.put",
    )
    assert (small.requests[0].body, small.requests[0].body_size) == (b"0123", 10)
    assert len(fake.requests.filter("files", method="put")) == 1
    assert len(fake.requests.filter(status=204)) == 1
    fake.requests.clear()
    assert len(fake.requests) == 0


@pytest.mark.anyio
async def test_request_log_can_be_off_or_bounded() -> None:
    """log_requests=False records nothing; max_logged_requests keeps only the newest."""
    quiet = FakeInstabase(log_requests=False)
    bounded = FakeInstabase(max_logged_requests=2)
    for fake in (quiet, bounded):
        async with connect(fake) as http:
            for job_id in ("1", "2", "3"):
                await http.get("/api/v1/jobs/status", params={"job_id": job_id})
    assert len(quiet.requests) == 0
    assert [r.query["job_id"] for r in bounded.requests] == [["2"], ["3"]]


@pytest.mark.anyio
async def test_path_prefix_serves_under_the_prefix_only() -> None:
    """With path_prefix the APIs live under it (Location headers included) and not at the root."""
    fake = FakeInstabase(path_prefix="/ib")
    async with connect(fake) as http:
        under = await http.put("/ib/api/v2/files/a.txt", content=b"x", headers={"If-None-Match": "*"})
        root = await http.put("/api/v2/files/b.txt", content=b"x")
    assert under.status_code == 201
    assert under.headers["location"] == "http://localhost/ib/api/v2/files/a.txt"
    assert root.status_code == 404


def test_route_names_are_sorted_and_documented() -> None:
    """ROUTE_NAMES lists each route name once, sorted, grouped by API."""
    assert list(ROUTE_NAMES) == sorted(set(ROUTE_NAMES))
    assert {name.split(".")[0] for name in ROUTE_NAMES} == {"endpoints", "files", "flow", "jobs", "solutions"}


def test_client_builds_an_async_instabase_on_the_asgi_transport(fake: FakeInstabase) -> None:
    """fake.client() is an AsyncInstabase aimed at the fake (the client library's own tests drive it)."""
    from instabase_async import AsyncInstabase

    client = fake.client()
    assert isinstance(client, AsyncInstabase)
    assert client.base_url == "http://localhost"


def test_unknown_route_name_is_refused() -> None:
    """A misspelt route name is a ValueError, not a fault that silently never fires."""
    fake = FakeInstabase()
    with pytest.raises(ValueError, match="unknown route"):
        fake.faults.add("flow_run", status=503)
    fake.faults.add("flow.run", status=503)
    fake.faults.add("files", status=503)
    fake.faults.add("/api/v2/files", status=503)
