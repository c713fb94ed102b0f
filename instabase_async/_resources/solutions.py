"""`ib.solutions`: deployed solutions (`/api/v2/solutions/deployed`, the v2 status-code convention)."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Final
from urllib.parse import quote

import attrs

from .._convert import omit_none, require_str, run_settings_dict, structure, structure_list
from .._durable import run_requests
from .._errors import ResponseValidationError
from .._http import Params
from .._jobs import Job
from .._ledger import Ledger
from .._models import PollPolicy, Progress, RunOutcome, RunSettings, Solution, SolutionJob, SolutionRunRequest
from .._runs import RunOptions, checked_requests
from .._validate import caller_job_id, optional_text, path_segment, positive_int, text
from ._base import Resource, paginate, paginate_by_offset

__all__ = ["Solutions"]

_ROOT: Final = "/api/v2/solutions/deployed"
VISIBILITIES: Final = frozenset({"PUBLIC", "PRIVATE", "PENDING_REVIEW"})
STATES: Final = frozenset({"ACTIVE", "INACTIVE"})
SORT_KEYS: Final = frozenset({"startTimeNs", "name", "version", "username", "timeTakenNs", "state"})
ORDERS: Final = frozenset({"ASCENDING", "DESCENDING"})

StrOrList = str | Sequence[str] | None


def _one_of(name: str, value: str | None, allowed: frozenset[str]) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, got {value!r}")


def _first(value: Any) -> Any:
    """`has_more` and `next_offset` are documented as one-element lists; accept a bare value too."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _many(name: str, value: StrOrList) -> list[str] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else list(value)
    for item in values:
        text(name, item)
    return values


class Solutions(Resource):
    """Deployed solutions: deploy, list, run, update, delete, and their jobs."""

    __slots__ = ()

    def _path(self, solution_id: str, *rest: str) -> str:
        return self._http.url(
            "/".join([_ROOT, quote(path_segment("solution_id", solution_id), safe=""), *rest])
        )

    def _job(
        self, body: Any, what: str, job_type: str, *, solution_id: str | None = None, run: bool = False
    ) -> Job:
        job_id = require_str(body, "job_id", what)
        return Job(self._client, job_id, type=job_type, solution_id=solution_id, solution_run=run)

    async def deploy(self, solution_path: str) -> Job:
        """Deploy an `.ibsolution` (`POST`); the returned job has type `async`."""
        body = {"solution_path": text("solution_path", solution_path)}
        http = self._http
        response = await http.send("POST", http.url(_ROOT), json_body=body)
        return self._job(self._http.json(response), "deploy", "async")

    async def get(self, solution_id: str) -> Solution:
        """One solution in detail."""
        response = await self._http.send("GET", self._path(solution_id))
        return _solution(self._http.json(response))

    async def delete(self, solution_id: str) -> Job:
        """Delete a solution through an asynchronous job (type `async`)."""
        response = await self._http.send("DELETE", self._path(solution_id))
        return self._job(self._http.json(response), "delete solution", "async")

    async def list(
        self,
        *,
        state: str | None = None,
        name: str | None = None,
        author: str | None = None,
        owner: str | None = None,
        visibility: str | None = None,
        page_size: int = 20,
    ) -> AsyncIterator[Solution]:
        """Every matching solution, page by page, following `has_more[0]`/`next_offset[0]`."""
        _one_of("state", state, STATES)
        _one_of("visibility", visibility, VISIBILITIES)
        positive_int("page_size", page_size, wrong_type=ValueError)
        http = self._http
        filters = {"state": state, "name": name, "author": author, "owner": owner, "visibility": visibility}

        async def page(offset: int) -> tuple[builtins.list[Solution], int | None]:
            params: Params = {"limit": page_size, "offset": offset, **filters}
            body = self._http.json(await http.send("GET", http.url(_ROOT), params=params))
            items = structure_list(_get(body, "solutions"), Solution, "solution", "solutions")
            next_offset = _first(body.get("next_offset"))
            more = _first(body.get("has_more")) and isinstance(next_offset, int) and next_offset > offset
            return items, next_offset if more else None

        async for item in paginate(0, page):
            yield item

    async def run(
        self,
        solution_id: str,
        *,
        input_dir: str,
        output_dir: str | None = None,
        job_id: str | None = None,
        settings: RunSettings | Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a deployed solution by id; the job has type `flow`."""
        request = SolutionRunRequest(
            solution_id, input_dir, output_dir=output_dir, job_id=job_id, settings=settings
        )
        return await self._submit(self._path(solution_id, "run"), solution_run_body(request), solution_id)

    async def _submit(self, url: str, body: dict[str, Any], solution_id: str) -> Job:
        response = await self._http.send("POST", url, json_body=body)
        return self._job(self._http.json(response), "run solution", "flow", solution_id=solution_id, run=True)

    async def run_many(
        self,
        requests: Iterable[SolutionRunRequest],
        *,
        max_running: int = 8,
        poll: PollPolicy | None = None,
        timeout: float | None = None,
        on_outcome: Callable[[RunOutcome], Any] | None = None,
        progress: Callable[[Progress], Any] | None = None,
        ledger: Ledger | None = None,
        resubmit_unknown: bool = False,
    ) -> builtins.list[RunOutcome]:
        """`flows.run_many` for deployed-solution runs: at most `max_running` alive on the server,
        one `RunOutcome` per request, in input order.

        With a `ledger`, a request without `job_id` runs under one derived from the run name and
        its key (recorded before the POST), so a crash mid-submit is resolved by asking the server
        about that id: a solution run is submitted at most once. `resubmit_unknown` is accepted
        for symmetry with `flows.run_many`; a solution run is never left unknown.
        """
        # The keywords repeat `flows.run_many`'s on purpose (both are public); the work is shared.
        options = RunOptions(max_running, poll, timeout, on_outcome, progress)
        checked = checked_requests(requests, SolutionRunRequest)
        bodies = [solution_run_body(request) for request in checked]  # checks every one first
        urls = [self._path(request.solution_id, "run") for request in checked]

        async def submit(index: int, job_id: str | None = None) -> Job:
            body = bodies[index] if job_id is None else {**bodies[index], "job_id": job_id}
            return await self._submit(urls[index], body, checked[index].solution_id)

        return await run_requests(
            self._client, checked, submit, options, ledger=ledger, resubmit_unknown=resubmit_unknown
        )

    async def run_by_name(
        self,
        name: str,
        *,
        input_dir: str,
        version: str | None = None,
        owner: str | None = None,
        output_dir: str | None = None,
        job_id: str | None = None,
        settings: RunSettings | Mapping[str, Any] | None = None,
    ) -> Job:
        """Run a deployed solution by name (and version/owner); the job has type `flow`."""
        body = omit_none(
            name=text("name", name),
            version=optional_text("version", version),
            owner=optional_text("owner", owner),
            input_dir=text("input_dir", input_dir),
            output_dir=optional_text("output_dir", output_dir),
            job_id=caller_job_id(job_id),
            settings=run_settings_dict(settings),
        )
        http = self._http
        response = await http.send("POST", http.url(_ROOT + "/run"), json_body=body)
        # The answer does not name the solution; the job is still a solution run (polled in batches).
        return self._job(self._http.json(response), "run solution", "flow", run=True)

    async def update(
        self, solution_id: str, *, visibility: str | None = None, state: str | None = None
    ) -> Solution:
        """Change a solution's visibility and/or state (query parameters, as documented)."""
        _one_of("visibility", visibility, VISIBILITIES)
        _one_of("state", state, STATES)
        if visibility is None and state is None:
            raise ValueError("update needs visibility or state")
        url = self._path(solution_id)
        response = await self._http.send("PATCH", url, params={"visibility": visibility, "state": state})
        return _solution(self._http.json(response))

    async def jobs(
        self,
        solution_id: str | None = None,
        *,
        solution_ids: StrOrList = None,
        user: StrOrList = None,
        job_id: StrOrList = None,
        state: StrOrList = None,
        owner: StrOrList = None,
        name: StrOrList = None,
        output_repo: StrOrList = None,
        sort_by: str | None = None,
        order: str | None = None,
        page_size: int = 20,
    ) -> AsyncIterator[SolutionJob]:
        """Runs of one solution (`<id>/jobs`) or of many (`jobs`, filtered), paged by offset.

        List filters are sent as repeated query parameters.
        """
        _one_of("sort_by", sort_by, SORT_KEYS)
        _one_of("order", order, ORDERS)
        positive_int("page_size", page_size, wrong_type=ValueError)
        http = self._http
        url = self._path(solution_id, "jobs") if solution_id is not None else http.url(_ROOT + "/jobs")
        filters: dict[str, Any] = {
            "solution_id": _many("solution_ids", solution_ids),
            "user": _many("user", user),
            "job_id": _many("job_id", job_id),
            "state": _many("state", state),
            "owner": _many("owner", owner),
            "name": _many("name", name),
            "output_repo": _many("output_repo", output_repo),
            "sort_by": sort_by,
            "order": order,
        }

        async def page(offset: int) -> builtins.list[SolutionJob]:
            params: Params = {**filters, "limit": page_size, "offset": offset}
            body = self._http.json(await http.send("GET", url, params=params))
            return structure_list(_get(body, "jobs"), SolutionJob, "solution job", "jobs")

        async for item in paginate_by_offset(page_size, page):
            job = Job(
                self._client, item.id, type="flow", solution_id=item.deployed_solution_id, solution_run=True
            )
            yield attrs.evolve(item, job=job)


def solution_run_body(request: SolutionRunRequest) -> dict[str, Any]:
    """The JSON body of a solution run, checked before anything is sent (the id is the URL's)."""
    text("solution_id", request.solution_id)
    return omit_none(
        input_dir=text("input_dir", request.input_dir),
        output_dir=optional_text("output_dir", request.output_dir),
        job_id=caller_job_id(request.job_id),
        settings=run_settings_dict(request.settings),
    )


def _get(body: Any, key: str) -> Any:
    if not isinstance(body, Mapping):
        raise ResponseValidationError(f"expected a JSON object with {key!r}")
    return body.get(key)


def _solution(body: Any) -> Solution:
    return structure(_get(body, "solution"), Solution, "solution")
