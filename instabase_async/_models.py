"""The public value types: plain attrs classes that know nothing about JSON.

Turning wire dicts into these (and options back into wire dicts) is `_convert.py`'s job.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from ._validate import positive_int

if TYPE_CHECKING:
    from ._jobs import Job

__all__ = [
    "FileInfo",
    "FlowRunRequest",
    "HttpEndpoint",
    "JobOutcome",
    "JobState",
    "JobStatus",
    "PollPolicy",
    "ProcessFilesSettings",
    "Progress",
    "RetryPolicy",
    "RunOutcome",
    "RunSettings",
    "ServerRetry",
    "Solution",
    "SolutionJob",
    "SolutionRunRequest",
    "TransferOutcome",
    "WebhookConfig",
]


def _non_negative(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:  # NaN too
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


# --------------------------------------------------------------------------- policies


def _grown(start: float, factor: float, steps: int, cap: float) -> float:
    """`start * factor**steps`, capped: a long run of retries or polls (or a steep factor)
    reaches the cap instead of a number too large for a float."""
    try:
        return min(cap, start * factor ** min(steps, 64))
    except OverflowError:
        return cap if start > 0 else 0.0


@attrs.frozen
class RetryPolicy:
    """How failed requests are retried: capped exponential backoff with full jitter.

    Any method is retried when the request never left (connect error, pool timeout) and on 429.
    GET, HEAD, PUT and DELETE are also retried on 500/502/503/504 and read errors; POST and PATCH
    are not, once they may have reached the server. `Retry-After` is honoured up to
    `max_retry_after`; a longer one is not waited out, the call raises `RateLimitError`.
    """

    max_attempts: int = attrs.field(default=4)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=20.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)

    @max_attempts.validator
    def _check_attempts(self, _attribute: attrs.Attribute[int], value: int) -> None:
        positive_int("max_attempts", value, wrong_type=ValueError)

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that sends every request once."""
        return cls(max_attempts=1)

    def backoff(self, attempt: int) -> float:
        """The full-jitter delay before retry number `attempt` (1 for the first retry)."""
        return random.uniform(0, _grown(self.initial_backoff, 2.0, attempt - 1, self.max_backoff))


@attrs.frozen
class PollPolicy:
    """How often a job is polled: `initial * multiplier**n`, +/- `jitter`, capped at `maximum`.

    Delays are clamped to what is left of a wait's timeout; a `Retry-After` from the server
    stretches the next one. `initial=0` makes tests instant. With `adaptive=True` (the default),
    a job whose progress gives an estimate of its end is polled just after that estimate instead,
    never more than `maximum` after the previous poll; without a usable estimate the plain
    schedule applies.
    """

    initial: float = attrs.field(default=1.0, validator=_non_negative)
    maximum: float = attrs.field(default=10.0, validator=_non_negative)
    multiplier: float = attrs.field(default=1.5)
    jitter: float = attrs.field(default=0.2)
    adaptive: bool = attrs.field(default=True)

    @multiplier.validator
    def _check_multiplier(self, _attribute: attrs.Attribute[float], value: float) -> None:
        if not value >= 1:  # NaN too
            raise ValueError(f"multiplier must be >= 1, got {value!r}")

    @jitter.validator
    def _check_jitter(self, _attribute: attrs.Attribute[float], value: float) -> None:
        if not 0 <= value < 1:
            raise ValueError(f"jitter must be in [0, 1), got {value!r}")

    @adaptive.validator
    def _check_adaptive(self, _attribute: attrs.Attribute[bool], value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"adaptive must be a bool, not {type(value).__name__}")

    @classmethod
    def fixed(cls, seconds: float, *, jitter: float = 0.0, adaptive: bool = True) -> PollPolicy:
        """Poll every `seconds`, optionally jittered; adaptive polls only come earlier than that."""
        return cls(initial=seconds, maximum=seconds, multiplier=1.0, jitter=jitter, adaptive=adaptive)

    def delay(self, polls_done: int) -> float:
        """The plain delay after the `polls_done`-th poll (1 for the first), never above `maximum`."""
        base = _grown(self.initial, self.multiplier, polls_done - 1, self.maximum)
        if self.jitter:
            base = min(self.maximum, base * (1 + random.uniform(-self.jitter, self.jitter)))
        return base


# --------------------------------------------------------------------------- jobs


class JobState(enum.StrEnum):
    """Where a job is. Final: COMPLETE, FAILED, CANCELLED. Halted: PAUSED, STOPPED_AT_CHECKPOINT."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED_AT_CHECKPOINT = "STOPPED_AT_CHECKPOINT"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """The job will not change any more."""
        return self in _FINAL

    @property
    def is_halted(self) -> bool:
        """The job will not move by itself (it waits for a person), but it may go on."""
        return self in _HALTED


_FINAL = frozenset({JobState.COMPLETE, JobState.FAILED, JobState.CANCELLED})
_HALTED = frozenset({JobState.PAUSED, JobState.STOPPED_AT_CHECKPOINT})


@attrs.frozen
class JobStatus:
    """One observation of a job, normalised from whatever the status endpoint answered."""

    job_id: str
    state: JobState
    raw_state: str | None = None
    progress: float | None = None
    message: str | None = None
    output_folder: str | None = None
    results: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def is_final(self) -> bool:
        """COMPLETE, FAILED or CANCELLED."""
        return self.state in _FINAL

    @property
    def is_halted(self) -> bool:
        """PAUSED or STOPPED_AT_CHECKPOINT: waiting on a person."""
        return self.state in _HALTED

    @property
    def succeeded(self) -> bool:
        """The job ended and every result is OK."""
        return self.state is JobState.COMPLETE


class _Waited:
    """What JobOutcome and RunOutcome share: a last status, or the error that ended the wait."""

    __slots__ = ()
    status: JobStatus | None
    error: BaseException | None

    @property
    def ok(self) -> bool:
        """The job was started and completed successfully."""
        return self.error is None and self.status is not None and self.status.succeeded


@attrs.frozen
class JobOutcome(_Waited):
    """What one waited job came to: its last status, or the error that ended the wait on it."""

    job: Job
    status: JobStatus | None
    error: BaseException | None = None


# --------------------------------------------------------------------------- requests


@attrs.frozen
class WebhookConfig:
    """A URL notified when a run completes, with optional headers (sent as `webhook_config`)."""

    url: str
    headers: Mapping[str, str] | None = None


def _read_once(value: Iterable[str] | None) -> Sequence[str] | None:
    """A list option of a request kept as a tuple, so that a generator is sent, and keyed in a
    ledger, in full. A set has no order (and its order changes between processes, which would
    change a ledger's key), so it is sorted. A str or a wrong type is left for the checks at
    submission to refuse."""
    if value is None or isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        return value  # type: ignore[return-value]  # refused when the request is submitted
    if isinstance(value, set | frozenset):
        try:
            return tuple(sorted(value))
        except TypeError:  # unorderable items: refused when the request is submitted
            return tuple(value)
    return tuple(value)


@attrs.frozen
class RunSettings:
    """Settings of a deployed-solution run (the same keys as a flow run). `None` is not sent."""

    delete_out_dir: bool | None = None
    output_has_run_id: bool | None = None
    notification_emails: Sequence[str] | None = attrs.field(default=None, converter=_read_once)
    webhook: WebhookConfig | None = None
    log_to_timeline: bool | None = None
    tags: Sequence[str] | None = attrs.field(default=None, converter=_read_once)
    step_timeout: int | None = None
    pipeline_ids: Sequence[str] | None = attrs.field(default=None, converter=_read_once)
    save_binary_to_output: bool | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class ProcessFilesSettings:
    """Extra settings of a `process_files` step. `None` is not sent."""

    ocr_page_type: str | None = None
    output_format_layout: str | None = None
    page_range_str: str | None = None
    encryption_config: str | None = None
    ocr_config: str | None = None


@attrs.frozen
class ServerRetry:
    """Ask the file server to retry a missing path itself (the `IB-Retry-Config` header)."""

    retries: int = 2
    backoff_seconds: int = 1

    def __attrs_post_init__(self) -> None:
        for name in ("retries", "backoff_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"ServerRetry.{name} must be an integer > 0, got {value!r}")


@attrs.frozen
class FlowRunRequest:
    """One flow run for `flows.run_many`: the same options as `flows.run`.

    `key` names the request in a ledger (see `Ledger`); left `None`, a digest of the request's
    body names it. It is never sent.
    """

    ibflow_path: str
    input_dir: str
    output_dir: str | None = attrs.field(default=None, kw_only=True)
    output_has_run_id: bool | None = attrs.field(default=None, kw_only=True)
    delete_out_dir: bool | None = attrs.field(default=None, kw_only=True)
    log_to_timeline: bool | None = attrs.field(default=None, kw_only=True)
    notification_emails: Sequence[str] | None = attrs.field(default=None, kw_only=True, converter=_read_once)
    tags: Sequence[str] | None = attrs.field(default=None, kw_only=True, converter=_read_once)
    step_timeout: int | None = attrs.field(default=None, kw_only=True)
    pipeline_ids: Sequence[str] | None = attrs.field(default=None, kw_only=True, converter=_read_once)
    save_binary_to_output: bool | None = attrs.field(default=None, kw_only=True)
    webhook: WebhookConfig | None = attrs.field(default=None, kw_only=True)
    key: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class SolutionRunRequest:
    """One deployed-solution run for `solutions.run_many`: the options of `solutions.run`.

    `key` names the request in a ledger, as for `FlowRunRequest`. With a ledger, a request without
    `job_id` gets one derived from the run name and the key, so a crash mid-submit is resolved by
    asking the server about that id.
    """

    solution_id: str
    input_dir: str
    output_dir: str | None = attrs.field(default=None, kw_only=True)
    settings: RunSettings | Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
    job_id: str | None = attrs.field(default=None, kw_only=True)
    key: str | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class RunOutcome(_Waited):
    """What one `FlowRunRequest` or `SolutionRunRequest` came to. `job` is None when the
    submission itself failed (or was never known to succeed)."""

    request: FlowRunRequest | SolutionRunRequest
    job: Job | None
    status: JobStatus | None
    error: BaseException | None = None


# --------------------------------------------------------------------------- resources


@attrs.frozen
class Solution:
    """A deployed solution. Only `id` is guaranteed; the rest may be None."""

    id: str
    name: str | None = None
    version: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    summary: str | None = None
    description: str | None = None
    state: str | None = None
    author: str | None = None
    metadata: Any = None
    solution_path: str | None = None
    visibility: str | None = None


@attrs.frozen
class SolutionJob:
    """One run of a deployed solution, as the jobs listing reports it. `.job` waits on it."""

    id: str
    account_id: str | None = None
    job_type: str | None = None
    start_time: datetime | None = None
    modified_time: datetime | None = None
    completion_time: datetime | None = None
    last_start_time: datetime | None = None
    time_taken: timedelta | None = None
    state: str | None = None
    message: str | None = None
    metadata: Any = None
    deployed_solution_id: str | None = None
    output_folder: str | None = None
    job: Job | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class FileInfo:
    """A file or folder: from `files.stat` (HEAD) or one entry of `files.list`."""

    path: str
    is_dir: bool
    size: int | None = None
    modified: datetime | None = None


@attrs.frozen
class HttpEndpoint:
    """A custom HTTP endpoint: requests to `/u/<path>` run the handler script."""

    id: str
    path: str | None = None
    handler_script_path: str | None = None
    state: str | None = None


@attrs.frozen
class TransferOutcome:
    """What one file of a bulk upload or download came to."""

    source: str
    target: str
    bytes: int = 0
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """The file was transferred whole."""
        return self.error is None


@attrs.frozen
class Progress:
    """A bulk call's progress: items done (and failed) of total, and bytes for transfers."""

    done: int
    total: int
    failed: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
