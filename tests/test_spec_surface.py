"""The public surface SPEC.md promises, pinned name by name: what is importable from the top level,
each call's signature (positional ids, keyword-only options, defaults), the models' attributes,
the error tree, the job states, the policies' defaults and the command line's commands and options.

Wire behaviour is pinned by the test_wire_* files; this file pins the shape a caller writes against.
A call may take more keyword-only options than SPEC.md names, as long as each has a default, so
that every call written the way SPEC.md shows keeps working.
"""

from __future__ import annotations

import inspect
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import attrs
import pytest

import instabase_async
from instabase_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AsyncInstabase,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FileInfo,
    FlowRunRequest,
    HttpEndpoint,
    InstabaseError,
    Job,
    JobCancelledError,
    JobError,
    JobFailedError,
    JobOutcome,
    JobState,
    JobStatus,
    Ledger,
    LicenseError,
    NotFoundError,
    OperationError,
    PollPolicy,
    PreconditionFailedError,
    ProcessFilesSettings,
    Progress,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    RunOutcome,
    RunSettings,
    ServerError,
    ServerRetry,
    Solution,
    SolutionJob,
    SolutionRunRequest,
    SubmissionUnknownError,
    TransferOutcome,
    WaitTimeoutError,
    WebhookConfig,
)
from instabase_async.testing import FakeInstabase

REQUIRED = inspect.Parameter.empty
ANY = object()  # SPEC.md names the parameter but not its default
POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY

SPEC_NAMES = [
    "AsyncInstabase",
    "RetryPolicy",
    "PollPolicy",
    "Job",
    "JobStatus",
    "JobState",
    "JobOutcome",
    "FlowRunRequest",
    "RunOutcome",
    "WebhookConfig",
    "ProcessFilesSettings",
    "RunSettings",
    "Solution",
    "SolutionJob",
    "FileInfo",
    "ServerRetry",
    "TransferOutcome",
    "HttpEndpoint",
    "Progress",
    "Ledger",
    "SolutionRunRequest",
]

# Each error class with the parent SPEC.md draws it under.
ERROR_TREE: dict[type[BaseException], type[BaseException]] = {
    InstabaseError: Exception,
    APIError: InstabaseError,
    BadRequestError: APIError,
    AuthenticationError: APIError,
    LicenseError: APIError,
    NotFoundError: APIError,
    ConflictError: APIError,
    PreconditionFailedError: APIError,
    RateLimitError: APIError,
    ServerError: APIError,
    OperationError: APIError,
    APIConnectionError: InstabaseError,
    APITimeoutError: APIConnectionError,
    ResponseValidationError: InstabaseError,
    SubmissionUnknownError: InstabaseError,
    JobError: InstabaseError,
    JobFailedError: JobError,
    JobCancelledError: JobError,
    WaitTimeoutError: JobError,
}


def check_signature(
    func: Callable[..., Any],
    positional: list[tuple[str, Any]],
    keyword: dict[str, Any] | None = None,
) -> None:
    """`func` takes exactly `positional` (name, default) in order, then keyword-only `keyword`
    (name -> default); any further parameter is keyword-only with a default."""
    params = list(inspect.signature(func).parameters.values())
    assert all(p.kind in (POSITIONAL, KEYWORD) for p in params), f"{func}: *args, **kwargs or positional-only"
    leading = [p for p in params if p.kind is POSITIONAL]
    assert [p.name for p in leading] == [name for name, _ in positional], func
    for param, (name, default) in zip(leading, positional, strict=True):
        if default is not ANY:
            assert param.default == default, (func, name, param.default)
    options = {p.name: p for p in params if p.kind is KEYWORD}
    for name, default in (keyword or {}).items():
        assert name in options, f"{func} has no keyword-only option {name!r}"
        if default is not ANY:
            assert options[name].default == default, (func, name, options[name].default)
    for name in options.keys() - (keyword or {}).keys():
        assert options[name].default is not REQUIRED, f"{func}: extra option {name!r} must have a default"


def not_required(func: Callable[..., Any], *names: str) -> None:
    """Each of `names` has a default (SPEC.md names the option, not the value)."""
    params = inspect.signature(func).parameters
    for name in names:
        assert params[name].default is not REQUIRED, (func, name)


@pytest.fixture
def ib() -> AsyncInstabase:
    """A client that is never used to send anything (only its methods are inspected)."""
    return AsyncInstabase(base_url="https://ib.test", token="t")


# --------------------------------------------------------------------------- names


def test_every_spec_name_is_importable_from_the_top_level() -> None:
    """Every public name and every error class of SPEC.md is exported by `instabase_async`."""
    for name in [*SPEC_NAMES, *(cls.__name__ for cls in ERROR_TREE)]:
        assert name in instabase_async.__all__, name
        assert getattr(instabase_async, name).__name__ == name


def test_all_is_sorted_and_resolves() -> None:
    """`__all__` is sorted (httpx's style) and every name in it exists."""
    names = [n for n in instabase_async.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in instabase_async.__all__:
        assert hasattr(instabase_async, name), name


def test_submodules_are_private_except_testing() -> None:
    """The package's submodules are private, except `testing` (and `demo`, the runnable example
    the README's first line starts)."""
    public = {m.name for m in pkgutil.iter_modules(instabase_async.__path__) if not m.name.startswith("_")}
    assert public == {"testing", "demo"}


# --------------------------------------------------------------------------- the client


def test_client_signature_and_namespaces(ib: AsyncInstabase) -> None:
    """`AsyncInstabase(base_url, token, *, ...)` with SPEC.md's defaults, `from_env`, `aclose`,
    `request`, and the five namespaces."""
    check_signature(
        AsyncInstabase,
        [("base_url", REQUIRED), ("token", REQUIRED)],
        {
            "timeout": ANY,
            "max_connections": ANY,
            "retry": RetryPolicy(),
            "poll": PollPolicy(),
            "transport": None,
            "http_client": None,
            "headers": None,
            "allow_insecure_http": False,
            "context": None,
        },
    )
    not_required(AsyncInstabase, "timeout", "max_connections")
    from_env = inspect.signature(AsyncInstabase.from_env).parameters.values()
    assert all(p.kind is inspect.Parameter.VAR_KEYWORD or p.default is not REQUIRED for p in from_env)
    check_signature(ib.aclose, [])
    assert inspect.iscoroutinefunction(ib.aclose)
    check_signature(
        ib.request,
        [("method", REQUIRED), ("path", REQUIRED)],
        {"params": None, "json": None, "content": None, "headers": None},
    )
    assert inspect.iscoroutinefunction(ib.request)
    for namespace in ("flows", "solutions", "files", "endpoints", "jobs"):
        assert getattr(ib, namespace) is not None


def test_flows_signatures(ib: AsyncInstabase) -> None:
    """Flows: the path positional, every option keyword-only and `None` (not sent) by default."""
    run_options = [
        "output_dir",
        "output_has_run_id",
        "delete_out_dir",
        "log_to_timeline",
        "notification_emails",
        "tags",
        "step_timeout",
        "pipeline_ids",
        "save_binary_to_output",
        "webhook",
    ]
    check_signature(
        ib.flows.run, [("ibflow_path", REQUIRED)], {"input_dir": ANY, **dict.fromkeys(run_options)}
    )
    check_signature(ib.flows.run_step, [("ibflow_path", REQUIRED), ("step_index", REQUIRED)])
    check_signature(
        ib.flows.process_files,
        [],
        {"input_folder": ANY, "output_folder": ANY, "process_type": "auto_to_txt", "settings": ANY},
    )
    check_signature(ib.flows.restart, [("job_id", REQUIRED)])
    check_signature(
        ib.flows.run_metaflow,
        [],
        {
            "input_dir": ANY,
            "flow_root_dir": ANY,
            "classifier_file_path": ANY,
            "delete_out_dir": None,
            "output_has_run_id": None,
        },
    )
    check_signature(
        ib.flows.run_many,
        [("requests", REQUIRED)],
        {
            "max_running": 8,
            "poll": None,
            "timeout": None,
            "on_outcome": None,
            "ledger": None,
            "resubmit_unknown": False,
        },
    )
    for call in (ib.flows.run, ib.flows.run_step, ib.flows.process_files, ib.flows.restart):
        assert inspect.iscoroutinefunction(call), call
    assert inspect.iscoroutinefunction(ib.flows.run_metaflow)
    assert inspect.iscoroutinefunction(ib.flows.run_many)


def test_solutions_signatures(ib: AsyncInstabase) -> None:
    """Deployed solutions: ids positional, filters keyword-only, page sizes as SPEC.md gives them."""
    for name in ("get", "delete"):
        check_signature(getattr(ib.solutions, name), [("solution_id", REQUIRED)])
    check_signature(ib.solutions.deploy, [("solution_path", REQUIRED)])
    check_signature(
        ib.solutions.list,
        [],
        {"state": None, "name": None, "author": None, "owner": None, "visibility": None, "page_size": 20},
    )
    run_options = {"output_dir": None, "job_id": None, "settings": None}
    check_signature(ib.solutions.run, [("solution_id", REQUIRED)], {"input_dir": ANY, **run_options})
    check_signature(
        ib.solutions.run_by_name,
        [("name", REQUIRED)],
        {"input_dir": ANY, "version": None, "owner": None, **run_options},
    )
    check_signature(ib.solutions.update, [("solution_id", REQUIRED)], {"visibility": None, "state": None})
    filters = ["solution_ids", "user", "job_id", "state", "owner", "name", "output_repo", "sort_by", "order"]
    check_signature(ib.solutions.jobs, [("solution_id", None)], {**dict.fromkeys(filters), "page_size": 20})
    check_signature(ib.solutions.run_many, [("requests", REQUIRED)], {"max_running": 8, "ledger": None})
    for name in ("deploy", "get", "delete", "run", "run_by_name", "update", "run_many"):
        assert inspect.iscoroutinefunction(getattr(ib.solutions, name)), name


def test_files_signatures(ib: AsyncInstabase) -> None:
    """Files: paths positional, options keyword-only with SPEC.md's defaults."""
    check_signature(ib.files.write, [("path", REQUIRED), ("data", REQUIRED)], {"overwrite": True})
    check_signature(ib.files.read, [("path", REQUIRED)], {"range": None, "server_retry": None})
    check_signature(ib.files.stream, [("path", REQUIRED)])
    check_signature(ib.files.download, [("path", REQUIRED), ("local_path", REQUIRED)])
    check_signature(ib.files.stat, [("path", REQUIRED)], {"server_retry": None})
    for name in ("exists", "delete", "mkdir"):
        check_signature(getattr(ib.files, name), [("path", REQUIRED)])
    check_signature(ib.files.copy, [("src", REQUIRED), ("dst", REQUIRED)])
    check_signature(ib.files.extract, [("zip_path", REQUIRED), ("dst_folder", REQUIRED)])
    check_signature(ib.files.list, [("folder", REQUIRED)])
    bulk = {"concurrency": 8, "progress": None}
    check_signature(ib.files.upload_many, [("items", REQUIRED)], {**bulk, "overwrite": True, "ledger": None})
    check_signature(
        ib.files.upload_dir, [("local_dir", REQUIRED), ("remote_dir", REQUIRED)], {**bulk, "overwrite": True}
    )
    check_signature(ib.files.download_many, [("items", REQUIRED)], bulk)
    awaited = ["write", "read", "download", "stat", "exists", "delete", "copy", "extract", "mkdir"]
    for name in [*awaited, "upload_many", "upload_dir", "download_many"]:
        assert inspect.iscoroutinefunction(getattr(ib.files, name)), name


def test_endpoints_signatures(ib: AsyncInstabase) -> None:
    """HTTP endpoints: the id positional; `update` and `list` options default to `None` (not sent)."""
    check_signature(
        ib.endpoints.create, [("endpoint_id", REQUIRED)], {"path": ANY, "handler_script_path": ANY}
    )
    for name in ("get", "delete"):
        check_signature(getattr(ib.endpoints, name), [("endpoint_id", REQUIRED)])
    check_signature(
        ib.endpoints.update,
        [("endpoint_id", REQUIRED)],
        {"path": None, "handler_script_path": None, "enabled": None},
    )
    check_signature(
        ib.endpoints.list,
        [],
        {"endpoint_id": None, "path": None, "handler_script_path": None, "enabled": None, "page_size": 100},
    )
    check_signature(
        ib.endpoints.call,
        [("path", REQUIRED), ("method", "GET")],
        {"params": None, "json": None, "content": None, "headers": None},
    )
    for name in ("create", "get", "update", "delete", "call"):
        assert inspect.iscoroutinefunction(getattr(ib.endpoints, name)), name


def test_jobs_signatures(ib: AsyncInstabase) -> None:
    """Jobs: `status`, `from_id`, `from_token`, `wait`, `waiter` and `wait_all` (which takes the
    same keyword arguments as `waiter`)."""
    check_signature(ib.jobs.status, [("job_id", REQUIRED)], {"type": "flow"})
    check_signature(ib.jobs.from_id, [("job_id", REQUIRED)], {"type": "flow"})
    check_signature(ib.jobs.from_token, [("token", REQUIRED)])
    wait_options = {
        "timeout": None,
        "poll": None,
        "raise_on_failure": True,
        "stop_when_halted": True,
        "on_status": None,
    }
    check_signature(ib.jobs.wait, [("job", REQUIRED)], wait_options)
    waiter_options = {"max_in_flight": 32, "poll": ANY, "timeout": ANY, "max_polls_per_second": None}
    check_signature(ib.jobs.waiter, [], waiter_options)
    check_signature(ib.jobs.wait_all, [("jobs", REQUIRED)], waiter_options)
    waiter = inspect.signature(ib.jobs.waiter).parameters
    wait_all = inspect.signature(ib.jobs.wait_all).parameters
    for name, param in waiter.items():
        assert wait_all[name].kind is KEYWORD and wait_all[name].default == param.default, name
    assert inspect.iscoroutinefunction(ib.jobs.status)
    assert inspect.iscoroutinefunction(ib.jobs.wait)
    assert inspect.iscoroutinefunction(ib.jobs.wait_all)
    assert not inspect.iscoroutinefunction(ib.jobs.from_id)
    assert not inspect.iscoroutinefunction(ib.jobs.from_token)


def test_job_handle(ib: AsyncInstabase) -> None:
    """`Job`: its attributes (`solution_id` included), `status()`, `wait(*, ...)`, `watch(poll=None)`,
    `to_token()`, and a handle from `jobs.from_id` of the given type, with no status URL (a v1 job)."""
    job = ib.jobs.from_id("job-1", type="async")
    assert isinstance(job, Job)
    assert (job.job_id, job.type, job.status_url, job.output_folder) == ("job-1", "async", None, None)
    assert job.solution_id is None  # set only on the runs of a deployed solution
    assert ib.jobs.from_id("job-2").type == "flow"
    check_signature(job.status, [])
    check_signature(
        job.wait,
        [],
        {
            "timeout": None,
            "poll": None,
            "raise_on_failure": True,
            "stop_when_halted": True,
            "on_status": None,
        },
    )
    check_signature(job.watch, [("poll", None)])
    check_signature(job.to_token, [])
    assert inspect.iscoroutinefunction(job.status) and inspect.iscoroutinefunction(job.wait)
    assert isinstance(job.to_token(), str)


def test_iterators_and_context_managers(ib: AsyncInstabase) -> None:
    """Listings are async iterators (`async for`), `files.stream` and `jobs.waiter` are async
    context managers, `waiter.add` returns at once and the waiter is iterated with `async for`;
    none of them sends anything until used."""
    for listing in (
        ib.solutions.list(),
        ib.solutions.jobs("sol-1"),
        ib.files.list("me/repo/fs/Instabase Drive"),
        ib.endpoints.list(),
        ib.jobs.from_id("j").watch(),
    ):
        assert hasattr(listing, "__anext__"), listing
    stream = ib.files.stream("me/repo/fs/Instabase Drive/a.pdf")
    assert hasattr(stream, "__aenter__") and hasattr(stream, "__aexit__")
    waiter = ib.jobs.waiter(max_in_flight=2)
    assert hasattr(waiter, "__aenter__") and hasattr(waiter, "__aiter__")
    check_signature(waiter.add, [("job", REQUIRED)])
    assert not inspect.iscoroutinefunction(waiter.add)


# --------------------------------------------------------------------------- models


def test_job_status_attributes_and_states() -> None:
    """`JobStatus` is frozen with SPEC.md's attributes; final is COMPLETE, FAILED, CANCELLED;
    halted is PAUSED, STOPPED_AT_CHECKPOINT; only COMPLETE succeeded."""
    assert [state.name for state in JobState] == [
        "PENDING",
        "RUNNING",
        "PAUSED",
        "STOPPED_AT_CHECKPOINT",
        "COMPLETE",
        "FAILED",
        "CANCELLED",
        "UNKNOWN",
    ]
    statuses = {state: JobStatus(job_id="j", state=state) for state in JobState}
    final = {s for s, status in statuses.items() if status.is_final}
    halted = {s for s, status in statuses.items() if status.is_halted}
    assert final == {JobState.COMPLETE, JobState.FAILED, JobState.CANCELLED}
    assert halted == {JobState.PAUSED, JobState.STOPPED_AT_CHECKPOINT}
    assert {s for s, status in statuses.items() if status.succeeded} == {JobState.COMPLETE}
    status = statuses[JobState.RUNNING]
    attributes = ["job_id", "state", "raw_state", "progress", "message", "output_folder", "results", "raw"]
    for name in attributes:
        assert hasattr(status, name), name
    assert isinstance(status.results, tuple)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        status.state = JobState.COMPLETE  # type: ignore[misc]


def test_policies_defaults() -> None:
    """`RetryPolicy` and `PollPolicy` take SPEC.md's parameters with its defaults; `fixed` and
    `disabled` exist."""
    check_signature(
        RetryPolicy,
        [("max_attempts", 4), ("initial_backoff", 0.5), ("max_backoff", 20), ("max_retry_after", 60)],
    )
    check_signature(
        PollPolicy,
        [("initial", 1.0), ("maximum", 10.0), ("multiplier", 1.5), ("jitter", 0.2), ("adaptive", True)],
    )
    assert PollPolicy() == PollPolicy(1.0, 10.0, 1.5, 0.2, True)
    assert RetryPolicy() == RetryPolicy(4, 0.5, 20, 60)
    fixed = PollPolicy.fixed(2.0)
    assert (fixed.initial, fixed.maximum) == (2.0, 2.0)
    assert RetryPolicy.disabled().max_attempts == 1


def test_request_models() -> None:
    """`FlowRunRequest` takes `flows.run`'s options plus `key`; `SolutionRunRequest(solution_id,
    input_dir, *, output_dir, settings, job_id, key)`; settings and webhook classes."""
    ib = AsyncInstabase(base_url="https://ib.test", token="t")
    run_options = {
        p.name: p.default
        for p in inspect.signature(ib.flows.run).parameters.values()
        if p.kind is KEYWORD and p.name != "input_dir"
    }
    check_signature(
        FlowRunRequest, [("ibflow_path", REQUIRED), ("input_dir", REQUIRED)], {**run_options, "key": None}
    )
    check_signature(
        SolutionRunRequest,
        [("solution_id", REQUIRED), ("input_dir", REQUIRED)],
        {"output_dir": None, "settings": None, "job_id": None, "key": None},
    )
    settings = inspect.signature(RunSettings).parameters
    assert list(settings)[:4] == ["delete_out_dir", "output_has_run_id", "notification_emails", "webhook"]
    assert list(settings)[-1] == "extra"
    assert RunSettings().extra == {}
    assert RunSettings(True, False).output_has_run_id is False
    check_signature(WebhookConfig, [("url", REQUIRED), ("headers", ANY)])
    check_signature(ServerRetry, [("retries", 2), ("backoff_seconds", 1)])
    assert all(p.default is not REQUIRED for p in inspect.signature(ProcessFilesSettings).parameters.values())


def test_outcome_and_progress_models() -> None:
    """Outcomes carry SPEC.md's attributes and `.ok`; `Progress(done, total, failed, bytes_done,
    bytes_total)`."""
    job = AsyncInstabase(base_url="https://ib.test", token="t").jobs.from_id("j")
    done = JobStatus(job_id="j", state=JobState.COMPLETE)
    failed = JobFailedError("failed", done)
    request = FlowRunRequest("f.ibflow", "in")
    assert RunOutcome(request=request, job=job, status=done).ok
    assert not RunOutcome(request=request, job=job, status=done, error=failed).ok
    for name in ("request", "job", "status", "error", "ok"):
        assert hasattr(RunOutcome(request=request, job=job, status=done), name), name
    assert JobOutcome(job=job, status=done).ok and not JobOutcome(job=job, status=None, error=failed).ok
    transfer = TransferOutcome(source="a", target="b", bytes=3)
    assert (transfer.source, transfer.target, transfer.bytes, transfer.error, transfer.ok) == (
        "a",
        "b",
        3,
        None,
        True,
    )
    assert not TransferOutcome(source="a", target="b", error=OSError("x")).ok
    check_signature(
        Progress,
        [("done", REQUIRED), ("total", REQUIRED), ("failed", ANY), ("bytes_done", ANY), ("bytes_total", ANY)],
    )
    progress = Progress(3, 10, 1, 2048, 4096)
    assert (progress.done, progress.total, progress.failed, progress.bytes_done, progress.bytes_total) == (
        3,
        10,
        1,
        2048,
        4096,
    )


def test_resource_models() -> None:
    """`Solution` needs only `.id`; `SolutionJob`, `FileInfo` and `HttpEndpoint` carry SPEC.md's
    attributes."""
    solution = Solution(id="s")
    for name in (
        "name",
        "version",
        "owner",
        "created_at",
        "updated_at",
        "summary",
        "description",
        "state",
        "author",
        "metadata",
        "solution_path",
        "visibility",
    ):
        assert getattr(solution, name) is None, name
    solution_job = SolutionJob(id="j")
    for name in (
        "account_id",
        "job_type",
        "start_time",
        "modified_time",
        "completion_time",
        "last_start_time",
        "time_taken",
        "state",
        "message",
        "metadata",
        "deployed_solution_id",
        "output_folder",
        "job",
    ):
        assert hasattr(solution_job, name), name
    when = datetime(2026, 11, 29, tzinfo=UTC)
    info = FileInfo("me/a.pdf", False, 3, when)
    assert (info.path, info.is_dir, info.size, info.modified) == ("me/a.pdf", False, 3, when)
    endpoint = HttpEndpoint(id="e")
    assert (endpoint.id, endpoint.path, endpoint.handler_script_path, endpoint.state) == (
        "e",
        None,
        None,
        None,
    )


def test_ledger_signature() -> None:
    """`Ledger(url, *, run="default", lease_seconds=60)`, `summary()`, `outcomes()` and the class's
    `runs(url)`, all awaited."""
    check_signature(Ledger, [("url", REQUIRED)], {"run": "default", "lease_seconds": 60})
    check_signature(Ledger.runs, [("url", REQUIRED)])
    assert inspect.iscoroutinefunction(Ledger.runs)
    assert inspect.iscoroutinefunction(Ledger.summary)
    assert inspect.iscoroutinefunction(Ledger.outcomes)


# --------------------------------------------------------------------------- errors


def test_error_tree() -> None:
    """Each error class sits under the parent SPEC.md draws; `WaitTimeoutError` is also a
    `TimeoutError`; `SubmissionUnknownError` is an `InstabaseError`."""
    for cls, parent in ERROR_TREE.items():
        assert parent in cls.__bases__, (cls, cls.__bases__)
    assert issubclass(WaitTimeoutError, TimeoutError)
    assert issubclass(SubmissionUnknownError, InstabaseError)
    assert not issubclass(SubmissionUnknownError, (APIError, JobError))


def test_error_attributes() -> None:
    """`APIError` has `.status_code .message .body .method .url`, `RateLimitError` `.retry_after`,
    `JobError` `.status` (the last status seen)."""
    error = NotFoundError(
        "no such file", status_code=404, body={"m": 1}, method="GET", url="https://ib.test/x"
    )
    assert (error.status_code, error.message, error.body, error.method, error.url) == (
        404,
        "no such file",
        {"m": 1},
        "GET",
        "https://ib.test/x",
    )
    assert RateLimitError("slow down", status_code=429, retry_after=3.0).retry_after == 3.0
    status = JobStatus(job_id="j", state=JobState.FAILED)
    for cls in (JobError, JobFailedError, JobCancelledError, WaitTimeoutError):
        assert cls("m", status).status is status


# --------------------------------------------------------------------------- the fake


def test_fake_surface() -> None:
    """`instabase_async.testing.FakeInstabase`: one ASGI app (`.app`), `fake.client()` (an
    `AsyncInstabase` in process) and `async with fake.serve() as url`, on 127.0.0.1 by default."""
    fake = FakeInstabase()
    assert callable(fake.app)
    assert isinstance(fake.client(), AsyncInstabase)
    serve = fake.serve()
    assert hasattr(serve, "__aenter__") and hasattr(serve, "__aexit__")
    assert inspect.signature(fake.serve).parameters["host"].default == "127.0.0.1"


# --------------------------------------------------------------------------- command line

CLI_MAIN = next(iter(entry_points(group="console_scripts", name="instabase-async"))).load()

# Each command of SPEC.md with the options and arguments its usage line shows.
CLI_COMMANDS = {
    "upload": ["LOCAL_DIR", "REMOTE_DIR", "--concurrency", "--ledger"],
    "download": ["REMOTE_PATH", "LOCAL_PATH"],
    "run": ["FLOW_PATH", "INPUT_DIR", "--max-running", "--timeout", "--ledger", "--run"],
    "solutions run": ["SOLUTION_ID", "INPUT_DIR", "--max-running", "--ledger", "--run"],
    "wait": ["JOB_ID_OR_TOKEN", "--type", "--timeout"],
    "status": ["--ledger", "--run"],
    "ls": ["REMOTE_DIR"],
    "rm": ["REMOTE_PATH"],
    "deploy": ["SOLUTION_PATH"],
    "fake": ["--port"],
}


def cli_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The help the console script's entry point prints for `args` (on one line); it must exit 0."""
    with pytest.raises(SystemExit) as exit_info:
        CLI_MAIN([*args, "--help"])
    assert exit_info.value.code in (0, None), args
    return " ".join(capsys.readouterr().out.split())


def test_cli_commands_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    """Every command of SPEC.md's usage block exists, `--help` exits 0, and it takes the options
    and arguments shown, with the documented defaults (8 at once) and the common options."""
    top = cli_help([], capsys)
    for command, words in CLI_COMMANDS.items():
        assert command.split()[0] in top, command
        text = cli_help(command.split(), capsys)
        for word in [*words, "--url", "--token-file", "--json"]:
            assert word in text, (command, word)
    assert "default 8" in cli_help(["upload"], capsys)
    assert "default 8" in cli_help(["run"], capsys)
    assert "default flow" in cli_help(["wait"], capsys)


def test_python_m_instabase_async_is_the_command_line() -> None:
    """`python -m instabase_async --help` is the same command line, exit 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "instabase_async", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for command in CLI_COMMANDS:
        assert command.split()[0] in proc.stdout
