"""`ib.flows`: run flows, steps and metaflows (`/api/v1/flow/...`, the v1 error convention)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from .._convert import omit_none, process_files_kwargs, require_str, webhook_dict
from .._http import decode_json
from .._jobs import Job
from .._models import FlowRunRequest, PollPolicy, ProcessFilesSettings, RunOutcome, WebhookConfig
from ._base import Resource, check_bool, check_str, check_str_list

__all__ = ["Flows"]

_ROOT: Final = "/api/v1/flow/"
PROCESS_TYPES: Final = frozenset({"auto_to_txt", "images_to_txt", "pdf_to_txt"})


class Flows(Resource):
    """Flow runs. Each call returns a `Job` polled at `/api/v1/jobs/status` with `type=flow`."""

    __slots__ = ()

    async def _start(self, endpoint: str, body: dict[str, Any]) -> Job:
        http = self._http
        response = await http.send("POST", http.url(_ROOT + endpoint), json_body=body, v1=True)
        payload = decode_json(response)
        data = payload.get("data") if isinstance(payload, Mapping) else None
        job_id = require_str(data, "job_id", f"flow/{endpoint}")
        assert isinstance(data, Mapping)
        folder = data.get("output_folder")
        return Job(
            self._client, job_id, type="flow", output_folder=folder if isinstance(folder, str) else None
        )

    async def run(
        self,
        ibflow_path: str,
        *,
        input_dir: str,
        output_dir: str | None = None,
        output_has_run_id: bool | None = None,
        delete_out_dir: bool | None = None,
        log_to_timeline: bool | None = None,
        notification_emails: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        step_timeout: int | None = None,
        pipeline_ids: Sequence[str] | None = None,
        save_binary_to_output: bool | None = None,
        webhook: WebhookConfig | Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a flow (`POST /api/v1/flow/run_flow_async`)."""
        return await self._start(
            "run_flow_async",
            flow_run_body(
                FlowRunRequest(
                    ibflow_path,
                    input_dir,
                    output_dir=output_dir,
                    output_has_run_id=output_has_run_id,
                    delete_out_dir=delete_out_dir,
                    log_to_timeline=log_to_timeline,
                    notification_emails=notification_emails,
                    tags=tags,
                    step_timeout=step_timeout,
                    pipeline_ids=pipeline_ids,
                    save_binary_to_output=save_binary_to_output,
                    webhook=webhook,  # type: ignore[arg-type]
                )
            ),
        )

    async def submit(self, request: FlowRunRequest) -> Job:
        """Start one `FlowRunRequest` (what `run_many` does for each)."""
        return await self._start("run_flow_async", flow_run_body(request))

    async def run_step(self, ibflow_path: str, step_index: int) -> Job:
        """Run one step of a flow (`POST /api/v1/flow/run_step_async`); `step_index >= 0`."""
        check_str("ibflow_path", ibflow_path)
        if isinstance(step_index, bool) or not isinstance(step_index, int):
            raise TypeError(f"step_index must be an int, not {type(step_index).__name__}")
        if step_index < 0:
            raise ValueError(f"step_index must be >= 0, got {step_index}")
        return await self._start("run_step_async", {"ibflow_path": ibflow_path, "step_index": step_index})

    async def process_files(
        self,
        *,
        input_folder: str,
        output_folder: str,
        process_type: str = "auto_to_txt",
        settings: ProcessFilesSettings | Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a standalone process-files step: `step_json_str` is a JSON *string*, as documented."""
        check_str("input_folder", input_folder)
        check_str("output_folder", output_folder)
        if process_type not in PROCESS_TYPES:
            raise ValueError(f"process_type must be one of {sorted(PROCESS_TYPES)}, got {process_type!r}")
        kwargs = omit_none(
            input_folder=input_folder,
            output_folder=output_folder,
            process_type=process_type,
            settings=process_files_kwargs(settings),
        )
        step = {"step_name": "process_files", "kwargs": kwargs}
        return await self._start("run_step_async", {"step_json_str": json.dumps(step)})

    async def restart(self, job_id: str) -> Job:
        """Restart a flow run from the beginning under a new job id (`POST /api/v1/flow/restart`)."""
        check_str("job_id", job_id)
        return await self._start("restart", {"job_id": job_id})

    async def run_metaflow(
        self,
        *,
        input_dir: str,
        flow_root_dir: str,
        classifier_file_path: str,
        delete_out_dir: bool | None = None,
        output_has_run_id: bool | None = None,
    ) -> Job:
        """Run a metaflow (`POST /api/v1/flow/run_metaflow_async`)."""
        check_str("input_dir", input_dir)
        check_str("flow_root_dir", flow_root_dir)
        check_str("classifier_file_path", classifier_file_path)
        check_bool("delete_out_dir", delete_out_dir)
        check_bool("output_has_run_id", output_has_run_id)
        body = omit_none(
            input_dir=input_dir,
            flow_root_dir=flow_root_dir,
            classifier_file_path=classifier_file_path,
            delete_out_dir=delete_out_dir,
            output_has_run_id=output_has_run_id,
        )
        return await self._start("run_metaflow_async", body)

    async def run_many(
        self,
        requests: Sequence[FlowRunRequest],
        *,
        max_running: int = 8,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        on_outcome: Callable[[RunOutcome], Any] | None = None,
        progress: Callable[[Any], Any] | None = None,
    ) -> list[RunOutcome]:
        """Start flow runs so that at most `max_running` run on the server at once, starting the
        next as soon as one ends; one `RunOutcome` per request, in input order."""
        from .._bulk import run_many

        return await run_many(
            self._client,
            requests,
            max_running=max_running,
            poll=poll,
            timeout=timeout,
            on_outcome=on_outcome,
            progress=progress,
        )


def flow_run_body(request: FlowRunRequest) -> dict[str, Any]:
    """The JSON body of `run_flow_async`, checked before anything is sent."""
    check_str("ibflow_path", request.ibflow_path)
    check_str("input_dir", request.input_dir)
    check_str("output_dir", request.output_dir, optional=True)
    for name in ("output_has_run_id", "delete_out_dir", "log_to_timeline", "save_binary_to_output"):
        check_bool(name, getattr(request, name))
    for name in ("notification_emails", "tags", "pipeline_ids"):
        check_str_list(name, getattr(request, name))
    if request.step_timeout is not None and (
        isinstance(request.step_timeout, bool) or not isinstance(request.step_timeout, int)
    ):
        raise TypeError("step_timeout must be an int")
    if request.step_timeout is not None and request.step_timeout < -1:
        raise ValueError("step_timeout must be >= -1 (0 lets the platform choose, -1 disables)")
    return omit_none(
        ibflow_path=request.ibflow_path,
        input_dir=request.input_dir,
        output_dir=request.output_dir,
        output_has_run_id=request.output_has_run_id,
        delete_out_dir=request.delete_out_dir,
        log_to_timeline=request.log_to_timeline,
        notification_emails=list(request.notification_emails)
        if request.notification_emails is not None
        else None,
        tags=list(request.tags) if request.tags is not None else None,
        step_timeout=request.step_timeout,
        pipeline_ids=list(request.pipeline_ids) if request.pipeline_ids is not None else None,
        save_binary_to_output=request.save_binary_to_output,
        webhook_config=webhook_dict(request.webhook),
    )
