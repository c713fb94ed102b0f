"""The route table: from a method and a raw path to a named handler.

Route names (see :data:`~._faults.ROUTE_NAMES`) are what faults and the request log use.
Path parameters are percent-decoded here, except the file API's path, which ``_files`` decodes
segment by segment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from . import _endpoints, _files, _flows, _restart, _solutions
from ._asgi import ApiError, Reply, Request
from ._state import State

__all__ = ["Handler", "Route", "resolve"]

Handler = Callable[[State, Request, str], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    """A matched route: its name, its handler, and its path argument."""

    name: str
    handler: Handler
    arg: str = ""


_FLOW: dict[str, tuple[str, Handler]] = {
    "run_flow_async": ("flow.run", _flows.run_flow),
    "run_step_async": ("flow.run_step", _flows.run_step),
    "restart": ("flow.restart", _restart.restart),
    "run_metaflow_async": ("flow.run_metaflow", _flows.run_metaflow),
}
_ENDPOINT: dict[str, tuple[str, Handler]] = {
    "PUT": ("endpoints.create", _endpoints.create_endpoint),
    "GET": ("endpoints.get", _endpoints.get_endpoint),
    "PATCH": ("endpoints.update", _endpoints.update_endpoint),
    "DELETE": ("endpoints.delete", _endpoints.delete_endpoint),
}
_FILES: dict[str, tuple[str, Handler]] = {
    "PUT": ("files.put", _files.put_file),
    "GET": ("files.get", _files.get_node),
    "HEAD": ("files.head", _files.head_node),
    "DELETE": ("files.delete", _files.delete_node),
    "POST": ("files.mkdir", _files.make_folder),
    "PATCH": ("files.append", _files.append_file),
}
_SOLUTION: dict[str, tuple[str, Handler]] = {
    "GET": ("solutions.get", _solutions.get_solution),
    "PATCH": ("solutions.update", _solutions.update_solution),
    "DELETE": ("solutions.delete", _solutions.delete_solution),
}
_SOLUTIONS: dict[str, tuple[str, Handler]] = {
    "GET": ("solutions.list", _solutions.list_solutions),
    "POST": ("solutions.deploy", _solutions.deploy),
}


def _decode(raw: str) -> str:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, "path is not valid percent-encoded UTF-8") from None


def _pick(method: str, table: dict[str, tuple[str, Handler]], arg: str = "") -> Route:
    entry = table.get(method)
    if entry is None:
        allow = ", ".join(sorted(table)).encode()
        raise ApiError(405, f"method {method} not allowed here", [(b"allow", allow)])
    return Route(entry[0], entry[1], arg)


def _one(method: str, wanted: str, name: str, handler: Handler, arg: str = "") -> Route:
    return _pick(method, {wanted: (name, handler)}, arg)


def _v1(method: str, rest: str) -> Route | None:
    if rest == "jobs/status":
        return _one(method, "GET", "jobs.status", _flows.job_status_v1)
    if rest.startswith("flow/") and rest[5:] in _FLOW:
        return _one(method, "POST", *_FLOW[rest[5:]])
    if rest.startswith("http-endpoint/"):
        sub = rest[len("http-endpoint/") :]
        if sub == "list":
            return _one(method, "GET", "endpoints.list", _endpoints.list_endpoints)
        if sub.startswith("u/") and len(sub) > 2:
            return Route("endpoints.call", _endpoints.call_endpoint, _decode(sub[2:]))
        if sub and "/" not in sub:
            return _pick(method, _ENDPOINT, _decode(sub))
    return None


def _v2(method: str, rest: str, req: Request) -> Route | None:
    if rest == "files" or rest.startswith("files/"):
        sub = rest[6:]
        if sub.startswith("delete/jobs/") and sub.count("/") == 2 and len(sub) > 12 and method == "GET":
            return Route("files.delete_job", _flows.get_job_v2, _decode(sub[12:]))
        if sub == "copy" and method == "POST":
            return Route("files.copy", _files.copy_node)
        if sub == "extract" and method == "POST":
            return Route("files.extract", _files.extract_archive)
        route = _pick(method, _FILES, sub)
        if route.name == "files.get" and req.arg("expect-node-type") == "folder":
            return Route("files.list", route.handler, sub)
        return route
    if rest.startswith("jobs/") and rest.count("/") == 1 and len(rest) > 5:
        return _one(method, "GET", "jobs.get", _flows.get_job_v2, _decode(rest[5:]))
    if rest == "solutions/deployed":
        return _pick(method, _SOLUTIONS)
    if rest.startswith("solutions/deployed/"):
        parts = rest[len("solutions/deployed/") :].split("/")
        if parts == ["run"]:
            return _one(method, "POST", "solutions.run_by_name", _solutions.run_by_name)
        if parts == ["jobs"]:
            return _one(method, "GET", "solutions.jobs", _solutions.list_jobs)
        if len(parts) == 1 and parts[0]:
            return _pick(method, _SOLUTION, _decode(parts[0]))
        if len(parts) == 2 and parts[0] and parts[1] == "run":
            return _one(method, "POST", "solutions.run", _solutions.run_by_id, _decode(parts[0]))
        if len(parts) == 2 and parts[0] and parts[1] == "jobs":
            return _one(method, "GET", "solutions.jobs", _solutions.list_jobs, _decode(parts[0]))
    return None


def resolve(req: Request) -> Route:
    """The route for ``req``; :class:`ApiError` 404 (no such path) or 405 (wrong method)."""
    path = req.path
    route: Route | None = None
    if path.startswith("/api/v1/"):
        route = _v1(req.method, path[8:])
    elif path.startswith("/api/v2/"):
        route = _v2(req.method, path[8:], req)
    if route is None:
        raise ApiError(404, f"no API at {req.raw_path}")
    return route
