"""Jobs that live: how long each fake job runs, how it ends, and what it does when it ends.

Every started flow run, solution run, deploy, solution delete and file operation is a
:class:`FakeJob`. It is ``RUNNING`` from its creation until its duration is over, then takes its
:class:`Outcome`. A duration is counted either in status polls (deterministic, the default:
the first ``job_polls`` polls see the job running, the next one sees it finished) or in seconds
of the monotonic clock (optionally a ``(low, high)`` range drawn with the fake's seeded RNG).
File jobs (delete, copy, extract) also run on their own clock when durations are counted in
polls: they end at their poll count or after :data:`FILE_JOB_SECONDS`, whichever comes first,
since Instabase's own scripts delete or copy and never poll.

Time-driven jobs are ended when the fake is next touched: every request (and every look from
the test's side) first applies whatever is due, through a heap of deadlines that keeps that cheap
with thousands of live jobs.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

__all__ = [
    "Effect",
    "FakeJob",
    "JobKind",
    "JobStatusName",
    "JobTable",
    "Outcome",
    "OutcomeKind",
    "OutcomeRule",
    "ProgressRule",
    "ProgressSetting",
    "ProgressShape",
    "ProgressShapeKind",
    "check_seconds",
    "coerce_progress",
]

#: How a job ends: ``OK``, ``ERROR`` (with a message), ``CANCELLED``, or ``STOPPED_AT_CHECKPOINT``
#: (halted for human review: it stays there until :meth:`FakeInstabase.finish_job` moves it on).
OutcomeKind = Literal["OK", "ERROR", "CANCELLED", "STOPPED_AT_CHECKPOINT"]
#: What a job is: ``flow`` (Flow API runs and solution runs), ``deploy``, ``solution_delete``,
#: ``file_delete``, ``file_copy`` and ``file_extract``.
JobKind = Literal["flow", "deploy", "solution_delete", "file_delete", "file_copy", "file_extract"]
#: Where a job is, in the words of ``cur_status.status``.
JobStatusName = Literal["RUNNING", "COMPLETE", "FAILED", "CANCELLED", "STOPPED_AT_CHECKPOINT"]

_FINAL = frozenset({"COMPLETE", "FAILED", "CANCELLED"})
_FILE_KINDS = frozenset({"file_delete", "file_copy", "file_extract"})
#: The longest a file job lasts when durations are counted in polls and nobody polls it.
FILE_JOB_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a fake job ends. Use the constants, :meth:`error`, or the plain strings of :data:`OutcomeKind`.

    ``Outcome.OK``, ``Outcome.CANCELLED``, ``Outcome.STOPPED_AT_CHECKPOINT``,
    ``Outcome.error("why")`` (``Outcome.ERROR`` has a generic message).
    """

    kind: OutcomeKind = "OK"
    message: str | None = None

    OK: ClassVar[Outcome]
    ERROR: ClassVar[Outcome]
    CANCELLED: ClassVar[Outcome]
    STOPPED_AT_CHECKPOINT: ClassVar[Outcome]

    def __post_init__(self) -> None:
        if self.kind not in get_args(OutcomeKind):
            raise ValueError(f"unknown outcome {self.kind!r}; expected one of {get_args(OutcomeKind)}")

    @classmethod
    def error(cls, message: str = "Job failed") -> Outcome:
        """A failure whose ``msg`` (v1 results) or ``message`` (v2) is ``message``."""
        return cls("ERROR", message)

    @classmethod
    def coerce(cls, value: Outcome | str) -> Outcome:
        """Accept an :class:`Outcome` or one of the strings ``"OK"``, ``"ERROR"``, ``"CANCELLED"``, ..."""
        if isinstance(value, Outcome):
            return value
        if value == "ERROR":
            return cls.ERROR
        return cls(value)  # type: ignore[arg-type]  # validated in __post_init__


Outcome.OK = Outcome("OK")
Outcome.ERROR = Outcome("ERROR", "Job failed")
Outcome.CANCELLED = Outcome("CANCELLED")
Outcome.STOPPED_AT_CHECKPOINT = Outcome("STOPPED_AT_CHECKPOINT")

#: ``outcome_for(job)``: decides the outcome of each new job; ``None`` keeps the default.
OutcomeRule = Callable[["FakeJob"], "Outcome | str | None"]

#: How a running job reports ``curProgress``: ``linear`` (the share of its duration gone by),
#: ``steps`` (that share rounded down to a few equal steps), ``late`` (0 until a late jump), or
#: ``none`` (no ``curProgress`` at all, as some Instabase jobs report).
ProgressShapeKind = Literal["linear", "steps", "late", "none"]


@dataclass(frozen=True, slots=True)
class ProgressShape:
    """How a fake job reports progress while it runs. Use the constants, :meth:`in_steps`,
    :meth:`late_jump`, or the plain strings of :data:`ProgressShapeKind`.

    ``ProgressShape.LINEAR`` (the default): ``curProgress`` is the share of the job's duration
    (seconds or polls) gone by. ``ProgressShape.in_steps(4)``: that share rounded down to quarters.
    ``ProgressShape.late_jump(0.8)``: 0 until 80% of the duration, then the share.
    ``ProgressShape.NONE``: no ``curProgress`` key at all. A completed job reports 1 (except ``NONE``).
    """

    kind: ProgressShapeKind = "linear"
    steps: int = 4
    jump_at: float = 0.8

    LINEAR: ClassVar[ProgressShape]
    STEPS: ClassVar[ProgressShape]
    LATE: ClassVar[ProgressShape]
    NONE: ClassVar[ProgressShape]

    def __post_init__(self) -> None:
        if self.kind not in get_args(ProgressShapeKind):
            expected = get_args(ProgressShapeKind)
            raise ValueError(f"unknown progress shape {self.kind!r}; expected one of {expected}")
        if self.steps < 1 or not 0 < self.jump_at <= 1:
            raise ValueError("a progress shape needs steps >= 1 and 0 < jump_at <= 1")

    @classmethod
    def in_steps(cls, steps: int = 4) -> ProgressShape:
        """Progress that moves in ``steps`` equal jumps."""
        return cls("steps", steps=steps)

    @classmethod
    def late_jump(cls, at: float = 0.8) -> ProgressShape:
        """Progress that stays 0 until the share ``at`` of the duration, then jumps."""
        return cls("late", jump_at=at)

    @classmethod
    def coerce(cls, value: ProgressShape | str) -> ProgressShape:
        """Accept a :class:`ProgressShape` or one of ``"linear"``, ``"steps"``, ``"late"``, ``"none"``."""
        return value if isinstance(value, ProgressShape) else cls(value)  # type: ignore[arg-type]

    def report(self, share: float) -> float | None:
        """The ``curProgress`` to report when ``share`` (0..1) of the duration has gone by."""
        if self.kind == "none":
            return None
        if self.kind == "steps" and share < 1:
            share = math.floor(share * self.steps) / self.steps
        elif self.kind == "late" and share < self.jump_at:
            share = 0.0
        return round(share, 4)


ProgressShape.LINEAR = ProgressShape("linear")
ProgressShape.STEPS = ProgressShape("steps")
ProgressShape.LATE = ProgressShape("late")
ProgressShape.NONE = ProgressShape("none")
#: Every shape in turn, for the setting ``progress="mixed"``.
_MIXED = (ProgressShape.LINEAR, ProgressShape.STEPS, ProgressShape.LATE, ProgressShape.NONE)
#: A fake's progress setting: one shape for every job, or ``"mixed"`` (each shape in turn).
ProgressSetting = ProgressShape | Literal["mixed"]


def coerce_progress(value: ProgressShape | str) -> ProgressSetting:
    """A progress setting from a shape, its name, or ``"mixed"``."""
    return "mixed" if value == "mixed" else ProgressShape.coerce(value)


#: ``progress_for(job)``: decides the progress shape of each new job; ``None`` keeps the default.
ProgressRule = Callable[["FakeJob"], "ProgressShape | str | None"]
Effect = Callable[["FakeJob"], None]


@dataclass(eq=False)
class FakeJob:
    """One job of the fake. Read it freely in tests; change it only through :class:`FakeInstabase`.

    ``type`` is the v1 status type the documents give it (``flow`` or ``async``; the fake
    answers whatever type is asked). ``params`` is the decoded request that started it.
    ``polls_needed`` / ``seconds_needed`` is its duration (``seconds_needed`` wins when set);
    ``max_seconds`` ends a poll-counted job on its own clock too (file jobs).
    ``origin`` is the route that started it (``"flow.run"``, ``"solutions.run"``, ...).
    """

    job_id: str
    kind: JobKind
    type: str
    outcome: Outcome
    polls_needed: int
    seconds_needed: float | None
    max_seconds: float | None = None
    output_folder: str | None = None
    solution_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    progress_shape: ProgressShape = ProgressShape.LINEAR
    created_at: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    status: JobStatusName = "RUNNING"
    progress: float = 0.0
    polls: int = 0
    finished_at: float | None = None
    modified_at: float = field(default_factory=time.time)
    message: str = "Running"
    origin: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    effect: Effect | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        """Finished for good: ``COMPLETE``, ``FAILED`` or ``CANCELLED``."""
        return self.status in _FINAL

    @property
    def live(self) -> bool:
        """Still running (a job stopped at a checkpoint is not: it waits for a human)."""
        return self.status == "RUNNING"

    def reported_progress(self) -> float | None:
        """The ``curProgress`` to report (0..1, rounded, in the job's shape), or ``None`` for none."""
        return self.progress_shape.report(self.progress)

    def deadline(self) -> float | None:
        """The monotonic time it ends at, for a job timed in seconds (or with ``max_seconds``)."""
        seconds = self.seconds_needed if self.seconds_needed is not None else self.max_seconds
        if seconds is None:
            return None
        return self.started_monotonic + seconds


class JobTable:
    """All jobs of one fake, the outcome plan for new ones, and the count of live ones.

    Every method takes the fake's lock, so the table may be used from the server thread and
    the test's thread at once.
    """

    def __init__(
        self,
        lock: threading.RLock,
        *,
        polls: int,
        seconds: float | tuple[float, float] | None,
        outcome: Outcome | str,
        outcome_for: OutcomeRule | None,
        rng: random.Random,
        progress: ProgressShape | str = ProgressShape.LINEAR,
        progress_for: ProgressRule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if polls < 0:
            raise ValueError("job_polls must be >= 0")
        check_seconds(seconds)
        self._lock = lock
        self.polls = polls
        self.seconds = seconds
        self.outcome = Outcome.coerce(outcome)
        self.outcome_for = outcome_for
        self.progress = coerce_progress(progress)
        self.progress_for = progress_for
        self._mixed = itertools.cycle(_MIXED)
        self._rng = rng
        self._clock = clock
        self.jobs: dict[str, FakeJob] = {}
        self._live: set[str] = set()
        self._due: list[tuple[float, int, str]] = []
        self._seq = 0
        self.max_running = 0
        self._next: dict[str | None, deque[Outcome]] = {}

    # -- planning -------------------------------------------------------------------------

    def set_next_outcomes(self, outcomes: Iterable[Outcome | str], kind: JobKind | None = None) -> None:
        """Queue outcomes for the next jobs (of ``kind``, or of any kind), in creation order."""
        with self._lock:
            self._next[kind] = deque(Outcome.coerce(o) for o in outcomes)

    def _planned_outcome(self, job: FakeJob) -> Outcome:
        for key in (job.kind, None):
            queue = self._next.get(key)
            if queue:
                return queue.popleft()
        if self.outcome_for is not None:
            chosen = self.outcome_for(job)
            if chosen is not None:
                return Outcome.coerce(chosen)
        return self.outcome

    def _planned_shape(self, job: FakeJob) -> ProgressShape:
        if self.progress_for is not None:
            chosen = self.progress_for(job)
            if chosen is not None:
                return ProgressShape.coerce(chosen)
        return next(self._mixed) if self.progress == "mixed" else self.progress

    def _draw_seconds(self, seconds: float | tuple[float, float] | None) -> float | None:
        if seconds is None or isinstance(seconds, int | float):
            return seconds
        low, high = seconds
        return self._rng.uniform(low, high)

    # -- life cycle -----------------------------------------------------------------------

    def create(
        self,
        kind: JobKind,
        type: str,
        *,
        job_id: str | None = None,
        output_folder: str | None = None,
        solution_id: str | None = None,
        params: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
        effect: Effect | None = None,
        origin: str = "",
    ) -> FakeJob:
        """Start a job now and return it (``job_id`` must be new; the caller checks)."""
        with self._lock:
            self._sweep()
            job = FakeJob(
                job_id=job_id or str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                kind=kind,
                type=type,
                outcome=self.outcome,
                polls_needed=self.polls,
                seconds_needed=self._draw_seconds(self.seconds),
                max_seconds=FILE_JOB_SECONDS if kind in _FILE_KINDS else None,
                output_folder=output_folder,
                solution_id=solution_id,
                params=params or {},
                result=result or {},
                effect=effect,
                origin=origin,
            )
            job.started_monotonic = self._clock()
            job.outcome = self._planned_outcome(job)
            job.progress_shape = self._planned_shape(job)
            self.jobs[job.job_id] = job
            self._live.add(job.job_id)
            self._schedule(job)
            self.max_running = max(self.max_running, len(self._live))
            return job

    def _schedule(self, job: FakeJob) -> None:
        deadline = job.deadline()
        if deadline is not None:
            self._seq += 1
            heapq.heappush(self._due, (deadline, self._seq, job.job_id))

    def poll(self, job_id: str) -> FakeJob | None:
        """A status poll: counts towards a poll-timed job's end. ``None`` for an unknown id."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return None
            job.polls += 1
            self._advance(job, counted=True)
            return job

    def look(self, job_id: str) -> FakeJob | None:
        """The job brought up to date with the clock, without counting a poll."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                self._advance(job, counted=False)
            return job

    def look_all(self) -> list[FakeJob]:
        """Every job, brought up to date with the clock, in creation order."""
        with self._lock:
            self._sweep()
            return list(self.jobs.values())

    def _advance(self, job: FakeJob, *, counted: bool) -> None:
        """End ``job`` if its time or its polls are up, else bring its progress up to date."""
        if not job.live:
            return
        deadline = job.deadline()
        now = self._clock()
        if deadline is not None and now >= deadline:
            self._end(job, job.outcome)
            return
        by_polls = job.seconds_needed is None
        if by_polls and counted and job.polls > job.polls_needed:
            self._end(job, job.outcome)
            return
        fraction = 0.0
        if deadline is not None:
            fraction = (now - job.started_monotonic) / max(deadline - job.started_monotonic, 1e-9)
        if by_polls:
            fraction = max(fraction, job.polls / (job.polls_needed + 1))
            if counted:
                job.modified_at = time.time()
        job.progress = min(0.99, fraction)

    def sweep(self) -> None:
        """Apply everything due by now: end every time-driven job whose deadline has passed."""
        with self._lock:
            self._sweep()

    def _sweep(self) -> None:
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            _, _, job_id = heapq.heappop(self._due)
            job = self.jobs.get(job_id)
            if job is not None:
                self._advance(job, counted=False)

    def _end(self, job: FakeJob, outcome: Outcome) -> None:
        """Move ``job`` to ``outcome`` and, for a success, run its effect on the fake's state."""
        self._live.discard(job.job_id)
        job.modified_at = time.time()
        if outcome.kind == "STOPPED_AT_CHECKPOINT":
            job.status = "STOPPED_AT_CHECKPOINT"
            job.message = outcome.message or "Stopped at checkpoint: waiting for review"
            return
        job.finished_at = job.modified_at
        if outcome.kind == "CANCELLED":
            job.status, job.message = "CANCELLED", outcome.message or "Job was cancelled"
            return
        if outcome.kind == "ERROR":
            job.status, job.message = "FAILED", outcome.message or "Job failed"
            return
        try:
            if job.effect is not None:
                job.effect(job)
        except Exception as exc:  # the effect met the state it works on: the job fails, as on a server
            job.status, job.message = "FAILED", f"{type(exc).__name__}: {exc}"
            return
        job.status, job.progress, job.message = "COMPLETE", 1.0, "Completed"

    def finish(self, job_id: str, outcome: Outcome | str | None = None) -> FakeJob:
        """End a running job (or move on one stopped at a checkpoint) now.

        ``outcome`` defaults to the job's planned outcome, or ``OK`` for a stopped job.
        Raises ``KeyError`` for an unknown id and ``ValueError`` for a job already done.
        """
        with self._lock:
            job = self.jobs[job_id]
            if job.done:
                raise ValueError(f"job {job_id} is already {job.status}")
            if outcome is not None:
                chosen = Outcome.coerce(outcome)
            elif job.status == "STOPPED_AT_CHECKPOINT":
                chosen = Outcome.OK
            else:
                chosen = job.outcome
            if job.status == "STOPPED_AT_CHECKPOINT" and chosen.kind == "STOPPED_AT_CHECKPOINT":
                return job
            self._end(job, chosen)
            return job

    def set_duration(self, job_id: str, *, polls: int | None = None, seconds: float | None = None) -> None:
        """Change how long a job lasts, counted from its start: ``seconds`` (wins) or ``polls``."""
        if polls is not None and polls < 0:
            raise ValueError("polls must be >= 0")
        check_seconds(seconds)
        with self._lock:
            job = self.jobs[job_id]
            if seconds is not None:
                job.seconds_needed = seconds
                self._schedule(job)
            elif polls is not None:  # counted in polls only, even for a file job: as asked
                job.polls_needed, job.seconds_needed, job.max_seconds = polls, None, None

    def running(self) -> int:
        """How many jobs are running now."""
        with self._lock:
            self._sweep()
            return len(self._live)

    def reset_max_running(self) -> None:
        """Start the high-water mark afresh from the jobs running now."""
        with self._lock:
            self._sweep()
            self.max_running = len(self._live)


def check_seconds(seconds: float | tuple[float, float] | None) -> None:
    """Refuse a negative duration or a range whose low end is above its high end."""
    if seconds is None:
        return
    if isinstance(seconds, tuple):
        low, high = seconds
        if not 0 <= low <= high:
            raise ValueError("job_seconds range must satisfy 0 <= low <= high")
    elif seconds < 0:
        raise ValueError("job_seconds must be >= 0")
