"""Wire tests of `ib.endpoints` (reference/04-http-endpoint-api.txt, the v1 error convention)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from instabase_async import (
    AsyncInstabase,
    HttpEndpoint,
    OperationError,
    ResponseValidationError,
    RetryPolicy,
)

BASE = "https://ib.test"
pytestmark = pytest.mark.usefixtures("httpx_transport")
TOKEN = "tok-endpoints-0123456789"
ROOT = "/api/v1/http-endpoint"
HANDLER = "/jaydoe/my_repo/fs/Instabase Drive/handlers/hello.py"
ENDPOINT = {"id": "my-endpoint-id", "path": "helloworld", "handler_script_path": HANDLER, "state": "ENABLED"}


def client() -> AsyncInstabase:
    return AsyncInstabase(BASE, TOKEN, retry=RetryPolicy(initial_backoff=0))


def raw_path(request: httpx.Request) -> str:
    return request.url.raw_path.decode().split("?")[0]


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return sorted(request.url.params.multi_items())


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


async def collect(items: AsyncIterator[HttpEndpoint]) -> list[HttpEndpoint]:
    return [item async for item in items]


@pytest.mark.anyio
async def test_create_puts_path_and_handler(router: respx.MockRouter) -> None:
    """endpoints.create PUTs <id> with {"path", "handler_script_path"} and returns the answered id."""
    route = router.put(f"{ROOT}/my-endpoint-id").respond(201, json={"id": "my-endpoint-id"})
    async with client() as ib:
        assert await ib.endpoints.create(
            "my-endpoint-id", path="helloworld", handler_script_path=HANDLER
        ) == ("my-endpoint-id")
    request = route.calls.last.request
    assert request.method == "PUT"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert body(request) == {"path": "helloworld", "handler_script_path": HANDLER}


@pytest.mark.anyio
async def test_endpoint_id_is_one_encoded_segment(router: respx.MockRouter) -> None:
    """An endpoint id is percent-encoded as one path segment ('/' is refused: SPEC "Edges")."""
    route = router.get(path__startswith=f"{ROOT}/").respond(200, json={"id": "a b?c"})
    async with client() as ib:
        await ib.endpoints.get("a b?c")
    assert raw_path(route.calls.last.request) == f"{ROOT}/a%20b%3Fc"


@pytest.mark.anyio
async def test_get_parses_the_endpoint(router: respx.MockRouter) -> None:
    """endpoints.get GETs <id> and returns an HttpEndpoint."""
    route = router.get(f"{ROOT}/my-endpoint-id").respond(200, json=ENDPOINT)
    async with client() as ib:
        endpoint = await ib.endpoints.get("my-endpoint-id")
    assert route.calls.last.request.content == b""
    assert endpoint == HttpEndpoint(
        id="my-endpoint-id", path="helloworld", handler_script_path=HANDLER, state="ENABLED"
    )


@pytest.mark.anyio
async def test_update_patches_only_the_given_keys(router: respx.MockRouter) -> None:
    """endpoints.update PATCHes <id> with only the keys that were given, and returns the id."""
    route = router.patch(f"{ROOT}/my-endpoint-id").respond(200, json={"id": "my-endpoint-id"})
    async with client() as ib:
        assert await ib.endpoints.update("my-endpoint-id", enabled=False) == "my-endpoint-id"
        await ib.endpoints.update("my-endpoint-id", path="other-path_2")
        await ib.endpoints.update("my-endpoint-id", path="p", handler_script_path=HANDLER, enabled=True)
    assert [body(c.request) for c in route.calls] == [
        {"enabled": False},
        {"path": "other-path_2"},
        {"path": "p", "handler_script_path": HANDLER, "enabled": True},
    ]
    assert all(c.request.method == "PATCH" for c in route.calls)


@pytest.mark.anyio
async def test_delete(router: respx.MockRouter) -> None:
    """endpoints.delete sends DELETE <id> with no body; an empty 200 is success."""
    route = router.delete(f"{ROOT}/my-endpoint-id").respond(200)
    async with client() as ib:
        assert await ib.endpoints.delete("my-endpoint-id") is None
    assert route.calls.last.request.content == b""


@pytest.mark.anyio
async def test_list_query_names_follow_the_syntax_line(router: respx.MockRouter) -> None:
    """endpoints.list GETs list with id/path/handler/state/offset/limit; None filters are absent."""
    route = router.get(f"{ROOT}/list").respond(200, json={"endpoints": [ENDPOINT]})
    async with client() as ib:
        found = await collect(
            ib.endpoints.list(
                endpoint_id="my-endpoint-id", path="helloworld", handler_script_path=HANDLER, enabled=True
            )
        )
        await collect(ib.endpoints.list(enabled=False))
        await collect(ib.endpoints.list())
    assert found == [HttpEndpoint(**ENDPOINT)]
    first, second, third = (c.request for c in route.calls)
    assert query(first) == sorted(
        [
            ("id", "my-endpoint-id"),
            ("path", "helloworld"),
            ("handler", HANDLER),
            ("state", "ENABLED"),
            ("offset", "0"),
            ("limit", "100"),
        ]
    )
    assert query(second) == [("limit", "100"), ("offset", "0"), ("state", "DISABLED")]
    assert query(third) == [("limit", "100"), ("offset", "0")]


@pytest.mark.anyio
async def test_list_pages_until_a_short_page(router: respx.MockRouter) -> None:
    """endpoints.list pages by offset and ends at a short page."""
    route = router.get(f"{ROOT}/list")
    route.side_effect = [
        httpx.Response(200, json={"endpoints": [{"id": "a"}, {"id": "b"}]}),
        httpx.Response(200, json={"endpoints": [{"id": "c"}]}),
    ]
    async with client() as ib:
        found = await collect(ib.endpoints.list(page_size=2))
    assert [e.id for e in found] == ["a", "b", "c"]
    assert [query(c.request) for c in route.calls] == [
        [("limit", "2"), ("offset", "0")],
        [("limit", "2"), ("offset", "2")],
    ]


@pytest.mark.anyio
async def test_list_ends_at_an_empty_page(router: respx.MockRouter) -> None:
    """An empty page after a full one ends the listing."""
    route = router.get(f"{ROOT}/list")
    route.side_effect = [
        httpx.Response(200, json={"id": "x", "endpoints": [{"id": "a"}, {"id": "b"}]}),
        httpx.Response(200, json={"endpoints": []}),
    ]
    async with client() as ib:
        assert [e.id for e in await collect(ib.endpoints.list(page_size=2))] == ["a", "b"]
    assert route.call_count == 2


MANAGEMENT: dict[str, tuple[str, str, Callable[[AsyncInstabase], Awaitable[Any]]]] = {
    "create": ("PUT", "/e1", lambda ib: ib.endpoints.create("e1", path="p", handler_script_path=HANDLER)),
    "get": ("GET", "/e1", lambda ib: ib.endpoints.get("e1")),
    "update": ("PATCH", "/e1", lambda ib: ib.endpoints.update("e1", enabled=True)),
    "delete": ("DELETE", "/e1", lambda ib: ib.endpoints.delete("e1")),
    "list": ("GET", "/list", lambda ib: collect(ib.endpoints.list())),
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(MANAGEMENT))
async def test_v1_error_body_is_operation_error(router: respx.MockRouter, name: str) -> None:
    """Each management call raises OperationError for HTTP 200 {"status": "ERROR", "msg": ...}."""
    method, suffix, call = MANAGEMENT[name]
    route = router.route(method=method, path=ROOT + suffix).respond(
        200, json={"status": "ERROR", "msg": "endpoint exists"}
    )
    async with client() as ib:
        with pytest.raises(OperationError) as info:
            await call(ib)
    assert route.call_count == 1
    assert info.value.message == "endpoint exists"
    assert info.value.status_code == 200
    assert info.value.method == method


@pytest.mark.anyio
@pytest.mark.parametrize("answer", [{}, {"path": "x"}, ["x"], {"id": ""}])
async def test_get_without_id_is_validation_error(router: respx.MockRouter, answer: Any) -> None:
    """A get answer without an id raises ResponseValidationError."""
    router.get(f"{ROOT}/e1").respond(200, json=answer)
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.endpoints.get("e1")


@pytest.mark.anyio
async def test_create_without_id_is_validation_error(router: respx.MockRouter) -> None:
    """A create answer without an id raises ResponseValidationError."""
    router.put(f"{ROOT}/e1").respond(201, json={"status": "OK"})
    async with client() as ib:
        with pytest.raises(ResponseValidationError):
            await ib.endpoints.create("e1", path="p", handler_script_path=HANDLER)


@pytest.mark.anyio
async def test_call_get_returns_the_handler_response(router: respx.MockRouter) -> None:
    """endpoints.call GETs /u/<path> with auth and returns the handler's response as it is."""
    route = router.get(f"{ROOT}/u/helloworld").respond(200, text="Hello World")
    async with client() as ib:
        response = await ib.endpoints.call("helloworld")
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.text == "Hello World"
    request = route.calls.last.request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.url.query == b""


@pytest.mark.anyio
@pytest.mark.parametrize("status", [404, 400, 500, 503])
async def test_call_returns_error_statuses_as_they_are(router: respx.MockRouter, status: int) -> None:
    """A non-2xx from the handler is returned, not raised, and not retried."""
    route = router.get(f"{ROOT}/u/helloworld").respond(status, json={"why": "handler says so"})
    async with client() as ib:
        response = await ib.endpoints.call("helloworld")
    assert response.status_code == status
    assert response.json() == {"why": "handler says so"}
    assert route.call_count == 1


@pytest.mark.anyio
async def test_call_v1_error_body_is_returned(router: respx.MockRouter) -> None:
    """A handler answering {"status": "ERROR"} is the handler's own response, not an OperationError."""
    router.get(f"{ROOT}/u/helloworld").respond(200, json={"status": "ERROR", "msg": "mine"})
    async with client() as ib:
        response = await ib.endpoints.call("helloworld")
    assert response.json() == {"status": "ERROR", "msg": "mine"}


@pytest.mark.anyio
async def test_call_methods_bodies_params_and_headers(router: respx.MockRouter) -> None:
    """endpoints.call sends any documented method with params, a JSON or raw body and extra headers."""
    route = router.route(path=f"{ROOT}/u/hook_1").respond(200, json={"ok": True})
    async with client() as ib:
        await ib.endpoints.call("hook_1", "PUT", json={"a": 1}, params={"x": "1", "y": ["2", "3"]})
        await ib.endpoints.call("hook_1", "patch", content="raw text", headers={"X-Custom": "v"})
        await ib.endpoints.call("hook_1", "DELETE")
        await ib.endpoints.call("hook_1", "POST", content=b"\x00\x01")
    put, patch, delete, post = (c.request for c in route.calls)
    assert put.method == "PUT"
    assert body(put) == {"a": 1}
    assert put.headers["Content-Type"] == "application/json"
    assert put.url.params.multi_items() == [("x", "1"), ("y", "2"), ("y", "3")]
    assert patch.method == "PATCH"
    assert patch.content == b"raw text"
    assert patch.headers["X-Custom"] == "v"
    assert patch.headers["Authorization"] == f"Bearer {TOKEN}"
    assert delete.method == "DELETE"
    assert delete.content == b""
    assert post.method == "POST"
    assert post.content == b"\x00\x01"
