"""`ib.jobs`: status by id, handles from ids and tokens, and waiting on one or many jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._jobs import Job, file_job
from .._models import JobOutcome, JobStatus, PollPolicy
from .._validate import optional_text, path_segment
from .._waiter import Waiter, wait_all
from ._base import Resource

if TYPE_CHECKING:
    from .._client import AsyncInstabase

_MAX_RECENT = 4096

__all__ = ["Jobs"]


class Jobs(Resource):
    """Job handles and waiting."""

    __slots__ = ("_recent",)

    def __init__(self, client: AsyncInstabase) -> None:
        super().__init__(client)
        # Handles of recently polled ids: a loop of `status(job_id)` calls then parses each job's
        # status URL once (about 18% of a call's CPU), not on every call.
        self._recent: dict[tuple[str, str | None], Job] = {}

    def from_id(self, job_id: str, *, type: str | None = "flow") -> Job:
        """A handle for a job whose id you know: the v1 status API with `type` as the job was
        started, or, for `type="file"` (copy, extract, delete), `GET /api/v2/jobs/<job_id>`."""
        # An id is one path segment wherever it goes (a v1 id travels in the query, yet `..` or
        # `a/b` is never an id, and the same id may be polled at /api/v2/jobs/<id>).
        job_id = path_segment("job_id", job_id)
        if type == "file":
            return file_job(self._client, job_id)
        return Job(self._client, job_id, type=optional_text("type", type))

    def from_token(self, token: str) -> Job:
        """The job a `Job.to_token()` described, bound to this client."""
        return Job._from_token(self._client, token)

    async def status(self, job_id: str, *, type: str | None = "flow") -> JobStatus:
        """Poll a job once by id."""
        path_segment("job_id", job_id)
        key = (job_id, type)
        job = self._recent.get(key)
        if job is None:
            job = self.from_id(job_id, type=type)
            if len(self._recent) >= _MAX_RECENT:
                self._recent.clear()
            self._recent[key] = job
        return await job.status()

    async def wait(
        self,
        job: Job,
        *,
        timeout: float | None = None,
        poll: PollPolicy | None = None,
        raise_on_failure: bool = True,
        stop_when_halted: bool = True,
        on_status: Callable[[JobStatus], Any] | None = None,
    ) -> JobStatus:
        """`job.wait(...)`."""
        # The keywords repeat `Job.wait`'s on purpose (both are public); the work is Job.wait's.
        return await job.wait(
            timeout=timeout,
            poll=poll,
            raise_on_failure=raise_on_failure,
            stop_when_halted=stop_when_halted,
            on_status=on_status,
        )

    def waiter(
        self,
        *,
        max_in_flight: int = 32,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        max_polls_per_second: float | None = None,
        stop_when_halted: bool = True,
    ) -> Waiter:
        """An async context manager that waits on many jobs with bounded requests (see `Waiter`)."""
        return Waiter(
            self._client,
            max_in_flight=max_in_flight,
            poll=poll,
            timeout=timeout,
            max_polls_per_second=max_polls_per_second,
            stop_when_halted=stop_when_halted,
        )

    async def wait_all(
        self,
        jobs: Iterable[Job],
        *,
        max_in_flight: int = 32,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        max_polls_per_second: float | None = None,
        stop_when_halted: bool = True,
    ) -> list[JobOutcome]:
        """Wait on every job; the outcomes in input order."""
        waiter = self.waiter(
            max_in_flight=max_in_flight,
            poll=poll,
            timeout=timeout,
            max_polls_per_second=max_polls_per_second,
            stop_when_halted=stop_when_halted,
        )
        return await wait_all(waiter, jobs)
