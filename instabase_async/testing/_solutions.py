"""Deployed Solutions API v2: deploy, list, get, update, delete, run (by id or name), list jobs.

v2 convention: a bad request is a 400, an unknown solution a 404, each with ``{"message": ...}``.
Deploy and delete are jobs of type ``async``; runs are jobs of type ``flow``.
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from ._asgi import ApiError, Reply, Request, json_reply
from ._check import as_object, opt_str, path_str, query_int, req_str, v2_fail
from ._flows import flow_effect, run_id_folder
from ._jobs import FakeJob
from ._state import FakeSolution, State, now_ms
from ._store import FolderNode

__all__ = [
    "delete_solution",
    "deploy",
    "get_solution",
    "list_jobs",
    "list_solutions",
    "run_by_id",
    "run_by_name",
    "start_solution_run",
    "update_solution",
]

#: The documented states, and ``PRODUCTION``, which AI Hub's own CI/CD scripts set.
STATES = ("ACTIVE", "INACTIVE", "PRODUCTION")
VISIBILITIES = ("PUBLIC", "PRIVATE", "PENDING_REVIEW")
SORT_KEYS = ("startTimeNs", "name", "version", "username", "timeTakenNs", "state")
ORDERS = ("ASCENDING", "DESCENDING")
#: The owner of public solutions, and the default owner of a run by name.
PUBLIC_OWNER = "IB_DEPLOYED"
MAX_JOB_ID = 50


def _check_choice(value: str | None, key: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise ApiError(400, f"{key} must be one of {', '.join(choices)}")
    return value


def _package_json(state: State, solution_path: str) -> dict[str, Any]:
    """The ``package.json`` inside ``solution_path`` (a folder) or beside it (a file), if any."""
    segments = path_str(solution_path, "solution_path", v2_fail)
    with state.lock:
        node = state.store.get(segments)
    folder = segments if isinstance(node, FolderNode) else segments[:-1]
    raw = state.read_bytes((*folder, "package.json"))
    if raw is None:
        return {}
    try:
        package = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return package if isinstance(package, dict) else {}


async def deploy(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v2/solutions/deployed {"solution_path"}`` -> ``{"job_id"}`` (type ``async``).

    The solution appears when the job completes; its name, version, owner, descriptions and
    visibility come from a ``package.json`` in or beside ``solution_path``, else from the path.
    """
    body = as_object(await req.json(v1=False), v2_fail)
    solution_path = req_str(body, "solution_path", v2_fail)
    package = _package_json(state, solution_path)

    def text(key: str, default: str) -> str:
        value = package.get(key)
        return value if isinstance(value, str) and value else default

    stem = posixpath.splitext(posixpath.basename(solution_path.rstrip("/")))[0] or "solution"
    owner = text("owner", state.username)
    visibility = text("visibility", "PRIVATE")
    solution = FakeSolution(
        id=state.new_id(),
        name=text("name", stem),
        version=text("version", "0.0.1"),
        owner=owner,
        author=state.username,
        summary=text("short_description", ""),
        description=text("long_description", ""),
        visibility=visibility if visibility in VISIBILITIES else "PRIVATE",
        metadata={"authors": [state.username], "solution_type": text("solution_type", "ibflowbin")},
        solution_path=solution_path,
    )

    def effect(_job: FakeJob) -> None:
        solution.created_ms = solution.updated_ms = now_ms()
        state.solutions[solution.id] = solution

    job = state.jobs.create(
        "deploy",
        "async",
        params=body,
        result={"deployed_solution_id": solution.id},
        solution_id=solution.id,
        effect=effect,
        origin="solutions.deploy",
    )
    return json_reply({"job_id": job.job_id})


async def list_solutions(state: State, req: Request, _arg: str) -> Reply:
    """``GET /api/v2/solutions/deployed``: filtered, offset-paginated; ``has_more`` and
    ``next_offset`` are one-element lists, as documented."""
    limit = query_int(req.arg("limit"), "limit", 20, minimum=1)
    offset = query_int(req.arg("offset"), "offset", 0)
    wanted = {
        "state": _check_choice(req.arg("state"), "state", STATES),
        "visibility": _check_choice(req.arg("visibility"), "visibility", VISIBILITIES),
        "name": req.arg("name"),
        "author": req.arg("author"),
        "owner": req.arg("owner"),
    }
    with state.lock:
        found = [
            s
            for s in state.solutions.values()
            if all(value is None or getattr(s, key) == value for key, value in wanted.items())
        ]
        page = [s.wire(detail=False) for s in found[offset : offset + limit]]
    has_more = offset + limit < len(found)
    return json_reply(
        {"has_more": [has_more], "next_offset": [offset + limit if has_more else -1], "solutions": page}
    )


def _solution(state: State, solution_id: str) -> FakeSolution:
    solution = state.solutions.get(solution_id)
    if solution is None:
        raise ApiError(404, f"solution {solution_id} not found")
    return solution


async def get_solution(state: State, req: Request, arg: str) -> Reply:
    """``GET /api/v2/solutions/deployed/<id>`` -> ``{"solution": {...}}`` with description and metadata."""
    with state.lock:
        return json_reply({"solution": _solution(state, arg).wire(detail=True)})


def _query_or_body(req: Request, body: dict[str, Any], key: str, choices: tuple[str, ...]) -> str | None:
    """``key`` from the query or the JSON body (the same value if in both), checked against ``choices``."""
    in_query, in_body = req.arg(key), opt_str(body, key, v2_fail)
    if in_query is not None and in_body is not None and in_query != in_body:
        raise ApiError(400, f"{key} is {in_query!r} in the query but {in_body!r} in the body")
    return _check_choice(in_query if in_query is not None else in_body, key, choices)


async def update_solution(state: State, req: Request, arg: str) -> Reply:
    """``PATCH /api/v2/solutions/deployed/<id>?visibility=&state=``: query parameters, as
    documented, or a JSON body ``{"state", "visibility"}``, as Instabase's own scripts send."""
    body = as_object(await req.json(v1=False), v2_fail)  # an empty body is {}
    visibility = _query_or_body(req, body, "visibility", VISIBILITIES)
    new_state = _query_or_body(req, body, "state", STATES)
    with state.lock:
        solution = _solution(state, arg)
        if visibility is not None:
            solution.visibility = visibility
        if new_state is not None:
            solution.state = new_state
        solution.updated_ms = now_ms()
        return json_reply({"solution": solution.wire(detail=True)})


async def delete_solution(state: State, req: Request, arg: str) -> Reply:
    """``DELETE /api/v2/solutions/deployed/<id>`` -> ``{"job_id"}``; gone when the job completes."""
    with state.lock:
        _solution(state, arg)

        def effect(_job: FakeJob) -> None:
            state.solutions.pop(arg, None)

        job = state.jobs.create(
            "solution_delete", "async", solution_id=arg, effect=effect, origin="solutions.delete"
        )
    return json_reply({"job_id": job.job_id})


def start_solution_run(state: State, solution_id: str, body: dict[str, Any]) -> FakeJob:
    """Check a run body and start the run of solution ``solution_id`` (a ``flow`` job).

    Output: ``output_dir``, else ``<input_dir>/out`` ("within the input folder"); with
    ``settings.output_has_run_id``, ``<output_dir or input_dir>/run_<user>/<time>/<job_id>/out``.
    """
    input_dir = req_str(body, "input_dir", v2_fail)
    path_str(input_dir, "input_dir", v2_fail)
    output_dir = opt_str(body, "output_dir", v2_fail)
    if output_dir:
        path_str(output_dir, "output_dir", v2_fail)
    job_id = opt_str(body, "job_id", v2_fail)
    if job_id is not None and not 0 < len(job_id) <= MAX_JOB_ID:
        raise ApiError(400, f"job_id must be 1 to {MAX_JOB_ID} characters long")
    settings = body.get("settings")
    if settings is not None and not isinstance(settings, dict):
        raise ApiError(400, "settings must be an object")
    settings = settings or {}
    with state.lock:
        _solution(state, solution_id)
        if job_id is not None and job_id in state.jobs.jobs:
            raise ApiError(409, f"job_id {job_id!r} is already in use")
        job_id = job_id or state.new_id()
        if settings.get("output_has_run_id"):
            output_folder = run_id_folder(output_dir or input_dir, state.username, job_id)
        else:
            output_folder = output_dir or posixpath.join(input_dir, "out")
        delete_out_dir = bool(settings.get("delete_out_dir")) and not settings.get("output_has_run_id")
        return state.jobs.create(
            "flow",
            "flow",
            job_id=job_id,
            output_folder=output_folder,
            solution_id=solution_id,
            params=body,
            origin="solutions.run",
            effect=flow_effect(state, input_dir, delete_out_dir=delete_out_dir),
        )


async def run_by_id(state: State, req: Request, arg: str) -> Reply:
    """``POST /api/v2/solutions/deployed/<id>/run`` -> ``{"job_id"}``."""
    body = as_object(await req.json(v1=False), v2_fail)
    return json_reply({"job_id": start_solution_run(state, arg, body).job_id})


async def run_by_name(state: State, req: Request, _arg: str) -> Reply:
    """``POST /api/v2/solutions/deployed/run``: by ``name``, ``version`` (default: the most
    recently created) and ``owner`` (default ``IB_DEPLOYED``, as documented)."""
    body = as_object(await req.json(v1=False), v2_fail)
    name = req_str(body, "name", v2_fail)
    version = opt_str(body, "version", v2_fail)
    owner = opt_str(body, "owner", v2_fail) or PUBLIC_OWNER
    with state.lock:
        candidates = [
            s
            for s in state.solutions.values()
            if s.name == name and s.owner == owner and (version is None or s.version == version)
        ]
        if not candidates:
            wanted = f"{name!r}" + (f" version {version!r}" if version else "") + f" of owner {owner!r}"
            raise ApiError(404, f"no deployed solution {wanted}")
        newest = max(enumerate(candidates), key=lambda pair: (pair[1].created_ms, pair[0]))[1]
        return json_reply({"job_id": start_solution_run(state, newest.id, body).job_id})


def _job_wire(state: State, job: FakeJob, solution: FakeSolution | None) -> dict[str, Any]:
    """One entry of the jobs listing: times are epoch nanoseconds as strings, as documented."""
    start_ns = int(job.created_at * 1e9)
    end = job.finished_at if job.finished_at is not None else job.modified_at
    taken_ns = max(0, int((end - job.created_at) * 1e9)) if job.finished_at is not None else 0
    out: dict[str, Any] = {
        "id": job.job_id,
        "accountId": state.account_id,
        "jobType": "FLOW",
        "startTimeNs": str(start_ns),
        "modifiedTimeNs": str(int(job.modified_at * 1e9)),
        "state": job.status,
        "lastStartTimeNs": str(start_ns),
        "timeTakenNs": str(taken_ns),
        "message": job.message,
        "metadata": json.dumps(
            {
                "input_dir": job.params.get("input_dir"),
                "settings": job.params.get("settings") or {},
                "solution_name": solution.name if solution else None,
                "solution_version": solution.version if solution else None,
            }
        ),
        "deployedSolutionId": job.solution_id,
        "outputFolder": job.output_folder,
    }
    if job.finished_at is not None:
        out["completionTimeNs"] = str(int(job.finished_at * 1e9))
    progress = job.reported_progress()
    if progress is not None:  # not in the documents' listing: an extra a lenient client may use
        out["curProgress"] = progress
    return out


def _sort_key(state: State, sort_by: str, job: FakeJob, solution: FakeSolution | None) -> Any:
    if sort_by == "name":
        return solution.name if solution else ""
    if sort_by == "version":
        return solution.version if solution else ""
    if sort_by == "username":
        return state.username
    if sort_by == "timeTakenNs":
        return (job.finished_at or job.modified_at) - job.created_at
    if sort_by == "state":
        return job.status
    return job.created_at


def _matching(
    state: State, req: Request, jobs: list[FakeJob], solution_ids: set[str]
) -> list[tuple[FakeJob, FakeSolution | None]]:
    """The runs (with their solutions) that pass every filter of the request."""
    filters = {
        "user": set(req.args("user")),
        "job_id": set(req.args("job_id")),
        "state": set(req.args("state")),
        "owner": set(req.args("owner")),
        "name": set(req.args("name")),
        "output_repo": set(req.args("output_repo")),
    }
    rows: list[tuple[FakeJob, FakeSolution | None]] = []
    for job in jobs:
        solution = state.solutions.get(job.solution_id or "")
        repo = "/".join((job.output_folder or "").strip("/").split("/")[:2])
        values = {
            "user": state.username,
            "job_id": job.job_id,
            "state": job.status,
            "owner": solution.owner if solution else None,
            "name": solution.name if solution else None,
            "output_repo": repo,
        }
        if solution_ids and job.solution_id not in solution_ids:
            continue
        if all(not wanted or values[key] in wanted for key, wanted in filters.items()):
            rows.append((job, solution))
    return rows


async def list_jobs(state: State, req: Request, arg: str) -> Reply:
    """``GET /api/v2/solutions/deployed[/<id>]/jobs``: solution runs, filtered by repeated
    parameters (``solution_id``, ``user``, ``job_id``, ``state``, ``owner``, ``name``,
    ``output_repo``), sorted (``sort_by``, ``order``) and offset-paginated (default 20)."""
    limit = query_int(req.arg("limit"), "limit", 20, minimum=1)
    offset = query_int(req.arg("offset"), "offset", 0)
    sort_by = _check_choice(req.arg("sort_by"), "sort_by", SORT_KEYS) or "startTimeNs"
    order = _check_choice(req.arg("order"), "order", ORDERS) or "DESCENDING"
    solution_ids = set(req.args("solution_id"))
    wanted_ids = req.args("job_id")
    with state.lock:
        if wanted_ids:  # a batch poll names its jobs: look them up instead of scanning every job
            named = (state.jobs.look(job_id) for job_id in dict.fromkeys(wanted_ids))
            jobs = [j for j in named if j is not None and j.origin == "solutions.run"]
        else:
            jobs = [j for j in state.jobs.look_all() if j.origin == "solutions.run"]
        if arg:
            if arg not in state.solutions and not any(j.solution_id == arg for j in jobs):
                raise ApiError(404, f"solution {arg} not found")
            solution_ids = {arg}
        rows = _matching(state, req, jobs, solution_ids)
        rows.sort(key=lambda row: _sort_key(state, sort_by, *row), reverse=order == "DESCENDING")
        page = [_job_wire(state, job, solution) for job, solution in rows[offset : offset + limit]]
        if wanted_ids:
            # ... and it counts as a poll of each run it answers (after answering, so a run's
            # first listing shows where it started), so poll-timed runs end under batch polling.
            for item in page:
                state.jobs.poll(item["id"])
    return json_reply({"jobs": page})
