"""Wire tests of `ib.flows` (reference/02-flow-api.txt, the v1 error convention)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from instabase_async import (
    AsyncInstabase,
    Job,
    OperationError,
    ProcessFilesSettings,
    ResponseValidationError,
    RetryPolicy,
    WebhookConfig,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-flows-0123456789"
FLOW = "jaydoe/my_repo/fs/Instabase Drive/flow_proj/my_flow.ibflow"
INPUT = "jaydoe/my_repo/fs/Instabase Drive/flow_proj/data/input"
OUT = "jaydoe/my_repo/fs/Instabase Drive/flow_proj/data/out"
OK = {"status": "OK", "data": {"job_id": "756be65b-0eaf", "output_folder": OUT}}


def client() -> AsyncInstabase:
    return AsyncInstabase(BASE, TOKEN, retry=RetryPolicy(initial_backoff=0))


def raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode().split("?")[0]


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def assert_post_json(request: httpx.Request, path: str) -> None:
    assert request.method == "POST"
    assert raw_path(request) == path
    assert request.url.query == b""
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.anyio
async def test_run_sends_only_the_given_keys(router: respx.MockRouter) -> None:
    """flows.run POSTs run_flow_async with ibflow_path and input_dir only when no option is set."""
    route = router.post("/api/v1/flow/run_flow_async").respond(200, json=OK)
    async with client() as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
    request = route.calls.last.request
    assert_post_json(request, "/api/v1/flow/run_flow_async")
    assert body(request) == {"ibflow_path": FLOW, "input_dir": INPUT}
    assert isinstance(job, Job)
    assert (job.job_id, job.type, job.status_url, job.output_folder) == ("756be65b-0eaf", "flow", None, OUT)


@pytest.mark.anyio
async def test_run_sends_every_option_with_webhook_config(router: respx.MockRouter) -> None:
    """flows.run sends each documented option under its documented name, webhook as webhook_config."""
    route = router.post("/api/v1/flow/run_flow_async").respond(200, json=OK)
    async with client() as ib:
        await ib.flows.run(
            FLOW,
            input_dir=INPUT,
            output_dir=OUT,
            output_has_run_id=True,
            delete_out_dir=False,
            log_to_timeline=True,
            notification_emails=("me@domain.com",),
            tags=["a", "b"],
            step_timeout=-1,
            pipeline_ids=["p1"],
            save_binary_to_output=False,
            webhook=WebhookConfig("https://hook.example/x", headers={"X-Key": "v"}),
        )
    assert body(route.calls.last.request) == {
        "ibflow_path": FLOW,
        "input_dir": INPUT,
        "output_dir": OUT,
        "output_has_run_id": True,
        "delete_out_dir": False,
        "log_to_timeline": True,
        "notification_emails": ["me@domain.com"],
        "tags": ["a", "b"],
        "step_timeout": -1,
        "pipeline_ids": ["p1"],
        "save_binary_to_output": False,
        "webhook_config": {"url": "https://hook.example/x", "headers": {"X-Key": "v"}},
    }


@pytest.mark.anyio
async def test_run_webhook_without_headers_sends_url_only(router: respx.MockRouter) -> None:
    """A WebhookConfig without headers is sent as {"url": ...}, with no headers key."""
    route = router.post("/api/v1/flow/run_flow_async").respond(200, json=OK)
    async with client() as ib:
        await ib.flows.run(FLOW, input_dir=INPUT, webhook=WebhookConfig("https://hook.example/x"))
    assert body(route.calls.last.request)["webhook_config"] == {"url": "https://hook.example/x"}


@pytest.mark.anyio
async def test_run_step_body(router: respx.MockRouter) -> None:
    """flows.run_step POSTs run_step_async with ibflow_path and step_index."""
    route = router.post("/api/v1/flow/run_step_async").respond(200, json=OK)
    async with client() as ib:
        job = await ib.flows.run_step(FLOW, 0)
    request = route.calls.last.request
    assert_post_json(request, "/api/v1/flow/run_step_async")
    assert body(request) == {"ibflow_path": FLOW, "step_index": 0}
    assert job.job_id == "756be65b-0eaf"
    assert job.type == "flow"


@pytest.mark.anyio
async def test_process_files_sends_step_json_str_as_a_string(router: respx.MockRouter) -> None:
    """flows.process_files sends one key, step_json_str, a JSON string naming process_files."""
    route = router.post("/api/v1/flow/run_step_async").respond(200, json=OK)
    async with client() as ib:
        await ib.flows.process_files(input_folder="/o/r/fs/in", output_folder="o/r/fs/out")
    request = route.calls.last.request
    assert_post_json(request, "/api/v1/flow/run_step_async")
    sent = body(request)
    assert list(sent) == ["step_json_str"]
    assert isinstance(sent["step_json_str"], str)
    assert json.loads(sent["step_json_str"]) == {
        "step_name": "process_files",
        "kwargs": {
            "input_folder": "/o/r/fs/in",
            "output_folder": "o/r/fs/out",
            "process_type": "auto_to_txt",
        },
    }


@pytest.mark.anyio
async def test_process_files_settings_only_given_keys(router: respx.MockRouter) -> None:
    """ProcessFilesSettings sends only the settings that are set; a dict passes as it is."""
    route = router.post("/api/v1/flow/run_step_async").respond(200, json=OK)
    async with client() as ib:
        await ib.flows.process_files(
            input_folder="in",
            output_folder="out",
            process_type="images_to_txt",
            settings=ProcessFilesSettings(ocr_page_type="high_quality_doc", page_range_str=""),
        )
        await ib.flows.process_files(
            input_folder="in", output_folder="out", process_type="pdf_to_txt", settings={"ocr_config": "{}"}
        )
    first, second = (json.loads(body(c.request)["step_json_str"]) for c in route.calls)
    assert first["kwargs"] == {
        "input_folder": "in",
        "output_folder": "out",
        "process_type": "images_to_txt",
        "settings": {"ocr_page_type": "high_quality_doc", "page_range_str": ""},
    }
    assert second["kwargs"]["settings"] == {"ocr_config": "{}"}
    assert second["kwargs"]["process_type"] == "pdf_to_txt"


@pytest.mark.anyio
async def test_restart_body_and_new_job(router: respx.MockRouter) -> None:
    """flows.restart POSTs restart with the old job_id and returns the new job."""
    route = router.post("/api/v1/flow/restart").respond(
        200, json={"status": "OK", "data": {"job_id": "new-id", "output_folder": OUT}}
    )
    async with client() as ib:
        job = await ib.flows.restart("b8f94216-c271")
    request = route.calls.last.request
    assert_post_json(request, "/api/v1/flow/restart")
    assert body(request) == {"job_id": "b8f94216-c271"}
    assert (job.job_id, job.type, job.output_folder) == ("new-id", "flow", OUT)


@pytest.mark.anyio
async def test_run_metaflow_body(router: respx.MockRouter) -> None:
    """flows.run_metaflow POSTs run_metaflow_async with the documented keys, options left out if None."""
    route = router.post("/api/v1/flow/run_metaflow_async").respond(200, json=OK)
    async with client() as ib:
        await ib.flows.run_metaflow(
            input_dir="/in", flow_root_dir="/flows", classifier_file_path="/c.ibclassifier"
        )
        await ib.flows.run_metaflow(
            input_dir="/in",
            flow_root_dir="/flows",
            classifier_file_path="/c.ibclassifier",
            delete_out_dir=False,
            output_has_run_id=True,
        )
    assert_post_json(route.calls[0].request, "/api/v1/flow/run_metaflow_async")
    assert body(route.calls[0].request) == {
        "input_dir": "/in",
        "flow_root_dir": "/flows",
        "classifier_file_path": "/c.ibclassifier",
    }
    assert body(route.calls[1].request) == {
        "input_dir": "/in",
        "flow_root_dir": "/flows",
        "classifier_file_path": "/c.ibclassifier",
        "delete_out_dir": False,
        "output_has_run_id": True,
    }


CALLS: dict[str, tuple[str, Callable[[AsyncInstabase], Awaitable[Job]]]] = {
    "run": ("run_flow_async", lambda ib: ib.flows.run(FLOW, input_dir=INPUT)),
    "run_step": ("run_step_async", lambda ib: ib.flows.run_step(FLOW, 1)),
    "process_files": (
        "run_step_async",
        lambda ib: ib.flows.process_files(input_folder="in", output_folder="out"),
    ),
    "restart": ("restart", lambda ib: ib.flows.restart("j")),
    "run_metaflow": (
        "run_metaflow_async",
        lambda ib: ib.flows.run_metaflow(input_dir="i", flow_root_dir="f", classifier_file_path="c"),
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(CALLS))
async def test_v1_error_body_is_operation_error(router: respx.MockRouter, name: str) -> None:
    """An HTTP 200 {"status": "ERROR", "msg": ...} from any flow call raises OperationError, sent once."""
    endpoint, call = CALLS[name]
    route = router.post(f"/api/v1/flow/{endpoint}").respond(
        200, json={"status": "ERROR", "msg": "no such flow"}
    )
    async with client() as ib:
        with pytest.raises(OperationError) as info:
            await call(ib)
    assert route.call_count == 1
    err = info.value
    assert err.status_code == 200
    assert err.message == "no such flow"
    assert err.body == {"status": "ERROR", "msg": "no such flow"}
    assert err.method == "POST"
    assert err.url == f"{BASE}/api/v1/flow/{endpoint}"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        {"status": "OK"},
        {"status": "OK", "data": {}},
        {"status": "OK", "data": {"job_id": ""}},
        {"status": "OK", "data": ["job"]},
        ["not", "an", "object"],
    ],
)
async def test_answer_without_job_id_is_validation_error(router: respx.MockRouter, answer: Any) -> None:
    """A 200 answer without data.job_id raises ResponseValidationError, never KeyError or TypeError."""
    router.post("/api/v1/flow/run_flow_async").respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.flows.run(FLOW, input_dir=INPUT)


@pytest.mark.anyio
async def test_started_job_polls_v1_status_with_type_flow(router: respx.MockRouter) -> None:
    """A flow job is polled at GET /api/v1/jobs/status?job_id=..&type=flow."""
    router.post("/api/v1/flow/run_flow_async").respond(200, json=OK)
    status_route = router.get("/api/v1/jobs/status").respond(
        200, json={"status": "OK", "state": "DONE", "results": [{"status": "OK", "output_folder": OUT}]}
    )
    async with client() as ib:
        job = await ib.flows.run(FLOW, input_dir=INPUT)
        status = await job.status()
    request = status_route.calls.last.request
    assert raw_path(request) == "/api/v1/jobs/status"
    assert request.url.params.multi_items() == [("job_id", "756be65b-0eaf"), ("type", "flow")]
    assert status.succeeded
    assert status.output_folder == OUT
