"""The fake Instabase at the wire: Flow API v1, the v1 Job Status API, and the life of jobs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from support import connect

from instabase_async.testing import FakeInstabase, FakeJob, Outcome, ProgressShape

DRIVE = "me/repo/fs/Instabase Drive/proj"
FLOW = f"{DRIVE}/flow.ibflow"
INPUT = f"{DRIVE}/data/input"


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh, seeded fake whose jobs end at their third poll."""
    instance = FakeInstabase(seed=7)
    yield instance
    instance.close()


async def run_flow(http: httpx.AsyncClient, **extra: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/flow/run_flow_async", json={"ibflow_path": FLOW, "input_dir": INPUT, **extra}
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def status(http: httpx.AsyncClient, job_id: str, type: str = "flow") -> dict[str, Any]:
    response = await http.get("/api/v1/jobs/status", params={"job_id": job_id, "type": type})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def poll_until_done(http: httpx.AsyncClient, job_id: str, type: str = "flow") -> dict[str, Any]:
    for _ in range(20):
        body = await status(http, job_id, type)
        if body["state"] == "DONE":
            return body
    raise AssertionError("job did not finish in 20 polls")


@pytest.mark.anyio
async def test_run_flow_answers_job_id_and_default_output_folder(fake: FakeInstabase) -> None:
    """run_flow_async answers v1 OK with a job id and output folder `<input_dir>/../out`."""
    async with connect(fake) as http:
        body = await run_flow(http)
    assert body["status"] == "OK"
    assert body["data"]["output_folder"] == f"{DRIVE}/data/out"
    assert body["data"]["job_id"] in fake.jobs
    assert fake.jobs[body["data"]["job_id"]].params["ibflow_path"] == FLOW


@pytest.mark.anyio
async def test_run_flow_output_has_run_id_uses_documented_layout(fake: FakeInstabase) -> None:
    """With output_has_run_id the output is `<parent>/run_<user>/<timestamp>/<job_id>/out`."""
    async with connect(fake) as http:
        data = (await run_flow(http, output_has_run_id=True))["data"]
        given = (await run_flow(http, output_dir=f"{DRIVE}/elsewhere"))["data"]
    pattern = rf"{re.escape(DRIVE)}/data/run_fakeuser/\d{{4}}-\d\d-\d\d-\d\d:\d\d:\d\d/{data['job_id']}/out"
    assert re.fullmatch(pattern, data["output_folder"])
    assert given["output_folder"] == f"{DRIVE}/elsewhere"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"ibflow_path": FLOW}, "input_dir"),
        ({"input_dir": INPUT}, "ibflow_path"),
        ({"ibflow_path": FLOW, "input_dir": INPUT, "tags": "x"}, "tags"),
        ({"ibflow_path": FLOW, "input_dir": INPUT, "output_has_run_id": "yes"}, "output_has_run_id"),
        ({"ibflow_path": FLOW, "input_dir": f"{DRIVE}/../x"}, "input_dir"),
        ({"ibflow_path": FLOW, "input_dir": INPUT, "webhook_config": {"headers": []}}, "webhook_config"),
        ({"ibflow_path": FLOW, "input_dir": INPUT, "webhook_config": {"url": 3}}, "webhook_config"),
        ([1, 2], "JSON object"),
    ],
)
async def test_run_flow_bad_input_is_v1_error(fake: FakeInstabase, body: Any, needle: str) -> None:
    """A refused flow run is HTTP 200 with `{"status": "ERROR", "msg": ...}` and starts nothing."""
    async with connect(fake) as http:
        response = await http.post("/api/v1/flow/run_flow_async", json=body)
        broken = await http.post("/api/v1/flow/run_flow_async", content=b"{not json")
    assert response.status_code == 200
    assert response.json()["status"] == "ERROR"
    assert needle in response.json()["msg"]
    assert broken.json()["status"] == "ERROR"
    assert not fake.jobs


@pytest.mark.anyio
async def test_job_status_runs_for_job_polls_then_is_done(fake: FakeInstabase) -> None:
    """Polls 1-2 see PENDING/RUNNING with growing curProgress (cur_status a JSON string); poll 3 sees DONE."""
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        first, second, third = [await status(http, job_id) for _ in range(3)]
    for body in (first, second):
        assert body["state"] == "PENDING"
        assert "results" not in body
        assert isinstance(body["cur_status"], str)
    progress = [json.loads(b["cur_status"])["curProgress"] for b in (first, second)]
    assert 0 < progress[0] < progress[1] < 1
    assert json.loads(first["cur_status"])["status"] == "RUNNING"
    assert third["state"] == "DONE"
    assert third["job_id"] == job_id
    cur = json.loads(third["cur_status"])
    assert cur["status"] == "COMPLETE"
    assert cur["curProgress"] == 1.0
    assert isinstance(cur["finish_timestamp"], int)
    assert third["results"] == [{"status": "OK", "output_folder": f"{DRIVE}/data/out"}]


@pytest.mark.anyio
async def test_finished_run_writes_one_result_per_input_file(fake: FakeInstabase) -> None:
    """A successful run writes `<name>.json` per input file into its output folder, listable over the API."""
    fake.write_file(f"{INPUT}/a.pdf", b"%PDF")
    fake.write_file(f"{INPUT}/b.png", b"PNG")
    fake.mkdir(f"{INPUT}/sub")
    fake.job_polls = 0
    async with connect(fake) as http:
        data = (await run_flow(http, output_has_run_id=True))["data"]
        await poll_until_done(http, data["job_id"])
        url = "/api/v2/files/" + "/".join(quote(s, safe="") for s in data["output_folder"].split("/"))
        listing = await http.get(url, params={"expect-node-type": "folder"})
    assert [n["name"] for n in listing.json()["nodes"]] == ["a.pdf.json", "b.png.json"]
    result = json.loads(fake.read_file(f"{data['output_folder']}/a.pdf.json"))
    assert result == {"job_id": data["job_id"], "input_file": f"{INPUT}/a.pdf", "status": "OK"}


@pytest.mark.anyio
async def test_run_without_inputs_writes_results_json(fake: FakeInstabase) -> None:
    """A run whose input folder holds no file writes a single `results.json`."""
    async with connect(fake) as http:
        data = (await run_flow(http))["data"]
        await poll_until_done(http, data["job_id"])
    assert fake.list_dir(data["output_folder"]) == ["results.json"]


@pytest.mark.anyio
async def test_error_outcome_is_done_with_error_result_and_failed_cur_status(fake: FakeInstabase) -> None:
    """An ERROR outcome: state DONE, cur_status FAILED, results `[{"status": "ERROR", "msg"}]`, no output."""
    fake.set_next_outcomes([Outcome.error("OCR exploded")])
    async with connect(fake) as http:
        data = (await run_flow(http))["data"]
        body = await poll_until_done(http, data["job_id"])
    assert json.loads(body["cur_status"])["status"] == "FAILED"
    assert body["results"] == [{"status": "ERROR", "msg": "OCR exploded"}]
    assert not fake.exists(data["output_folder"])


@pytest.mark.anyio
async def test_cancelled_and_checkpoint_outcomes(fake: FakeInstabase) -> None:
    """CANCELLED ends DONE with cur_status CANCELLED; STOPPED_AT_CHECKPOINT stays PENDING until finish_job."""
    fake.set_next_outcomes(["CANCELLED", Outcome.STOPPED_AT_CHECKPOINT])
    async with connect(fake) as http:
        cancelled = (await run_flow(http))["data"]["job_id"]
        halted = (await run_flow(http))["data"]["job_id"]
        body = await poll_until_done(http, cancelled)
        assert json.loads(body["cur_status"])["status"] == "CANCELLED"
        assert body["results"][0]["status"] == "ERROR"
        for _ in range(6):
            held = await status(http, halted)
        assert held["state"] == "PENDING"
        assert json.loads(held["cur_status"])["status"] == "STOPPED_AT_CHECKPOINT"
        assert fake.jobs_running() == 0
        fake.finish_job(halted)
        done = await status(http, halted)
    assert done["state"] == "DONE"
    assert json.loads(done["cur_status"])["status"] == "COMPLETE"


@pytest.mark.anyio
async def test_finish_job_forces_an_outcome_and_refuses_twice(fake: FakeInstabase) -> None:
    """finish_job ends a running job at once with the given outcome; a finished job cannot be ended again."""
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        fake.finish_job(job_id, Outcome.error("stopped by test"))
        body = await status(http, job_id)
    assert body["results"] == [{"status": "ERROR", "msg": "stopped by test"}]
    with pytest.raises(ValueError, match="already"):
        fake.finish_job(job_id)
    with pytest.raises(KeyError):
        fake.finish_job("nope")


@pytest.mark.anyio
async def test_outcome_rules_queue_by_kind_then_callable_then_default(fake: FakeInstabase) -> None:
    """Queued outcomes (per kind, then any kind) come first, then outcome_for, then the default."""
    seen: list[FakeJob] = []

    def rule(job: FakeJob) -> str | None:
        seen.append(job)
        return "CANCELLED" if job.params.get("tags") == ["cancel"] else None

    fake.outcome_for = rule
    fake.outcome = "ERROR"
    fake.set_next_outcomes(["OK"], kind="flow")
    async with connect(fake) as http:
        first = (await run_flow(http))["data"]["job_id"]
        second = (await run_flow(http, tags=["cancel"]))["data"]["job_id"]
        third = (await run_flow(http))["data"]["job_id"]
    assert [fake.jobs[j].outcome.kind for j in (first, second, third)] == ["OK", "CANCELLED", "ERROR"]
    assert [job.job_id for job in seen] == [second, third]


@pytest.mark.anyio
async def test_status_unknown_job_or_type_is_v1_error(fake: FakeInstabase) -> None:
    """An unknown job id, a missing job_id, or an undocumented type answers the v1 ERROR body."""
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        unknown = await status(http, "no-such-job")
        missing = (await http.get("/api/v1/jobs/status")).json()
        bad_type = await status(http, job_id, type="banana")
        other_type = await status(http, job_id, type="async")
    assert unknown["status"] == missing["status"] == bad_type["status"] == "ERROR"
    assert "not found" in unknown["msg"]
    assert other_type["status"] == "OK"  # real scripts mix up types: tolerated


@pytest.mark.anyio
async def test_run_step_by_index_and_process_files(fake: FakeInstabase) -> None:
    """run_step_async takes ibflow_path + step_index >= 0, or a step_json_str naming process_files."""
    step: dict[str, Any] = {
        "step_name": "process_files",
        "kwargs": {
            "input_folder": INPUT,
            "output_folder": f"{DRIVE}/ocr",
            "process_type": "images_to_txt",
            "settings": {"ocr_page_type": "high_quality_doc", "output_format_layout": "layout_per_doc"},
        },
    }
    async with connect(fake) as http:
        by_index = (
            await http.post("/api/v1/flow/run_step_async", json={"ibflow_path": FLOW, "step_index": 0})
        ).json()
        process = (
            await http.post("/api/v1/flow/run_step_async", json={"step_json_str": json.dumps(step)})
        ).json()
        bad = [
            (await http.post("/api/v1/flow/run_step_async", json=body)).json()
            for body in (
                {"ibflow_path": FLOW, "step_index": -1},
                {"ibflow_path": FLOW},
                {"step_json_str": step},
                {"step_json_str": "{oops"},
                {"step_json_str": json.dumps({**step, "step_name": "other"})},
                {"step_json_str": json.dumps({**step, "kwargs": {**step["kwargs"], "process_type": "x"}})},
                {},
            )
        ]
        await poll_until_done(http, process["data"]["job_id"])
    assert by_index["status"] == "OK"
    assert by_index["data"]["output_folder"] == f"{DRIVE}/out"
    assert process["data"]["output_folder"] == f"{DRIVE}/ocr"
    assert fake.exists(f"{DRIVE}/ocr/results.json")
    assert [b["status"] for b in bad] == ["ERROR"] * len(bad)


@pytest.mark.anyio
async def test_restart_starts_the_same_run_under_a_new_id(fake: FakeInstabase) -> None:
    """restart of a known flow job answers a new job with the same parameters; an unknown id is an ERROR."""
    async with connect(fake) as http:
        old = (await run_flow(http, tags=["t"]))["data"]
        new = (await http.post("/api/v1/flow/restart", json={"job_id": old["job_id"]})).json()
        unknown = (await http.post("/api/v1/flow/restart", json={"job_id": "nope"})).json()
    assert new["status"] == "OK"
    assert new["data"]["job_id"] != old["job_id"]
    assert new["data"]["output_folder"] == old["output_folder"]
    assert fake.jobs[new["data"]["job_id"]].params["tags"] == ["t"]
    assert unknown["status"] == "ERROR"


@pytest.mark.anyio
async def test_run_metaflow_requires_its_three_paths(fake: FakeInstabase) -> None:
    """run_metaflow_async needs input_dir, flow_root_dir and classifier_file_path."""
    body = {
        "input_dir": f"/{INPUT}",
        "flow_root_dir": f"/{DRIVE}/workflows",
        "classifier_file_path": f"/{DRIVE}/c.ibclassifier",
    }
    async with connect(fake) as http:
        ok = (await http.post("/api/v1/flow/run_metaflow_async", json=body)).json()
        missing = (
            await http.post("/api/v1/flow/run_metaflow_async", json={**body, "classifier_file_path": None})
        ).json()
    assert ok["status"] == "OK"
    assert ok["data"]["output_folder"] == f"/{DRIVE}/data/out"
    assert missing["status"] == "ERROR"
    assert "classifier_file_path" in missing["msg"]


@pytest.mark.anyio
async def test_running_count_and_high_water_mark(fake: FakeInstabase) -> None:
    """jobs_running counts live jobs; max_running_jobs keeps the most that ran at once."""
    fake.job_polls = 0
    async with connect(fake) as http:
        ids = [(await run_flow(http))["data"]["job_id"] for _ in range(3)]
        assert fake.jobs_running() == 3
        await status(http, ids[0])
        await run_flow(http)
        assert fake.jobs_running() == 3
        for job_id in ids[1:]:
            await status(http, job_id)
    assert fake.jobs_running() == 1
    assert fake.max_running_jobs == 3
    fake.reset_max_running_jobs()
    assert fake.max_running_jobs == 1


@pytest.mark.anyio
async def test_jobs_timed_in_seconds_end_on_the_clock(fake: FakeInstabase) -> None:
    """With job_seconds a job runs that long whatever the polls, then ends at the next look."""
    fake.job_seconds = 0.2
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        early = await status(http, job_id)
        assert fake.jobs_running() == 1
        await anyio.sleep(0.25)
        assert fake.jobs_running() == 0
        late = await status(http, job_id)
    assert early["state"] == "PENDING"
    assert late["state"] == "DONE"


def test_seconds_ranges_are_drawn_with_the_seed() -> None:
    """A (low, high) duration is drawn per job from the seeded RNG: same seed, same durations."""

    def durations(seed: int) -> list[float | None]:
        fake = FakeInstabase(seed=seed, job_seconds=(2, 12))
        jobs = [fake._state.jobs.create("flow", "flow") for _ in range(5)]
        return [job.seconds_needed for job in jobs]

    first = durations(3)
    assert first == durations(3)
    assert all(d is not None and 2 <= d <= 12 for d in first)
    assert len(set(first)) == 5


@pytest.mark.anyio
async def test_set_job_duration_overrides_one_job(fake: FakeInstabase) -> None:
    """set_job_duration changes one job's length: polls=0 ends it at its next poll."""
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        fake.set_job_duration(job_id, polls=0)
        assert (await status(http, job_id))["state"] == "DONE"
        other = (await run_flow(http))["data"]["job_id"]
        fake.set_job_duration(other, seconds=0)
        assert fake.get_job(other).status == "COMPLETE"


def test_outcome_values_are_validated() -> None:
    """Outcome accepts the four documented kinds only, and coerces their names."""
    assert Outcome.coerce("OK") is not None
    assert Outcome.coerce("ERROR").message == "Job failed"
    assert Outcome.error("x") == Outcome("ERROR", "x")
    with pytest.raises(ValueError, match="unknown outcome"):
        Outcome.coerce("DONE")
    with pytest.raises(ValueError, match="job_polls"):
        FakeInstabase(job_polls=-1)


async def progress_seen(fake: FakeInstabase, polls: int) -> list[float | None]:
    """`curProgress` of one flow run at each v1 status poll until it is done (None: no key)."""
    seen: list[float | None] = []
    async with connect(fake) as http:
        job_id = (await run_flow(http))["data"]["job_id"]
        for _ in range(polls):
            cur = json.loads((await status(http, job_id))["cur_status"])
            seen.append(cur.get("curProgress"))
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("linear", [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]),
        ("steps", [0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0]),
        (ProgressShape.in_steps(2), [0.0, 0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0]),
        ("late", [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.875, 1.0]),
        (ProgressShape.late_jump(0.7), [0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.875, 1.0]),
        ("none", [None] * 8),
    ],
)
async def test_progress_shapes_of_cur_progress(
    shape: ProgressShape | str, expected: list[float | None]
) -> None:
    """Running jobs report curProgress linearly, in steps, at 0 until a late jump, or not at all."""
    fake = FakeInstabase(job_polls=7, progress=shape)
    assert await progress_seen(fake, 8) == expected


@pytest.mark.anyio
async def test_progress_follows_the_clock_with_job_seconds() -> None:
    """With job_seconds, linear progress is the share of the run's time gone by."""
    fake = FakeInstabase(job_seconds=30)
    seen = await progress_seen(fake, 1)
    assert seen[0] is not None and 0 <= seen[0] < 0.1


@pytest.mark.anyio
async def test_mixed_progress_and_progress_for() -> None:
    """`progress="mixed"` gives new jobs each shape in turn; `progress_for` overrides per job;
    a shape with no progress leaves curProgress out of the solution-jobs listing too."""
    fake = FakeInstabase(progress="mixed")
    fake.progress_for = lambda job: "none" if job.params.get("tags") == ["quiet"] else None
    solution_id = fake.add_solution(name="A")
    async with connect(fake) as http:
        flows = [(await run_flow(http))["data"]["job_id"] for _ in range(5)]
        quiet = (await run_flow(http, tags=["quiet"]))["data"]["job_id"]
        await http.post(
            f"/api/v2/solutions/deployed/{solution_id}/run", json={"input_dir": INPUT, "job_id": "s"}
        )
        listed = (await http.get("/api/v2/solutions/deployed/jobs")).json()["jobs"]
    kinds = [fake.jobs[job_id].progress_shape.kind for job_id in [*flows, quiet]]
    assert kinds == ["linear", "steps", "late", "none", "linear", "none"]
    assert fake.jobs["s"].progress_shape.kind == "steps"
    assert "curProgress" in listed[0]
    fake.progress = "none"
    assert fake.progress == ProgressShape.NONE
    assert fake.progress_for is not None


@pytest.mark.parametrize(
    "bad",
    [
        lambda: ProgressShape.coerce("spiral"),
        lambda: ProgressShape.in_steps(0),
        lambda: ProgressShape.late_jump(0),
    ],
)
def test_bad_progress_shapes_are_value_errors(bad: Any) -> None:
    """An unknown shape name, zero steps or a jump at 0 is refused when the shape is made."""
    with pytest.raises(ValueError, match="progress shape"):
        bad()
    with pytest.raises(ValueError):
        FakeInstabase(progress="spiral")
