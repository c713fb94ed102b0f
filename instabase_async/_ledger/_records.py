"""What a ledger stores, as text: requests' canonical bodies and keys, derived job ids, outcomes.

Bodies are canonical JSON (sorted keys, no spaces, `None` left out), so the same request gives the
same text, and so the same key, in every process and version. An outcome keeps what rebuilds a
`RunOutcome` without a request to the server: the job's token, the last status, and the error's
class, message and fields; an upload's record keeps the local file's size and modification time.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

import attrs

from .. import _errors
from .._jobs import Job
from .._models import (
    FlowRunRequest,
    JobState,
    JobStatus,
    RunOutcome,
    RunSettings,
    SolutionRunRequest,
    TransferOutcome,
    WebhookConfig,
)

if TYPE_CHECKING:
    from .._client import AsyncInstabase

__all__ = [
    "FLOW",
    "SOLUTION",
    "UPLOAD",
    "decode_outcome",
    "decode_request",
    "decode_upload",
    "derived_job_id",
    "encode_error",
    "encode_outcome",
    "encode_request",
    "encode_upload",
    "request_key",
]

FLOW: Final = "flow"
SOLUTION: Final = "solution"
UPLOAD: Final = "upload"

_JOB_ID_PREFIX: Final = "ib-"
_MAX_KEY: Final = 1000


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _plain(value: Any) -> Any:
    """A JSON-able copy: attrs models as dicts, sequences as lists, `None` fields left out."""
    if attrs.has(type(value)):
        return {
            field.name: _plain(item)
            for field in attrs.fields(type(value))
            if (item := getattr(value, field.name)) is not None and item != {}
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, str | bytes):
        return [_plain(item) for item in value]
    return value


# --------------------------------------------------------------------------- requests


def encode_request(request: FlowRunRequest | SolutionRunRequest) -> tuple[str, str]:
    """The request's kind and canonical body (its `key` included when the caller set one)."""
    if isinstance(request, FlowRunRequest):
        kind = FLOW
    elif isinstance(request, SolutionRunRequest):
        kind = SOLUTION
    else:
        raise TypeError(
            f"a ledger records FlowRunRequest or SolutionRunRequest, not {type(request).__name__}"
        )
    body = _plain(request)
    if isinstance(request, SolutionRunRequest) and isinstance(request.settings, RunSettings):
        body["settings"] = {"run_settings": body["settings"]}
    return kind, _dumps(body)


def request_key(request: FlowRunRequest | SolutionRunRequest, kind: str, body: str) -> str:
    """The caller's key, or a digest of the canonical body."""
    key = request.key
    if key is None:
        return hashlib.sha256(f"{kind}\n{body}".encode()).hexdigest()[:40]
    if not isinstance(key, str):
        raise TypeError(f"a request's key must be a string, not {type(key).__name__}")
    if not key or len(key) > _MAX_KEY or "\x00" in key:
        raise ValueError(f"a request's key must be 1 to {_MAX_KEY} characters without NUL, got {key!r}")
    return key


def derived_job_id(run: str, key: str) -> str:
    """The job id of a solution run in a ledger: from the run name and key alone, 43 characters,
    letters, digits and dashes (the API allows at most 50)."""
    return _JOB_ID_PREFIX + hashlib.sha256(f"{run}\x00{key}".encode()).hexdigest()[:40]


def decode_request(kind: str, body: str) -> FlowRunRequest | SolutionRunRequest:
    data = json.loads(body)
    if kind == FLOW:
        webhook = data.pop("webhook", None)
        if webhook is not None:
            data["webhook"] = WebhookConfig(**webhook)
        return FlowRunRequest(**data)
    settings = data.pop("settings", None)
    if isinstance(settings, dict) and set(settings) == {"run_settings"}:
        fields = dict(settings["run_settings"])
        if "webhook" in fields:
            fields["webhook"] = WebhookConfig(**fields["webhook"])
        settings = RunSettings(**fields)
    return SolutionRunRequest(**data, settings=settings)


# --------------------------------------------------------------------------- outcomes


def _encode_status(status: JobStatus | None) -> Any:
    if status is None:
        return None
    return {
        "job_id": status.job_id,
        "state": status.state.value,
        "raw_state": status.raw_state,
        "progress": status.progress,
        "message": status.message,
        "output_folder": status.output_folder,
        "results": [dict(result) for result in status.results],
        "raw": dict(status.raw),
    }


def _decode_status(data: Any) -> JobStatus | None:
    if data is None:
        return None
    return JobStatus(
        job_id=data["job_id"],
        state=JobState(data["state"]),
        raw_state=data.get("raw_state"),
        progress=data.get("progress"),
        message=data.get("message"),
        output_folder=data.get("output_folder"),
        results=tuple(data.get("results") or ()),
        raw=data.get("raw") or {},
    )


# Attributes of the library's errors that an outcome keeps (besides the message).
_ERROR_FIELDS: Final = ("status_code", "message", "method", "url", "retry_after")


def encode_error(error: BaseException | None) -> Any:
    if error is None:
        return None
    cls = type(error)
    data: dict[str, Any] = {"module": cls.__module__, "class": cls.__qualname__, "text": str(error)}
    fields = {name: getattr(error, name) for name in _ERROR_FIELDS if hasattr(error, name)}
    if fields:
        data["fields"] = fields
    if isinstance(error, _errors.JobError):
        data["status"] = _encode_status(error.status)
    return data


def _decode_error(data: Any) -> BaseException | None:
    if data is None:
        return None
    module, name, text = data["module"], data["class"], data["text"]
    cls: Any = None
    if module == "builtins":
        cls = getattr(builtins, name, None)
    elif module == _errors.__name__:
        cls = getattr(_errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        # A class this process cannot name: the message keeps what it was.
        return RuntimeError(f"{module}.{name}: {text}")
    if module == "builtins":
        try:
            return cast(BaseException, cls(text))
        except Exception:  # pragma: no cover - a builtin with an unusual constructor
            return RuntimeError(f"{name}: {text}")
    # The library's own errors: rebuilt field by field, so str() and attributes are as they were.
    error = cls.__new__(cls)
    Exception.__init__(error, text)
    for field, value in (data.get("fields") or {}).items():
        setattr(error, field, value)
    if isinstance(error, _errors.APIError):
        error.body = None  # a body is not kept: it may be large, and is the server's
    if isinstance(error, _errors.JobError):
        error.status = _decode_status(data.get("status"))
    return cast(BaseException, error)


def encode_outcome(job: Job | None, status: JobStatus | None, error: BaseException | None) -> str:
    # Not canonical (no sorted keys): an outcome is only read back, never compared.
    return json.dumps(
        {
            "job": None if job is None else job.to_token(),
            "status": _encode_status(status),
            "error": encode_error(error),
        },
        separators=(",", ":"),
    )


class _Detached:
    """The client of a job read back from a ledger without one: polling it says what to do."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "this job was read from a ledger without a client: pass one, `ledger.outcomes(ib)`, "
            "or use `ib.jobs.from_token(job.to_token())`"
        )


def decode_outcome(kind: str, body: str, outcome: str, client: AsyncInstabase | None) -> RunOutcome:
    data = json.loads(outcome)
    token = data.get("job")
    job: Job | None = None
    if token is not None:
        if client is not None:
            job = client.jobs.from_token(token)
        else:
            fields = json.loads(token)
            job = Job(
                cast("AsyncInstabase", _Detached()),
                fields["job_id"],
                type=fields.get("type"),
                status_url=fields.get("status_url"),
                output_folder=fields.get("output_folder"),
            )
    return RunOutcome(
        decode_request(kind, body),
        job,
        _decode_status(data.get("status")),
        _decode_error(data.get("error")),
    )


# --------------------------------------------------------------------------- uploads


def encode_upload(source: str, target: str, sent: int, stat: os.stat_result) -> tuple[str, str]:
    """An uploaded file's body (what was uploaded where) and outcome (its size and mtime then)."""
    return _dumps({"source": source, "target": target}), _dumps(
        {"bytes": sent, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    )


def decode_upload(body: str, outcome: str) -> tuple[TransferOutcome, int, int]:
    """The recorded outcome, and the size and mtime (ns) the file had when it was uploaded."""
    where, what = json.loads(body), json.loads(outcome)
    return (
        TransferOutcome(where["source"], where["target"], int(what["bytes"])),
        int(what["size"]),
        int(what["mtime_ns"]),
    )
