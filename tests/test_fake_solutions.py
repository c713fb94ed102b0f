"""The fake Instabase at the wire: the Deployed Solutions API v2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import connect

from instabase_async.testing import FakeInstabase

API = "/api/v2/solutions/deployed"
INPUT = "me/repo/fs/Instabase Drive/proj/input"


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh fake whose jobs end at their first poll."""
    instance = FakeInstabase(seed=11, job_polls=0)
    yield instance
    instance.close()


async def poll_done(http: httpx.AsyncClient, job_id: str, type: str) -> dict[str, Any]:
    for _ in range(10):
        body: dict[str, Any] = (
            await http.get("/api/v1/jobs/status", params={"job_id": job_id, "type": type})
        ).json()
        if body["state"] == "DONE":
            return body
    raise AssertionError("job did not finish")


@pytest.mark.anyio
async def test_deploy_is_an_async_job_that_creates_the_solution_from_package_json(
    fake: FakeInstabase,
) -> None:
    """Deploy answers {job_id}; when the async job completes its result names the new solution,
    whose fields come from the package.json beside the .ibsolution."""
    package = {
        "name": "Invoices",
        "version": "1.2.0",
        "owner": "acme",
        "short_description": "short",
        "long_description": "long",
        "solution_type": "ibflowbin",
        "visibility": "PUBLIC",
    }
    fake.write_file("me/repo/fs/Instabase Drive/sol/package.json", json.dumps(package))
    async with connect(fake) as http:
        response = await http.post(
            API, json={"solution_path": "me/repo/fs/Instabase Drive/sol/app.ibsolution"}
        )
        assert response.status_code == 200
        assert not fake.solutions
        result = (await poll_done(http, response.json()["job_id"], "async"))["results"][0]
        solution_id = result["deployed_solution_id"]
        got = (await http.get(f"{API}/{solution_id}")).json()["solution"]
    assert result["status"] == "OK"
    assert got["id"] == solution_id
    assert (got["name"], got["version"], got["owner"]) == ("Invoices", "1.2.0", "acme")
    assert (got["summary"], got["description"], got["state"]) == ("short", "long", "ACTIVE")
    assert isinstance(got["metadata"], str)
    assert isinstance(json.loads(got["metadata"]), dict)
    assert isinstance(got["createdAtMs"], int)
    assert fake.solutions[solution_id].visibility == "PUBLIC"


@pytest.mark.anyio
async def test_deploy_without_package_json_derives_from_path_and_checks_input(fake: FakeInstabase) -> None:
    """Without package.json the name is the file's stem; a missing solution_path is a 400."""
    async with connect(fake) as http:
        job_id = (await http.post(API, json={"solution_path": "a/b/My App.ibsolution"})).json()["job_id"]
        solution_id = (await poll_done(http, job_id, "async"))["results"][0]["deployed_solution_id"]
        missing = await http.post(API, json={})
        broken = await http.post(API, content=b"nope")
    assert fake.solutions[solution_id].name == "My App"
    assert fake.solutions[solution_id].owner == "fakeuser"
    assert missing.status_code == broken.status_code == 400
    assert "solution_path" in missing.json()["message"]


@pytest.mark.anyio
async def test_list_solutions_pages_with_list_valued_has_more_and_next_offset(fake: FakeInstabase) -> None:
    """The listing pages by limit/offset and answers has_more/next_offset as one-element lists."""
    for version in ("0.1", "0.2", "0.3"):
        fake.add_solution(name="A", version=version, summary="s")
    fake.add_solution(name="B", state="INACTIVE", owner="bob", visibility="PRIVATE")
    async with connect(fake) as http:
        first = (await http.get(API, params={"limit": 2})).json()
        last = (await http.get(API, params={"limit": 2, "offset": 2})).json()
        named = (await http.get(API, params={"name": "A", "state": "ACTIVE"})).json()
        inactive = (
            await http.get(API, params={"state": "INACTIVE", "owner": "bob", "visibility": "PRIVATE"})
        ).json()
        bad = [
            await http.get(API, params=params)
            for params in (
                {"state": "GONE"},
                {"visibility": "ALL"},
                {"limit": "x"},
                {"offset": -1},
                {"limit": 0},
            )
        ]
    assert (first["has_more"], first["next_offset"], len(first["solutions"])) == ([True], [2], 2)
    assert (last["has_more"], last["next_offset"], len(last["solutions"])) == ([False], [-1], 2)
    assert [s["version"] for s in named["solutions"]] == ["0.1", "0.2", "0.3"]
    assert [s["name"] for s in inactive["solutions"]] == ["B"]
    keys = {"id", "name", "version", "owner", "createdAtMs", "updatedAtMs", "summary", "state", "author"}
    assert keys <= set(first["solutions"][0])
    assert "metadata" not in first["solutions"][0]
    assert [r.status_code for r in bad] == [400] * len(bad)


@pytest.mark.anyio
async def test_get_update_and_delete_a_solution(fake: FakeInstabase) -> None:
    """GET answers {solution} or 404; PATCH takes visibility/state as query params (validated);
    DELETE answers {job_id} and the solution goes when that async job completes."""
    solution_id = fake.add_solution(name="A", metadata={"authors": ["u1"]})
    async with connect(fake) as http:
        unknown = await http.get(f"{API}/00000000-0000-0000-0000-000000000000")
        patched = await http.patch(
            f"{API}/{solution_id}", params={"visibility": "PRIVATE", "state": "INACTIVE"}
        )
        private = (await http.get(API, params={"visibility": "PRIVATE"})).json()["solutions"]
        bad = await http.patch(f"{API}/{solution_id}", params={"state": "SLEEPING"})
        bad_unknown = await http.patch(f"{API}/nope", params={"state": "ACTIVE"})
        deleted = await http.delete(f"{API}/{solution_id}")
        still_there = await http.get(f"{API}/{solution_id}")
        await poll_done(http, deleted.json()["job_id"], "async")
        gone = await http.get(f"{API}/{solution_id}")
        delete_unknown = await http.delete(f"{API}/nope")
    assert unknown.status_code == 404
    solution = patched.json()["solution"]
    assert solution["state"] == "INACTIVE"
    assert json.loads(solution["metadata"]) == {"authors": ["u1"]}
    assert [s["id"] for s in private] == [solution_id]
    assert bad.status_code == 400
    assert bad_unknown.status_code == 404
    assert still_there.status_code == 200
    assert gone.status_code == 404
    assert delete_unknown.status_code == 404


@pytest.mark.anyio
async def test_run_solution_by_id_uses_given_job_id_and_validates(fake: FakeInstabase) -> None:
    """A run answers {job_id} (the caller's, if given, up to 50 chars), polled as a flow job."""
    solution_id = fake.add_solution(name="A")
    url = f"{API}/{solution_id}/run"
    async with connect(fake) as http:
        run = await http.post(url, json={"input_dir": INPUT, "job_id": "my-job-1", "settings": {"x": 1}})
        status = await poll_done(http, "my-job-1", "flow")
        refused = [
            await http.post(url, json=body)
            for body in (
                {},
                {"input_dir": INPUT, "job_id": "x" * 51},
                {"input_dir": INPUT, "settings": ["not", "a", "dict"]},
                {"input_dir": INPUT, "output_dir": 3},
            )
        ]
        reused = await http.post(url, json={"input_dir": INPUT, "job_id": "my-job-1"})
        unknown = await http.post(f"{API}/nope/run", json={"input_dir": INPUT})
    assert run.json() == {"job_id": "my-job-1"}
    assert status["results"] == [{"status": "OK", "output_folder": f"{INPUT}/out"}]
    assert [r.status_code for r in refused] == [400, 400, 400, 400]
    assert reused.status_code == 409
    assert unknown.status_code == 404
    assert fake.exists(f"{INPUT}/out/results.json")


@pytest.mark.anyio
async def test_run_by_name_picks_newest_version_of_owner(fake: FakeInstabase) -> None:
    """Run by name defaults to owner IB_DEPLOYED and the most recently created version."""
    old = fake.add_solution(name="A", version="1")
    new = fake.add_solution(name="A", version="2")
    mine = fake.add_solution(name="A", version="9", owner="me")
    async with connect(fake) as http:
        default = (await http.post(f"{API}/run", json={"name": "A", "input_dir": INPUT})).json()
        pinned = (
            await http.post(f"{API}/run", json={"name": "A", "version": "1", "input_dir": INPUT})
        ).json()
        owned = (await http.post(f"{API}/run", json={"name": "A", "owner": "me", "input_dir": INPUT})).json()
        missing = await http.post(f"{API}/run", json={"name": "Z", "input_dir": INPUT})
        no_name = await http.post(f"{API}/run", json={"input_dir": INPUT})
    assert fake.jobs[default["job_id"]].solution_id == new
    assert fake.jobs[pinned["job_id"]].solution_id == old
    assert fake.jobs[owned["job_id"]].solution_id == mine
    assert missing.status_code == 404
    assert no_name.status_code == 400


@pytest.mark.anyio
async def test_run_with_output_has_run_id_setting(fake: FakeInstabase) -> None:
    """settings.output_has_run_id puts the output under `run_<user>/<time>/<job_id>/out` of the folder."""
    solution_id = fake.add_solution(name="A")
    async with connect(fake) as http:
        job_id = (
            await http.post(
                f"{API}/{solution_id}/run",
                json={
                    "input_dir": INPUT,
                    "output_dir": "me/repo/fs/d/out",
                    "settings": {"output_has_run_id": True},
                },
            )
        ).json()["job_id"]
    folder = fake.jobs[job_id].output_folder
    assert folder is not None
    assert folder.startswith("me/repo/fs/d/out/run_fakeuser/")
    assert folder.endswith(f"/{job_id}/out")


@pytest.mark.anyio
async def test_solution_jobs_listing_filters_sorts_and_pages(fake: FakeInstabase) -> None:
    """The jobs listing answers the documented keys (times as ns strings, metadata a JSON string),
    filters by repeated parameters, sorts, and pages."""
    fake.job_polls = 5
    a = fake.add_solution(name="A")
    b = fake.add_solution(name="B", owner="bob")
    async with connect(fake) as http:
        for solution_id, job_id in ((a, "j1"), (a, "j2"), (b, "j3")):
            await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT, "job_id": job_id})
        fake.finish_job("j1")
        one = (await http.get(f"{API}/{a}/jobs")).json()["jobs"]
        both = (await http.get(f"{API}/jobs", params=[("solution_id", a), ("solution_id", b)])).json()["jobs"]
        running = (await http.get(f"{API}/jobs", params={"state": "RUNNING", "order": "ASCENDING"})).json()[
            "jobs"
        ]
        by_owner = (await http.get(f"{API}/jobs", params={"owner": "bob"})).json()["jobs"]
        repo = (await http.get(f"{API}/jobs", params={"output_repo": "me/repo"})).json()["jobs"]
        page = (await http.get(f"{API}/jobs", params={"limit": 1, "offset": 1, "sort_by": "name"})).json()[
            "jobs"
        ]
        bad_sort = await http.get(f"{API}/jobs", params={"sort_by": "color"})
        unknown = await http.get(f"{API}/nope/jobs")
    assert [j["id"] for j in one] == ["j2", "j1"]  # newest first by default
    done = next(j for j in one if j["id"] == "j1")
    assert done["state"] == "COMPLETE"
    assert done["jobType"] == "FLOW"
    assert done["deployedSolutionId"] == a
    assert done["outputFolder"] == f"{INPUT}/out"
    for key in ("startTimeNs", "modifiedTimeNs", "completionTimeNs", "lastStartTimeNs", "timeTakenNs"):
        assert done[key].isdigit()
    assert isinstance(json.loads(done["metadata"]), dict)
    assert "completionTimeNs" not in next(j for j in one if j["id"] == "j2")
    assert {j["id"] for j in both} == {"j1", "j2", "j3"}
    assert [j["id"] for j in running] == ["j2", "j3"]
    assert [j["id"] for j in by_owner] == ["j3"]
    assert len(repo) == 3
    assert len(page) == 1
    assert bad_sort.status_code == 400
    assert unknown.status_code == 404


def test_add_solution_checks_values() -> None:
    """add_solution refuses an undocumented state or visibility."""
    fake = FakeInstabase()
    with pytest.raises(ValueError, match="state"):
        fake.add_solution(name="A", state="ON")


@pytest.mark.anyio
async def test_jobs_listing_answers_many_job_ids_in_one_request(fake: FakeInstabase) -> None:
    """Repeated job_id parameters select exactly those runs (unknown ids are left out, a repeated
    id is listed once), each with its state and its curProgress."""
    fake.job_polls = 3
    solution_id = fake.add_solution(name="A")
    async with connect(fake) as http:
        for n in range(30):
            await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT, "job_id": f"j{n}"})
        await http.get("/api/v1/jobs/status", params={"job_id": "j1", "type": "flow"})
        fake.finish_job("j2")
        fake.finish_job("j3", "ERROR")
        wanted = [f"j{n}" for n in range(25)]
        params = [("job_id", j) for j in [*wanted, "j0", "no-such-job"]] + [("limit", "100")]
        listed = (await http.get(f"{API}/jobs", params=params)).json()["jobs"]
    by_id = {job["id"]: job for job in listed}
    assert len(listed) == 25
    assert set(by_id) == set(wanted)
    assert by_id["j0"]["state"] == "RUNNING"
    assert by_id["j0"]["curProgress"] == 0
    assert 0 < by_id["j1"]["curProgress"] < 1
    assert (by_id["j2"]["state"], by_id["j2"]["curProgress"]) == ("COMPLETE", 1)
    assert by_id["j3"]["state"] == "FAILED"


@pytest.mark.anyio
async def test_caller_job_id_is_the_job_id_and_a_taken_one_is_409(fake: FakeInstabase) -> None:
    """Runs by id and by name use the caller's job_id as the job id; an id already in use (by any
    job) is 409 and starts nothing; an unknown id on the v1 status API is the v1 ERROR body."""
    solution_id = fake.add_solution(name="A")
    async with connect(fake) as http:
        by_name = await http.post(f"{API}/run", json={"name": "A", "input_dir": INPUT, "job_id": "mine"})
        again = await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT, "job_id": "mine"})
        flow = await http.post(
            "/api/v1/flow/run_flow_async", json={"ibflow_path": "a/b/c.ibflow", "input_dir": INPUT}
        )
        flow_id = flow.json()["data"]["job_id"]
        taken = await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT, "job_id": flow_id})
        unknown = await http.get("/api/v1/jobs/status", params={"job_id": "not-yet", "type": "flow"})
    assert by_name.json() == {"job_id": "mine"}
    assert fake.jobs["mine"].solution_id == solution_id
    assert (again.status_code, taken.status_code) == (409, 409)
    assert "already in use" in again.json()["message"]
    assert len(fake.jobs) == 2
    assert unknown.status_code == 200
    assert unknown.json()["status"] == "ERROR"
    assert "not found" in unknown.json()["msg"]


@pytest.mark.anyio
async def test_request_log_counts_run_posts(fake: FakeInstabase) -> None:
    """`fake.requests.count` counts by route name or a tuple of them, e.g. every run POST."""
    solution_id = fake.add_solution(name="A")
    async with connect(fake) as http:
        await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT})
        await http.post(f"{API}/{solution_id}/run", json={"input_dir": INPUT, "job_id": "x" * 51})
        await http.post(f"{API}/run", json={"name": "A", "input_dir": INPUT})
        await http.get(f"{API}/jobs")
    runs = ("solutions.run", "solutions.run_by_name")
    assert fake.requests.count(runs, method="POST") == 3
    assert fake.requests.count(runs, status=200) == 2
    assert fake.requests.count("solutions.run") == 2
    assert fake.requests.count("solutions") == 4
    assert [r.route for r in fake.requests.filter(runs, status=400)] == ["solutions.run"]
