"""Flow API v1 (run a flow, a step, a process-files step, a metaflow; restart) and job status.

v1 convention: a bad request is HTTP 200 ``{"status": "ERROR", "msg": ...}``; a started run
answers ``{"status": "OK", "data": {"job_id": ..., "output_folder": ...}}``.

The fake does not need the ``.ibflow`` file to exist: a run "processes" the files found
directly in its input folder, and when it ends successfully writes one ``<name>.json`` per
input file into its output folder (or a single ``results.json`` when there were none).
"""

from __future__ import annotations

import json
import posixpath
import time
from typing import Any

from ._asgi import ApiError, Reply, Request, V1Error, json_reply
from ._check import (
    as_object,
    opt_bool,
    opt_int,
    opt_list,
    opt_str,
    path_str,
    req_str,
    v1_fail,
)
from ._jobs import Effect, FakeJob
from ._state import State
from ._store import FileNode

__all__ = [
    "JOB_TYPES",
    "flow_effect",
    "get_job_v2",
    "job_status_v1",
    "run_flow",
    "run_id_folder",
    "run_metaflow",
    "run_step",
    "start_flow",
    "start_step",
    "started",
    "status_body_v1",
]

#: The ``type`` values the Job Status API documents.
JOB_TYPES = frozenset({"flow", "refiner", "job", "async", "group"})
PROCESS_TYPES = frozenset({"auto_to_txt", "images_to_txt", "pdf_to_txt"})
OCR_PAGE_TYPES = frozenset({"default", "high_quality_doc", "low_quality_doc"})
LAYOUTS = frozenset({"layout_per_page", "layout_per_doc"})


def parent(path: str) -> str:
    """The folder holding ``path`` (``"a/b/input/"`` -> ``"a/b"``)."""
    return posixpath.dirname(path.rstrip("/"))


def run_id_folder(root: str, username: str, job_id: str) -> str:
    """``<root>/run_<user>/<YYYY-mm-dd-HH:MM:SS>/<job_id>/out``, the documented run-id layout."""
    stamp = time.strftime("%Y-%m-%d-%H:%M:%S", time.gmtime())
    return posixpath.join(root, f"run_{username}", stamp, job_id, "out")


def flow_effect(state: State, input_dir: str | None, *, delete_out_dir: bool = False) -> Effect:
    """What a successful run does at its end: write one result per input file into its output folder."""

    def effect(job: FakeJob) -> None:
        assert job.output_folder is not None
        out = path_str(job.output_folder, "output_folder", ValueError)
        if delete_out_dir:
            state.store.remove(out)
        names: list[str | None] = []
        if input_dir is not None:
            node = state.store.get(path_str(input_dir, "input_dir", ValueError))
            if node is not None and not isinstance(node, FileNode):
                names = [name for name, child in sorted(node.children.items()) if isinstance(child, FileNode)]
        for name in names or [None]:
            result = {
                "job_id": job.job_id,
                "input_file": posixpath.join(input_dir, name) if input_dir and name else None,
                "status": "OK",
            }
            state.write_bytes((*out, f"{name or 'results'}.json"), json.dumps(result).encode())

    return effect


def started(job: FakeJob) -> Reply:
    return json_reply({"status": "OK", "data": {"job_id": job.job_id, "output_folder": job.output_folder}})


def _output_folder(state: State, body: dict[str, Any], job_id: str, *, input_dir: str) -> str:
    """The Flow API's output folder: ``output_dir`` or ``<input_dir>/../out``; with a run id,
    ``<parent of input_dir, or output_dir>/run_<user>/<time>/<job_id>/out``."""
    output_dir = opt_str(body, "output_dir", v1_fail)
    if output_dir is not None:
        path_str(output_dir, "output_dir", v1_fail)
    if body.get("output_has_run_id"):
        return run_id_folder(output_dir if output_dir else parent(input_dir), state.username, job_id)
    return output_dir if output_dir else posixpath.join(parent(input_dir), "out")


def start_flow(state: State, origin: str, body: dict[str, Any]) -> FakeJob:
    """Check a run_flow_async / run_metaflow_async body and start its job."""
    input_dir = req_str(body, "input_dir", v1_fail)
    path_str(input_dir, "input_dir", v1_fail)
    if origin == "flow.run":
        path_str(req_str(body, "ibflow_path", v1_fail), "ibflow_path", v1_fail)
        for key in ("log_to_timeline", "save_binary_to_output"):
            opt_bool(body, key, v1_fail)
        opt_int(body, "step_timeout", v1_fail)
        for key in ("notification_emails", "tags", "pipeline_ids"):
            opt_list(body, key, v1_fail)
        webhook = body.get("webhook_config")
        if webhook is not None and (  # Instabase's own scripts send {"headers": {}} with no url
            not isinstance(webhook, dict)
            or not isinstance(webhook.get("url", ""), str)
            or not isinstance(webhook.get("headers", {}), dict)
        ):
            raise V1Error("webhook_config must be an object with an optional string url and headers object")
    else:
        for key in ("flow_root_dir", "classifier_file_path"):
            path_str(req_str(body, key, v1_fail), key, v1_fail)
    has_run_id = opt_bool(body, "output_has_run_id", v1_fail)
    delete_out_dir = bool(opt_bool(body, "delete_out_dir", v1_fail)) and not has_run_id
    with state.lock:
        job_id = state.new_id()
        output_folder = _output_folder(state, body, job_id, input_dir=input_dir)
        return state.jobs.create(
            "flow",
            "flow",
            job_id=job_id,
            output_folder=output_folder,
            params=body,
            origin=origin,
            effect=flow_effect(state, input_dir, delete_out_dir=delete_out_dir),
        )


async def run_flow(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v1/flow/run_flow_async``."""
    body = as_object(await req.json(v1=True), v1_fail)
    return started(start_flow(state, "flow.run", body))


async def run_metaflow(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v1/flow/run_metaflow_async``."""
    body = as_object(await req.json(v1=True), v1_fail)
    return started(start_flow(state, "flow.run_metaflow", body))


def start_step(state: State, body: dict[str, Any]) -> FakeJob:
    """Check a run_step_async body (a flow step, or a ``step_json_str`` process-files step) and start it."""
    if "step_json_str" in body:
        raw = body["step_json_str"]
        if not isinstance(raw, str):
            raise V1Error("step_json_str must be a string holding JSON")
        try:
            step = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise V1Error(f"step_json_str is not valid JSON: {exc}") from None
        step = as_object(step, v1_fail)
        if step.get("step_name") != "process_files":
            raise V1Error(f"unsupported step_name {step.get('step_name')!r}; expected 'process_files'")
        kwargs = as_object(step.get("kwargs"), lambda m: V1Error("step kwargs must be an object"))
        input_folder = req_str(kwargs, "input_folder", v1_fail)
        output_folder = req_str(kwargs, "output_folder", v1_fail)
        path_str(input_folder, "input_folder", v1_fail)
        path_str(output_folder, "output_folder", v1_fail)
        process_type = kwargs.get("process_type", "auto_to_txt")
        if process_type not in PROCESS_TYPES:
            raise V1Error(f"process_type must be one of {sorted(PROCESS_TYPES)}")
        settings = as_object(kwargs.get("settings", {}), lambda m: V1Error("settings must be an object"))
        _check_process_settings(settings)
        with state.lock:
            return state.jobs.create(
                "flow",
                "flow",
                output_folder=output_folder,
                params=body,
                origin="flow.run_step",
                effect=flow_effect(state, input_folder),
            )
    ibflow_path = req_str(body, "ibflow_path", v1_fail)
    path_str(ibflow_path, "ibflow_path", v1_fail)
    step_index = body.get("step_index")
    if isinstance(step_index, bool) or not isinstance(step_index, int) or step_index < 0:
        raise V1Error("step_index is required and must be an integer >= 0")
    with state.lock:
        return state.jobs.create(
            "flow",
            "flow",
            output_folder=posixpath.join(parent(ibflow_path), "out"),
            params=body,
            origin="flow.run_step",
            effect=flow_effect(state, None),
        )


def _check_process_settings(settings: dict[str, Any]) -> None:
    """The documented process-files settings, where given, must have documented values."""
    if settings.get("ocr_page_type", "default") not in OCR_PAGE_TYPES:
        raise V1Error(f"ocr_page_type must be one of {sorted(OCR_PAGE_TYPES)}")
    if settings.get("output_format_layout", "layout_per_page") not in LAYOUTS:
        raise V1Error(f"output_format_layout must be one of {sorted(LAYOUTS)}")
    for key in ("page_range_str", "encryption_config", "ocr_config"):
        opt_str(settings, key, v1_fail)


async def run_step(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v1/flow/run_step_async``."""
    body = as_object(await req.json(v1=True), v1_fail)
    return started(start_step(state, body))


def _result(job: FakeJob) -> dict[str, Any]:
    """The job's entry of the ``results`` list."""
    if job.status == "COMPLETE":
        entry: dict[str, Any] = {"status": "OK"}
        if job.output_folder is not None:
            entry["output_folder"] = job.output_folder
        entry.update(job.result)
        return entry
    return {"status": "ERROR", "msg": job.message}


def status_body_v1(job: FakeJob) -> dict[str, Any]:
    """The Job Status API answer for ``job`` (``cur_status`` is a JSON string, as documented)."""
    cur: dict[str, Any] = {"status": job.status}
    progress = job.reported_progress()
    if progress is not None:
        cur["curProgress"] = progress
    cur["finish_timestamp"] = int(job.finished_at) if job.finished_at is not None else None
    body: dict[str, Any] = {
        "status": "OK",
        "state": "DONE" if job.done else "PENDING",
        "job_id": job.job_id,
        "cur_status": json.dumps(cur),
    }
    if job.done:
        body["results"] = [_result(job)]
    return body


async def job_status_v1(state: State, req: Request, _arg: str) -> Reply:
    """``GET /api/v1/jobs/status?job_id=..&type=..``: a poll (it moves poll-timed jobs on).

    Any documented ``type`` is accepted for any job: Instabase's own scripts mix them up.
    """
    job_id = req.arg("job_id")
    if not job_id:
        raise V1Error("job_id is required")
    job_type = req.arg("type")
    if job_type is not None and job_type not in JOB_TYPES:
        raise V1Error(f"invalid type {job_type!r}; expected one of {sorted(JOB_TYPES)}")
    job = state.jobs.poll(job_id)
    if job is None:
        raise V1Error(f"job {job_id} not found")
    return json_reply(status_body_v1(job))


_V2_STATES = {"STOPPED_AT_CHECKPOINT": "RUNNING"}


async def get_job_v2(state: State, req: Request, arg: str) -> Reply:
    """``GET /api/v2/jobs/<id>`` and ``GET /api/v2/files/delete/jobs/<id>``: a v2 poll.

    Answers ``{"state": RUNNING|COMPLETE|FAILED|CANCELLED, "message": ...}`` (a job halted at a
    checkpoint reads ``RUNNING``: v2 has no word for it). Any job id is accepted.
    """
    job = state.jobs.poll(arg)
    if job is None:
        raise ApiError(404, f"job {arg} not found")
    return json_reply({"state": _V2_STATES.get(job.status, job.status), "message": job.message})
