"""HTTP Endpoint API v1: create, get, update, delete, list custom endpoints, and call them.

Management calls follow the v1 convention (a refusal is HTTP 200 with ``status: ERROR``), with
the success bodies the document shows (``{"id"}``, the endpoint itself, ``{"endpoints"}``); a
create answers 201. A call at ``/u/<path>`` runs the endpoint's handler script (see
:mod:`._handlers`); an unknown or disabled endpoint is a 404.
"""

from __future__ import annotations

import re
from typing import Any

import anyio.to_thread

from ._asgi import ApiError, Reply, Request, V1Error, json_reply
from ._check import as_object, opt_bool, req_str, v1_fail
from ._handlers import HandlerCall, run_handler
from ._state import FakeEndpoint, State
from ._store import PathError

__all__ = [
    "PATH_RE",
    "call_endpoint",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "update_endpoint",
]

#: What an endpoint path may be made of, as documented.
PATH_RE = re.compile(r"[A-Za-z0-9_-]+")


def check_path(value: Any) -> str:
    """An endpoint ``path``: a non-empty string of ``[A-Za-z0-9_-]``."""
    if not isinstance(value, str) or not PATH_RE.fullmatch(value):
        raise V1Error("path must be a non-empty string of the characters A-Z, a-z, 0-9, _ and -")
    return value


def _path_taken(state: State, path: str, by_other_than: str) -> bool:
    return any(e.path == path and e.id != by_other_than for e in state.endpoints.values())


def _endpoint(state: State, endpoint_id: str) -> FakeEndpoint:
    endpoint = state.endpoints.get(endpoint_id)
    if endpoint is None:
        raise V1Error(f"HTTP endpoint {endpoint_id!r} not found")
    return endpoint


async def create_endpoint(state: State, req: Request, arg: str) -> Reply:
    """``PUT /api/v1/http-endpoint/<id> {"path", "handler_script_path"}`` -> 201 ``{"id"}``."""
    body = as_object(await req.json(v1=True), v1_fail)
    path = check_path(body.get("path"))
    script = req_str(body, "handler_script_path", v1_fail)
    with state.lock:
        if arg in state.endpoints:
            raise V1Error(f"an HTTP endpoint with id {arg!r} exists already")
        if _path_taken(state, path, arg):
            raise V1Error(f"the path {path!r} is used by another HTTP endpoint")
        state.endpoints[arg] = FakeEndpoint(arg, path, script)
    return json_reply({"id": arg}, status=201)


async def get_endpoint(state: State, req: Request, arg: str) -> Reply:
    """``GET /api/v1/http-endpoint/<id>`` -> ``{"id", "path", "handler_script_path", "state"}``."""
    with state.lock:
        return json_reply(_endpoint(state, arg).wire())


async def update_endpoint(state: State, req: Request, arg: str) -> Reply:
    """``PATCH /api/v1/http-endpoint/<id>``: only the given keys change; empty strings are refused;
    ``enabled`` switches the state."""
    body = as_object(await req.json(v1=True), v1_fail)
    if "id" in body and body["id"] != arg:
        raise V1Error("the id in the body differs from the id in the URL")
    path = check_path(body["path"]) if "path" in body else None
    script = req_str(body, "handler_script_path", v1_fail) if "handler_script_path" in body else None
    enabled = opt_bool(body, "enabled", v1_fail)
    with state.lock:
        endpoint = _endpoint(state, arg)
        if path is not None:
            if _path_taken(state, path, arg):
                raise V1Error(f"the path {path!r} is used by another HTTP endpoint")
            endpoint.path = path
        if script is not None:
            endpoint.handler_script_path = script
        if enabled is not None:
            endpoint.enabled = enabled
    return json_reply({"id": arg})


async def delete_endpoint(state: State, req: Request, arg: str) -> Reply:
    """``DELETE /api/v1/http-endpoint/<id>`` -> 200 ``{"status": "OK"}``."""
    with state.lock:
        _endpoint(state, arg)
        del state.endpoints[arg]
    return json_reply({"status": "OK"})


def _query_int(req: Request, key: str) -> int | None:
    raw = req.arg(key)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise V1Error(f"{key} must be an integer") from None
    if value < 0:
        raise V1Error(f"{key} must be >= 0")
    return value


async def list_endpoints(state: State, req: Request, _arg: str) -> Reply:
    """``GET /api/v1/http-endpoint/list?id=&path=&handler=&state=&offset=&limit=``.

    ``handler_script_path=`` and ``enabled=true|false`` (the names of the document's table) are
    accepted too. Without ``limit`` every match is returned.
    """
    wanted_id = req.arg("id")
    wanted_path = req.arg("path")
    wanted_handler = req.arg("handler") or req.arg("handler_script_path")
    wanted_state = req.arg("state")
    if wanted_state is not None and wanted_state not in ("ENABLED", "DISABLED"):
        raise V1Error("state must be ENABLED or DISABLED")
    enabled = req.arg("enabled")
    if enabled is not None:
        if enabled.lower() not in ("true", "false"):
            raise V1Error("enabled must be true or false")
        wanted_state = "ENABLED" if enabled.lower() == "true" else "DISABLED"
    offset = _query_int(req, "offset") or 0
    limit = _query_int(req, "limit")
    with state.lock:
        found = [
            e.wire()
            for e in state.endpoints.values()
            if (wanted_id is None or e.id == wanted_id)
            and (wanted_path is None or e.path == wanted_path)
            and (wanted_handler is None or e.handler_script_path == wanted_handler)
            and (wanted_state is None or (e.enabled == (wanted_state == "ENABLED")))
        ]
    page = found[offset:] if limit is None else found[offset : offset + limit]
    body: dict[str, Any] = {"endpoints": page}
    if wanted_id is not None:
        body["id"] = wanted_id
    return json_reply(body)


async def call_endpoint(state: State, req: Request, arg: str) -> Reply:
    """``ANY /api/v1/http-endpoint/u/<path>[/...]``: run the handler in a worker thread."""
    name = arg.split("/", 1)[0]
    with state.lock:
        endpoint = next((e for e in state.endpoints.values() if e.path == name and e.enabled), None)
        script_path = endpoint.handler_script_path if endpoint else None
    if script_path is None:
        raise ApiError(404, f"no enabled HTTP endpoint at u/{name}")
    try:
        source = state.read_bytes(script_path)
    except PathError:
        source = None
    if source is None:
        raise ApiError(500, f"handler script {script_path!r} not found in the file store")
    server = req.scope.get("server") or ("localhost", None)
    call = HandlerCall(
        method=req.method,
        raw_path=req.path,
        query_string=req.query_string,
        headers=req.headers,
        body=await req.body(),
        scheme=req.scope.get("scheme", "http"),
        server=(server[0], server[1]),
    )
    result = await anyio.to_thread.run_sync(run_handler, source, script_path, call)
    return Reply(result.status, result.headers, result.body)
