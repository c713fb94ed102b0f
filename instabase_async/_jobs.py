"""Jobs: the handle, the status normalisation, and waiting on one job.

The mapping from the wire follows `reference/05-job-status-facts.md`:
a `cur_status.status` of FAILED, CANCELLED or STOPPED_AT_CHECKPOINT decides the state whatever
`state` and `results` say; otherwise DONE/COMPLETE with every result OK is COMPLETE and a result
with ERROR is FAILED; while PENDING, `cur_status` gives RUNNING/PAUSED and the progress.
Anything unknown is UNKNOWN: waited on (bounded by the deadline), never a crash.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

import anyio
import httpx

from ._errors import (
    JobCancelledError,
    JobError,
    JobFailedError,
    RateLimitError,
    ResponseValidationError,
    WaitTimeoutError,
)
from ._http import call_maybe_async, parse_retry_after
from ._models import JobState, JobStatus, PollPolicy

if TYPE_CHECKING:
    from ._client import AsyncInstabase

__all__ = [
    "Job",
    "Pacer",
    "file_job",
    "estimate_end",
    "failure_of",
    "parse_v1_status",
    "parse_v2_status",
    "raise_for_outcome",
]

_TOKEN_VERSION: Final = 1
_STATUS_PATH: Final = "/api/v1/jobs/status"
_FILE_JOBS_PATH: Final = "/api/v2/jobs/"
_RUNS_PATH: Final = "/api/v2/solutions/deployed/jobs"
_COMMON_VALUES: Final = {s: s for s in ("OK", "ERROR", "PENDING", "DONE", "COMPLETE", "RUNNING", "PAUSED")}
# The states the multi-job listing of solution runs reports (and a few it might).
_LISTED_STATES: Final = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "PAUSED": JobState.PAUSED,
    "STOPPED_AT_CHECKPOINT": JobState.STOPPED_AT_CHECKPOINT,
    "COMPLETE": JobState.COMPLETE,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
}
_DECIDING: Final = {
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "STOPPED_AT_CHECKPOINT": JobState.STOPPED_AT_CHECKPOINT,
}
_WHILE_PENDING: Final = {"RUNNING": JobState.RUNNING, "PAUSED": JobState.PAUSED}
_V2_STATES: Final = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "COMPLETE": JobState.COMPLETE,
    "FAILED": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
}


def _progress(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    except OverflowError:  # an integer too large for a float
        raise ResponseValidationError(f"curProgress is out of range: {str(value)[:40]}...") from None
    if math.isnan(number):
        return None
    return min(1.0, max(0.0, number))


def _cur_status(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """`cur_status`, a JSON object or a JSON string of one; anything else counts as empty."""
    cur = body.get("cur_status")
    if isinstance(cur, str):
        try:
            cur = json.loads(cur)
        except ValueError:
            cur = None
        except RecursionError:  # nested deeper than any status: not the documented shape
            raise ResponseValidationError("the job's cur_status is nested too deep") from None
    return cur if isinstance(cur, Mapping) else {}


def _failed(result: Mapping[str, Any]) -> bool:
    """A result entry with a status that is not OK (any case); one without a status (a deploy
    job's `{"deployed_solution_id": ...}`) is no failure."""
    status = result.get("status")
    return status is not None and not (isinstance(status, str) and status.upper() == "OK")


def _v1_state(cur_state: str | None, state: str | None, failed: bool) -> JobState:
    """The state per the job-status facts: a deciding `cur_status.status` first, then `state`."""
    if cur_state in _DECIDING:
        return _DECIDING[cur_state]
    if state in ("DONE", "COMPLETE"):
        return JobState.FAILED if failed else JobState.COMPLETE
    if state == "PENDING":
        return _WHILE_PENDING.get(cur_state or "", JobState.PENDING)
    return JobState.UNKNOWN


def _compact(body: Mapping[str, Any], job_id: str) -> Mapping[str, Any]:
    """The same body, its keys and common short values shared between bodies, and its `job_id`
    the caller's own string when equal: a waiter keeps one status per job, 100,000 of them, and a
    decoded body repeats `"status"`, `"state"`, `"OK"`, `"PENDING"` ... in every one of them."""
    if type(body) is not dict:
        return body
    common = _COMMON_VALUES
    out = {}
    for key, value in body.items():
        if type(value) is str:
            value = job_id if value == job_id else common.get(value, value)
        out[sys.intern(key)] = value
    return out


def parse_v1_status(body: Any, job_id: str) -> JobStatus:
    """Normalise a v1 `/api/v1/jobs/status` body (the v1 ERROR convention is checked earlier)."""
    if not isinstance(body, Mapping):
        raise ResponseValidationError(f"job {job_id}: the status body is not a JSON object")
    body = _compact(body, job_id)
    cur = _cur_status(body)
    cur_state = cur.get("status")
    cur_state = cur_state.upper() if isinstance(cur_state, str) else None
    raw_state = body.get("state")
    raw_state = raw_state if isinstance(raw_state, str) else None

    raw_results = body.get("results")
    results: tuple[Mapping[str, Any], ...] = (
        tuple(r for r in raw_results if isinstance(r, Mapping)) if isinstance(raw_results, list) else ()
    )
    failed_result = next((r for r in results if _failed(r)), None)
    state = _v1_state(cur_state, raw_state.upper() if raw_state else None, failed_result is not None)

    message: str | None = None
    if failed_result is not None and isinstance(failed_result.get("msg"), str):
        message = failed_result["msg"]
    elif isinstance(body.get("msg"), str) and body["msg"]:
        message = body["msg"]
    output_folder = next(
        (r["output_folder"] for r in results if isinstance(r.get("output_folder"), str)), None
    )
    progress = _progress(cur.get("curProgress"))
    if progress is None and state is JobState.COMPLETE:
        progress = 1.0
    reported_id = body.get("job_id")
    return JobStatus(
        job_id=reported_id if isinstance(reported_id, str) and reported_id else job_id,
        state=state,
        raw_state=raw_state,
        progress=progress,
        message=message,
        output_folder=output_folder,
        results=results,
        raw=body,
    )


def parse_v2_status(body: Any, job_id: str) -> JobStatus:
    """Normalise a v2 file-operation job body: `{"state": ..., "message": ...}`, both optional."""
    if not isinstance(body, Mapping):
        raise ResponseValidationError(f"job {job_id}: the status body is not a JSON object")
    raw_state = body.get("state")
    raw_state = raw_state if isinstance(raw_state, str) else None
    state = _V2_STATES.get(raw_state.upper(), JobState.UNKNOWN) if raw_state else JobState.UNKNOWN
    message = body.get("message")
    return JobStatus(
        job_id=job_id,
        state=state,
        raw_state=raw_state,
        progress=1.0 if state is JobState.COMPLETE else _progress(body.get("progress")),
        message=message if isinstance(message, str) and message else None,
        raw=body,
    )


# --------------------------------------------------------------------------- adaptive polling

# Thresholds of a usable estimate. Servers round progress (to 0.001 and coarser), so two
# observations must be a little apart in time and in progress before their rate means anything.
_MIN_SPAN: Final = 0.1  # seconds
_MIN_MOVE: Final = 0.005  # progress
# Two estimates of one end (from the anchor, and from the previous observation) agree when they
# are this close: a share of the time left, plus a little for rounding.
_AGREE_SHARE: Final = 0.25
_AGREE_SECONDS: Final = 0.25
# An aimed poll goes this long after the estimated end: a little, plus a share of the time to it,
# so a slightly optimistic estimate still lands after the end.
_AIM_SECONDS: Final = 0.1
_AIM_SHARE: Final = 0.05
# Aimed polls that found the job still running before the pacer gives up on estimates for it.
_MAX_MISSES: Final = 2

_ANCHORED: Final = 0  # (t0, p0) anchors the rate; (t1, p1) is the previous observation
_UNANCHORED: Final = 1  # no progress seen yet (or it vanished)
_OFF: Final = 2  # the estimates kept missing: the plain schedule for the rest of the wait


def estimate_end(t0: float, p0: float, now: float, progress: float) -> float | None:
    """When a job ends if it keeps the pace it had from `p0` at `t0` to `progress` at `now`;
    None when those two observations cannot tell (too close, no move, or progress 0 or 1)."""
    moved = progress - p0
    span = now - t0
    if not 0.0 < progress < 1.0 or moved < _MIN_MOVE or span < _MIN_SPAN:
        return None
    return now + (1.0 - progress) * span / moved


class Pacer:
    """When to poll one job next: the plain `PollPolicy` schedule, or with `adaptive` just
    after the end its progress points to.

    An estimate is usable only when progress is there, strictly between 0 and 1, and has moved
    since the previous poll (not stuck) and since the anchor. When the pace since the anchor and
    the pace since the previous poll disagree (a step, a jump), the later of their two ends is
    aimed at and the anchor moves to the previous poll, so the next estimate measures the new
    pace. An aimed poll that finds the job still running re-anchors too. Without a usable
    estimate, and for good once two aimed polls missed, the plain schedule applies. An aimed
    delay is never above `maximum`, so a wrong estimate costs at most one maximum interval.

    The first observation may be measured from `origin` (when the waiting began, progress 0):
    right for a job started just before it was waited on, and corrected by the next poll for
    one that was already running. Seven slots, no containers: a waiter holds one per job.
    """

    __slots__ = ("_aimed", "_misses", "_mode", "_p0", "_p1", "_t0", "_t1")

    def __init__(self, origin: float) -> None:
        self._t0 = self._t1 = origin
        self._p0 = self._p1 = 0.0
        self._mode = _ANCHORED
        self._misses = 0
        self._aimed = False

    def next_delay(
        self,
        policy: PollPolicy,
        polls_done: int,
        now: float,
        progress: float | None,
        *,
        hint: float | None = None,
        remaining: float = math.inf,
    ) -> float:
        """The delay before the next poll of a job that is not final after `polls_done` polls,
        the last at `now` showing `progress`; stretched to a `Retry-After` `hint`, clamped to
        what is `remaining` of the wait."""
        delay = policy.delay(polls_done)
        if policy.adaptive:
            end = self.observe(now, progress)
            if end is not None:
                aim = (end - now) * (1.0 + _AIM_SHARE) + _AIM_SECONDS
                self._aimed = aim < policy.maximum  # a capped poll is not aimed: it cannot miss
                delay = min(aim, policy.maximum)
        if hint is not None and hint > delay:
            delay = hint
        return max(0.0, min(delay, remaining))

    def observe(self, now: float, progress: float | None) -> float | None:
        """Take one observation of a job that is not final; the estimated end time when usable."""
        if self._aimed:
            # The job outlived the estimate: the pace it rested on was wrong (a job already
            # running when waiting began, a slow end): measure afresh from the previous poll.
            self._aimed = False
            self._misses += 1
            self._t0, self._p0 = self._t1, self._p1
            if self._misses >= _MAX_MISSES:
                self._mode = _OFF
        mode = self._mode
        if mode == _OFF:
            return None
        if progress is None:
            self._mode = _UNANCHORED
            return None
        t1, p1 = self._t1, self._p1
        self._t1, self._p1 = now, progress
        if mode == _UNANCHORED or progress < p1:
            # First progress seen, or it went backwards (a new phase): measure from here.
            self._t0, self._p0, self._mode = now, progress, _ANCHORED
            return None
        end = estimate_end(self._t0, self._p0, now, progress)
        if t1 <= self._t0:
            return end  # the anchor is the previous observation: one estimate, nothing to compare
        if progress == p1:
            return None  # stuck since the previous poll
        recent = estimate_end(t1, p1, now, progress)
        if end is None or recent is None:
            return end  # too close to the previous poll to compare: the long view alone
        if abs(end - recent) <= _AGREE_SECONDS + _AGREE_SHARE * (min(end, recent) - now):
            return end
        # The pace changed (a step, a jump): measure the new one from the previous poll, and aim
        # at the later of the two ends, so a wrong guess costs a little time rather than a poll.
        self._t0, self._p0 = t1, p1
        return max(end, recent)


class Job:
    """A handle on server-side work, bound to the client that started it.

    Leaving a wait never touches the job itself: stopping to wait is not cancelling.
    """

    __slots__ = (
        "_client",
        "_target",
        "job_id",
        "output_folder",
        "solution_id",
        "solution_run",
        "status_url",
        "type",
    )

    _client: AsyncInstabase
    _target: str | None
    job_id: str
    type: str | None
    status_url: str | None
    output_folder: str | None
    solution_id: str | None
    solution_run: bool

    def __init__(
        self,
        client: AsyncInstabase,
        job_id: str,
        *,
        type: str | None = "flow",
        status_url: str | None = None,
        output_folder: str | None = None,
        solution_id: str | None = None,
        solution_run: bool | None = None,
    ) -> None:
        # Immutable, since it is hashable: every field is set here, once.
        init = object.__setattr__
        init(self, "_client", client)
        init(self, "job_id", job_id)
        init(self, "type", type)
        init(self, "status_url", status_url)
        init(self, "output_folder", output_folder)
        init(self, "solution_id", solution_id)
        # A run of a deployed solution (solutions.run, run_by_name): a waiter polls it in batches
        # through the multi-job listing. True whenever the solution's id is known.
        init(self, "solution_run", solution_id is not None if solution_run is None else solution_run)
        init(self, "_target", None)  # the status URL, parsed on first use (see _status_target)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a Job is immutable: cannot set {name!r}")

    def __repr__(self) -> str:
        where = f"status_url={self.status_url!r}" if self.status_url else f"type={self.type!r}"
        return f"Job({self.job_id!r}, {where})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Job):
            return NotImplemented
        return (self.job_id, self.type, self.status_url) == (other.job_id, other.type, other.status_url)

    def __hash__(self) -> int:
        return hash((self.job_id, self.type, self.status_url))

    # ------------------------------------------------------------------ polling

    async def status(self) -> JobStatus:
        """Poll the job once."""
        status, _ = await self.poll_once()
        return status

    async def poll_once(self) -> tuple[JobStatus, float | None]:
        """One status request: the status, and the server's `Retry-After` hint if it gave one
        (what a scheduler of many jobs needs; `status()` is the plain form)."""
        http = self._client._http
        if self.status_url is not None:
            body, hint = await http.get_json(self._status_target())
            status = parse_v2_status(body, self.job_id)
        else:
            body, hint = await http.get_json(self._status_target(), v1=True)
            status = parse_v1_status(body, self.job_id)
        if hint is None:
            return status, None
        delay = parse_retry_after(hint)
        cap = http.retry.max_retry_after
        if delay is not None and delay > cap:
            # Waited out, it would freeze the wait far past the cap the caller set.
            raise RateLimitError(
                f"job {self.job_id}: the server asks to wait {delay:.0f} s, over max_retry_after ({cap} s)",
                retry_after=delay,
                status_code=200,
                method="GET",
                url=self._status_target(),
            )
        return status, delay

    def _status_target(self) -> str:
        """The status URL, made once per Job as a plain string: the fast path sends it as it is,
        and a string is a fraction of an `httpx.URL`'s memory and of its making's CPU (the query
        is encoded as httpx encodes params: `urlencode`, spaces as `+`)."""
        target = self._target
        if target is None:
            if self.status_url is not None:
                target = self.status_url
            else:
                params = (
                    {"job_id": self.job_id}
                    if self.type is None
                    else {"job_id": self.job_id, "type": self.type}
                )
                target = f"{self._client._http.url(_STATUS_PATH)}?{urlencode(params)}"
            object.__setattr__(self, "_target", target)
        return target

    async def wait(
        self,
        *,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        raise_on_failure: bool = True,
        stop_when_halted: bool = True,
        on_status: Callable[[JobStatus], Any] | None = None,
    ) -> JobStatus:
        """Poll until the job is final (or halted) and return its last status.

        Raises `JobFailedError`/`JobCancelledError` (unless `raise_on_failure=False`) and
        `WaitTimeoutError` once `timeout` seconds have passed. Works under the caller's own
        `anyio.fail_after`/`move_on_after`; cancelling it leaves nothing running.
        """
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout!r}")
        last: JobStatus | None = None
        with anyio.move_on_after(math.inf if timeout is None else timeout) as scope:
            async with aclosing(self._statuses(poll, stop_when_halted, scope.deadline)) as statuses:
                async for status in statuses:
                    last = status
                    await call_maybe_async(on_status, status)
        if last is None or not (last.is_final or (stop_when_halted and last.is_halted)):
            raise WaitTimeoutError(
                f"job {self.job_id} did not finish within {timeout} s"
                + (f" (last state {last.state})" if last else ""),
                last,
            )
        if raise_on_failure:
            raise_for_outcome(last)
        return last

    def watch(self, poll: PollPolicy | None = None) -> AsyncIterator[JobStatus]:
        """Each changed status (state or progress) until the job is final."""
        return self._statuses(poll, False, math.inf)

    async def _statuses(
        self, poll: PollPolicy | None, stop_when_halted: bool, deadline: float
    ) -> AsyncGenerator[JobStatus, None]:
        policy = poll or self._client.poll
        pacer = Pacer(anyio.current_time())
        previous: tuple[JobState, float | None] | None = None
        polls = 0
        while True:
            status, hint = await self.poll_once()
            seen = anyio.current_time()
            polls += 1
            key = (status.state, status.progress)
            if key != previous:
                previous = key
                yield status
            if status.is_final or (stop_when_halted and status.is_halted):
                return
            delay = pacer.next_delay(
                policy, polls, seen, status.progress, hint=hint, remaining=deadline - seen
            )
            # Counted from the answer: the time the caller spent on this status is part of the delay.
            await anyio.sleep(max(0.0, seen + delay - anyio.current_time()))

    # ------------------------------------------------------------------ resuming elsewhere

    def to_token(self) -> str:
        """A plain, versioned JSON token (no secrets) that `jobs.from_token` turns back into a Job."""
        return json.dumps(
            {
                "v": _TOKEN_VERSION,
                "job_id": self.job_id,
                "type": self.type,
                "status_url": self.status_url,
                "output_folder": self.output_folder,
                "solution_id": self.solution_id,
                "solution_run": self.solution_run,
            },
            separators=(",", ":"),
        )

    @classmethod
    def _from_token(cls, client: AsyncInstabase, token: str) -> Job:
        try:
            data = json.loads(token)
        except (TypeError, ValueError) as exc:
            raise ValueError("not a job token: it is not JSON") from exc
        if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
            raise ValueError(f"not a job token of version {_TOKEN_VERSION}")
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id:
            raise ValueError("the job token has no job_id")
        status_url = data.get("status_url")
        if status_url is not None:
            if not isinstance(status_url, str):
                raise ValueError("the job token's status_url is not a string")
            status_url = client._http.same_origin(status_url)
        job_type = data.get("type")
        output_folder = data.get("output_folder")
        solution_id = data.get("solution_id")
        return cls(
            client,
            job_id,
            type=job_type if isinstance(job_type, str) else None,
            status_url=status_url,
            output_folder=output_folder if isinstance(output_folder, str) else None,
            solution_id=solution_id if isinstance(solution_id, str) else None,
            solution_run=data.get("solution_run") is True or isinstance(solution_id, str),
        )


async def list_solution_runs(
    client: AsyncInstabase, job_ids: Sequence[str]
) -> dict[str, tuple[JobState, float | None]]:
    """One request to the multi-job listing of deployed-solution runs for these ids (repeated
    `job_id` parameters): each listed run's state, and its progress if the server reports one.
    A run the listing leaves out is not in the answer; that is for the caller to poll on its own."""
    http = client._http
    params = [("job_id", job_id) for job_id in job_ids]
    params += [("limit", str(len(job_ids))), ("offset", "0")]
    body, _ = await http.get_json(httpx.URL(http.url(_RUNS_PATH), params=params))
    items = body.get("jobs") if isinstance(body, Mapping) else None
    if not isinstance(items, list):
        raise ResponseValidationError("the solution runs listing has no `jobs` list")
    listed: dict[str, tuple[JobState, float | None]] = {}
    for item in items:
        if not isinstance(item, Mapping):
            continue
        job_id, state = item.get("id"), item.get("state")
        if isinstance(job_id, str) and isinstance(state, str):
            listed[job_id] = (
                _LISTED_STATES.get(state.upper(), JobState.UNKNOWN),
                _progress(item.get("curProgress")),
            )
    return listed


def file_job(client: AsyncInstabase, job_id: str) -> Job:
    """A file-operation job (copy, extract, delete: type `file`), polled at `GET /api/v2/jobs/<job_id>`;
    `job_id` must be one path segment (the caller checks)."""
    url = client._http.url(_FILE_JOBS_PATH + quote(job_id, safe=""))
    return Job(client, job_id, type="file", status_url=url)


def raise_for_outcome(status: JobStatus) -> None:
    """`JobFailedError`/`JobCancelledError` for a failed or cancelled final status."""
    if status.state is JobState.FAILED:
        raise JobFailedError(f"job {status.job_id} failed: {status.message or 'no message'}", status)
    if status.state is JobState.CANCELLED:
        raise JobCancelledError(f"job {status.job_id} was cancelled", status)


def failure_of(status: JobStatus) -> JobError | None:
    """The JobFailedError/JobCancelledError a final status stands for, if any."""
    try:
        raise_for_outcome(status)
    except JobError as exc:
        return exc
    return None
