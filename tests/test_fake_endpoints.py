"""The fake Instabase at the wire: the HTTP Endpoint API v1 and running handler scripts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import connect

from instabase_async.testing import FakeInstabase

API = "/api/v1/http-endpoint"
SCRIPTS = "me/repo/fs/Instabase Drive/handlers"

HELLO = """\
from flask import Request, Response
from typing import Any

def handler(request: Request, *args: Any, **kwargs: Any):
    if request.method == "GET":
        return Response("Hello World", mimetype="text/plain")
    else:
        return Response(status=404)
"""

ECHO = """\
import json
from flask import Response

def handler(request):
    body = {
        "method": request.method,
        "path": request.path,
        "args": request.args.to_dict(flat=False),
        "json": request.get_json(silent=True),
        "header": request.headers.get("X-Custom"),
    }
    return Response(json.dumps(body), status=201, mimetype="application/json", headers={"X-Reply": "yes"})
"""

PLAIN = "def handler(request):\n    return 'just text'\n"
HTML = """\
from flask import Response

def handler(request):
    return Response('<b>x</b>', mimetype='text/html')
"""
BOOM = "def handler(request):\n    raise RuntimeError('kaput')\n"
DICT = "def handler(request):\n    return {'a': 1}\n"
NO_HANDLER = "x = 1\n"


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh fake."""
    instance = FakeInstabase()
    yield instance
    instance.close()


@pytest.mark.anyio
async def test_create_get_update_delete_an_endpoint(fake: FakeInstabase) -> None:
    """PUT answers 201 {id}; GET the endpoint; PATCH changes only given keys; DELETE answers 200."""
    async with connect(fake) as http:
        created = await http.put(
            f"{API}/ep1", json={"path": "hello", "handler_script_path": f"{SCRIPTS}/h.py"}
        )
        got = (await http.get(f"{API}/ep1")).json()
        patched = await http.patch(f"{API}/ep1", json={"enabled": False})
        after_patch = (await http.get(f"{API}/ep1")).json()
        moved = (await http.patch(f"{API}/ep1", json={"id": "ep1", "path": "hi"})).json()
        deleted = await http.delete(f"{API}/ep1")
        gone = (await http.get(f"{API}/ep1")).json()
    assert created.status_code == 201
    assert created.json() == {"id": "ep1"}
    assert got == {"id": "ep1", "path": "hello", "handler_script_path": f"{SCRIPTS}/h.py", "state": "ENABLED"}
    assert patched.json() == {"id": "ep1"}
    assert after_patch["state"] == "DISABLED"
    assert after_patch["path"] == "hello"
    assert moved == {"id": "ep1"}
    assert deleted.status_code == 200
    assert gone["status"] == "ERROR"


@pytest.mark.anyio
async def test_endpoint_management_refusals_are_v1_errors(fake: FakeInstabase) -> None:
    """Bad paths, empty strings, duplicate ids or paths and unknown ids answer HTTP 200 with status ERROR."""
    fake.add_endpoint("taken", path="used", handler_script_path=f"{SCRIPTS}/h.py")
    async with connect(fake) as http:
        answers = [
            await http.put(f"{API}/e", json={"path": "has space", "handler_script_path": "x.py"}),
            await http.put(f"{API}/e", json={"path": "a/b", "handler_script_path": "x.py"}),
            await http.put(f"{API}/e", json={"path": "ok"}),
            await http.put(f"{API}/taken", json={"path": "other", "handler_script_path": "x.py"}),
            await http.put(f"{API}/e", json={"path": "used", "handler_script_path": "x.py"}),
            await http.patch(f"{API}/taken", json={"path": ""}),
            await http.patch(f"{API}/taken", json={"handler_script_path": ""}),
            await http.patch(f"{API}/taken", json={"enabled": "no"}),
            await http.patch(f"{API}/taken", json={"id": "other"}),
            await http.patch(f"{API}/missing", json={"enabled": True}),
            await http.delete(f"{API}/missing"),
        ]
    assert [(r.status_code, r.json()["status"]) for r in answers] == [(200, "ERROR")] * len(answers)


@pytest.mark.anyio
async def test_list_endpoints_filters_and_echoes_id(fake: FakeInstabase) -> None:
    """The list call filters by id, path, handler and state, pages by offset/limit, and echoes a given id."""
    fake.add_endpoint("a", path="pa", handler_script_path="h1.py")
    fake.add_endpoint("b", path="pb", handler_script_path="h2.py", enabled=False)
    fake.add_endpoint("c", path="pc", handler_script_path="h1.py")
    async with connect(fake) as http:
        everything = (await http.get(f"{API}/list")).json()
        by_id = (await http.get(f"{API}/list", params={"id": "b"})).json()
        by_handler = (await http.get(f"{API}/list", params={"handler": "h1.py"})).json()
        disabled = (await http.get(f"{API}/list", params={"state": "DISABLED"})).json()
        enabled = (await http.get(f"{API}/list", params={"enabled": "true"})).json()
        paged = (await http.get(f"{API}/list", params={"offset": 1, "limit": 1})).json()
        by_path = (await http.get(f"{API}/list", params={"path": "pc"})).json()
        bad = (await http.get(f"{API}/list", params={"state": "ON"})).json()
    assert [e["id"] for e in everything["endpoints"]] == ["a", "b", "c"]
    assert "id" not in everything
    assert by_id["id"] == "b"
    assert by_id["endpoints"] == [
        {"id": "b", "path": "pb", "handler_script_path": "h2.py", "state": "DISABLED"}
    ]
    assert [e["id"] for e in by_handler["endpoints"]] == ["a", "c"]
    assert [e["id"] for e in disabled["endpoints"]] == ["b"]
    assert [e["id"] for e in enabled["endpoints"]] == ["a", "c"]
    assert [e["id"] for e in paged["endpoints"]] == ["b"]
    assert [e["id"] for e in by_path["endpoints"]] == ["c"]
    assert bad["status"] == "ERROR"


@pytest.mark.anyio
async def test_call_runs_the_documented_example_handler(fake: FakeInstabase) -> None:
    """The document's hello handler, stored via the files API, answers GET with text/plain, PUT with 404."""
    async with connect(fake) as http:
        await http.put(f"/api/v2/files/{SCRIPTS.replace(' ', '%20')}/hello.py", content=HELLO.encode())
        await http.put(
            f"{API}/my-endpoint-id", json={"path": "helloworld", "handler_script_path": f"{SCRIPTS}/hello.py"}
        )
        hello = await http.get(f"{API}/u/helloworld")
        other = await http.put(f"{API}/u/helloworld", content=b"x")
    assert hello.status_code == 200
    assert hello.text == "Hello World"
    assert hello.headers["content-type"].startswith("text/plain")
    assert other.status_code == 404


@pytest.mark.anyio
async def test_call_passes_the_request_and_returns_the_response(fake: FakeInstabase) -> None:
    """The handler sees method, path, repeated args, JSON body and headers; its status and headers return."""
    fake.add_endpoint("echo", path="echo", handler_script_path=f"{SCRIPTS}/echo.py", script=ECHO)
    async with connect(fake) as http:
        response = await http.patch(
            f"{API}/u/echo",
            params=[("a", "1"), ("a", "2")],
            json={"k": "v"},
            headers={"X-Custom": "hi"},
        )
    assert response.status_code == 201
    assert response.headers["x-reply"] == "yes"
    assert response.json() == {
        "method": "PATCH",
        "path": f"{API}/u/echo",
        "args": {"a": ["1", "2"]},
        "json": {"k": "v"},
        "header": "hi",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("script", "status", "needle"),
    [
        (PLAIN, 200, "just text"),
        (HTML, 500, "text/html"),
        (BOOM, 500, "kaput"),
        (DICT, 500, "dict"),
        (NO_HANDLER, 500, "handler"),
    ],
)
async def test_call_applies_the_return_value_rules(
    fake: FakeInstabase, script: str, status: int, needle: str
) -> None:
    """A str is text/plain; a non-JSON/text response, an exception or another return type is a 500."""
    fake.add_endpoint("e", path="p", handler_script_path=f"{SCRIPTS}/p.py", script=script)
    async with connect(fake) as http:
        response = await http.get(f"{API}/u/p")
    assert response.status_code == status
    assert needle in response.text


@pytest.mark.anyio
async def test_call_of_unknown_disabled_or_scriptless_endpoint(fake: FakeInstabase) -> None:
    """An unknown or disabled endpoint is a 404; a missing handler script is a 500."""
    fake.add_endpoint("off", path="off", handler_script_path=f"{SCRIPTS}/p.py", script=PLAIN, enabled=False)
    fake.add_endpoint("lost", path="lost", handler_script_path=f"{SCRIPTS}/lost.py")
    async with connect(fake) as http:
        unknown = await http.get(f"{API}/u/nothing")
        disabled = await http.get(f"{API}/u/off")
        lost = await http.get(f"{API}/u/lost")
    assert unknown.status_code == disabled.status_code == 404
    assert lost.status_code == 500
