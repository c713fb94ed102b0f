"""`ib.endpoints`: custom HTTP endpoints (`/api/v1/http-endpoint`, the v1 error convention)."""

from __future__ import annotations

import builtins
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any, Final
from urllib.parse import quote

import httpx

from .._convert import omit_none, require_str, structure, structure_list
from .._errors import ResponseValidationError
from .._http import Params
from .._models import HttpEndpoint
from .._validate import flag, optional_text, path_segment, positive_int, text
from ._base import Resource, paginate_by_offset

__all__ = ["Endpoints"]

_ROOT: Final = "/api/v1/http-endpoint"
_PATH_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def endpoint_path(value: Any) -> str:
    """An endpoint path: only `[A-Za-z0-9_-]`, as the document requires."""
    text("path", value)
    if not _PATH_RE.fullmatch(value):
        raise ValueError(f"path may contain only letters, digits, '_' and '-', got {value!r}")
    return str(value)


class Endpoints(Resource):
    """Create, inspect, change and call custom HTTP endpoints."""

    __slots__ = ()

    def _url(self, endpoint_id: str) -> str:
        return self._http.url(f"{_ROOT}/{quote(path_segment('endpoint_id', endpoint_id), safe='')}")

    async def create(self, endpoint_id: str, *, path: str, handler_script_path: str) -> str:
        """Create an endpoint at `/u/<path>` (`PUT <id>`); returns its id."""
        url = self._url(endpoint_id)
        body = {
            "path": endpoint_path(path),
            "handler_script_path": text("handler_script_path", handler_script_path),
        }
        # A create: answered "exists already" if sent again after it arrived, so never re-sent.
        response = await self._http.send("PUT", url, json_body=body, v1=True, idempotent=False)
        return require_str(self._http.json(response), "id", "create endpoint")

    async def get(self, endpoint_id: str) -> HttpEndpoint:
        """One endpoint's path, handler and state."""
        response = await self._http.send("GET", self._url(endpoint_id), v1=True)
        return structure(self._http.json(response), HttpEndpoint, "HTTP endpoint")

    async def update(
        self,
        endpoint_id: str,
        *,
        path: str | None = None,
        handler_script_path: str | None = None,
        enabled: bool | None = None,
    ) -> str:
        """Change only the given keys (`PATCH <id>`); returns the id. Empty strings are refused."""
        url = self._url(endpoint_id)
        body = omit_none(
            path=None if path is None else endpoint_path(path),
            handler_script_path=optional_text("handler_script_path", handler_script_path),
            enabled=flag("enabled", enabled),
        )
        if not body:
            raise ValueError("update needs at least one of path, handler_script_path, enabled")
        response = await self._http.send("PATCH", url, json_body=body, v1=True)
        answer = self._http.json(response)
        return (
            require_str(answer, "id", "update endpoint")
            if isinstance(answer, Mapping) and "id" in answer
            else endpoint_id
        )

    async def delete(self, endpoint_id: str) -> None:
        """Delete an endpoint."""
        await self._http.send("DELETE", self._url(endpoint_id), v1=True)

    async def list(
        self,
        *,
        endpoint_id: str | None = None,
        path: str | None = None,
        handler_script_path: str | None = None,
        enabled: bool | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[HttpEndpoint]:
        """Every matching endpoint (`GET list`), paged with offset/limit; a short page ends it."""
        filters = {
            "id": optional_text("endpoint_id", endpoint_id),
            "path": optional_text("path", path),
            "handler": optional_text("handler_script_path", handler_script_path),
            "state": None if flag("enabled", enabled) is None else ("ENABLED" if enabled else "DISABLED"),
        }
        positive_int("page_size", page_size, wrong_type=ValueError)
        http = self._http

        async def page(offset: int) -> builtins.list[HttpEndpoint]:
            params: Params = {**filters, "offset": offset, "limit": page_size}
            body = self._http.json(await http.send("GET", http.url(_ROOT + "/list"), params=params, v1=True))
            if not isinstance(body, Mapping):
                raise ResponseValidationError("the endpoint list is not a JSON object")
            return structure_list(body.get("endpoints", []), HttpEndpoint, "HTTP endpoint", "endpoints")

        async for item in paginate_by_offset(page_size, page):
            yield item

    async def call(
        self,
        path: str,
        method: str = "GET",
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call the handler at `/u/<path>`; its response is returned as it is, whatever its status."""
        endpoint_path(path)
        method = method.upper()
        if method not in _METHODS:
            raise ValueError(f"unsupported HTTP method {method!r}")
        if json is not None and content is not None:
            raise ValueError("pass json or content, not both")
        http = self._http
        return await http.send(
            method,
            http.url(f"{_ROOT}/u/{path}"),
            params=params,
            json_body=json,
            content=content.encode() if isinstance(content, str) else content,
            headers=headers,
            check_status=False,
        )
