"""`ib.flows`: run flows, steps and metaflows (`/api/v1/flow/...`, the v1 error convention), one
at a time or many (`run_many`, on the bulk-run engine of `_runs.py`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from .._convert import omit_none, process_files_kwargs, require_str, webhook_dict
from .._durable import run_requests
from .._jobs import Job
from .._ledger import Ledger
from .._models import FlowRunRequest, PollPolicy, ProcessFilesSettings, Progress, RunOutcome, WebhookConfig
from .._runs import RunOptions, checked_requests
from .._validate import flag, optional_text, path_segment, strings, text
from ._base import Resource

__all__ = ["Flows", "flow_run_body"]

_ROOT: Final = "/api/v1/flow/"
PROCESS_TYPES: Final = frozenset({"auto_to_txt", "images_to_txt", "pdf_to_txt"})


class Flows(Resource):
    """Flow runs. Each call returns a `Job` polled at `/api/v1/jobs/status` with `type=flow`."""

    __slots__ = ()

    async def _start(self, endpoint: str, body: dict[str, Any]) -> Job:
        http = self._http
        response = await http.send("POST", http.url(_ROOT + endpoint), json_body=body, v1=True)
        payload = self._http.json(response)
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
        text("ibflow_path", ibflow_path)
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
        text("input_folder", input_folder)
        text("output_folder", output_folder)
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
        return await self._start("restart", {"job_id": path_segment("job_id", job_id)})

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
        body = omit_none(
            input_dir=text("input_dir", input_dir),
            flow_root_dir=text("flow_root_dir", flow_root_dir),
            classifier_file_path=text("classifier_file_path", classifier_file_path),
            delete_out_dir=flag("delete_out_dir", delete_out_dir),
            output_has_run_id=flag("output_has_run_id", output_has_run_id),
        )
        return await self._start("run_metaflow_async", body)

    async def run_many(
        self,
        requests: Iterable[FlowRunRequest],
        *,
        max_running: int = 8,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        on_outcome: Callable[[RunOutcome], Any] | None = None,
        progress: Callable[[Progress], Any] | None = None,
        ledger: Ledger | None = None,
        resubmit_unknown: bool = False,
    ) -> list[RunOutcome]:
        """Start flow runs so that at most `max_running` are alive on the server (submitted, not
        yet ended), starting the next as soon as one ends; one `RunOutcome` per request, in input
        order.

        Every request is checked before the first is sent. A failed submission is that request's
        outcome (`job=None`). Callbacks run one at a time, in completion order;
        `Progress.failed` counts every outcome that is not `ok` (a halted run included).

        With a `ledger`, a re-run carries on where a crashed one stopped, and several workers may
        share the run (see `Ledger`). A run found mid-submit is a `SubmissionUnknownError` outcome
        (state `unknown`) unless `resubmit_unknown=True` submits it again.
        """
        options = RunOptions(max_running, poll, timeout, on_outcome, progress)
        checked = checked_requests(requests, FlowRunRequest)
        bodies = [flow_run_body(request) for request in checked]

        async def submit(index: int, job_id: str | None = None) -> Job:
            return await self._start("run_flow_async", bodies[index])

        return await run_requests(
            self._client, checked, submit, options, ledger=ledger, resubmit_unknown=resubmit_unknown
        )


def flow_run_body(request: FlowRunRequest) -> dict[str, Any]:
    """The JSON body of `run_flow_async`, checked (and each option read once) before anything is sent."""
    step_timeout = request.step_timeout
    if step_timeout is not None and (isinstance(step_timeout, bool) or not isinstance(step_timeout, int)):
        raise TypeError("step_timeout must be an int")
    if step_timeout is not None and step_timeout < -1:
        raise ValueError("step_timeout must be >= -1 (0 lets the platform choose, -1 disables)")
    return omit_none(
        ibflow_path=text("ibflow_path", request.ibflow_path),
        input_dir=text("input_dir", request.input_dir),
        output_dir=optional_text("output_dir", request.output_dir),
        output_has_run_id=flag("output_has_run_id", request.output_has_run_id),
        delete_out_dir=flag("delete_out_dir", request.delete_out_dir),
        log_to_timeline=flag("log_to_timeline", request.log_to_timeline),
        notification_emails=strings("notification_emails", request.notification_emails),
        tags=strings("tags", request.tags),
        step_timeout=step_timeout,
        pipeline_ids=strings("pipeline_ids", request.pipeline_ids),
        save_binary_to_output=flag("save_binary_to_output", request.save_binary_to_output),
        webhook_config=webhook_dict(request.webhook),
    )
