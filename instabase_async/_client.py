"""`AsyncInstabase`: configuration, lifecycle and the namespaces."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final

import httpx

from ._http import HTTP, Params, is_loopback
from ._models import PollPolicy, RetryPolicy
from ._resources.endpoints import Endpoints
from ._resources.files import Files
from ._resources.flows import Flows
from ._resources.jobs import Jobs
from ._resources.solutions import Solutions
from ._validate import header_value, http_method, positive_int, request_headers

__all__ = ["AsyncInstabase"]

DEFAULT_TIMEOUT: Final = 60.0
DEFAULT_MAX_CONNECTIONS: Final = 64
# The policies' defaults, as the signature shows them (both are frozen, so one instance serves all).
DEFAULT_RETRY: Final = RetryPolicy()
DEFAULT_POLL: Final = PollPolicy()


class AsyncInstabase:
    """An asynchronous Instabase client (asyncio or trio).

    ```python
    async with AsyncInstabase(base_url="https://www.instabase.com", token="...") as ib:
        job = await ib.flows.run(flow_path, input_dir=input_dir)
        status = await job.wait(timeout=600)
    ```

    `base_url` is the root of the instance (it may carry a path prefix); the client adds
    `/api/v1/...` and `/api/v2/...` itself. The token is sent only to that origin and never
    appears in a repr, a log record or an exception. `timeout` bounds each HTTP request;
    `max_connections` bounds concurrent requests (more queue in the client, never time out in
    the pool). `transport=` or `http_client=` replace the network (an injected `http_client`
    stays the caller's to close). `context="my-org"` sends `IB-Context: my-org` on every request
    (the organization or user context of Instabase's own scripts and SDK).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        poll: PollPolicy | None = DEFAULT_POLL,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
        allow_insecure_http: bool = False,
        context: str | None = None,
    ) -> None:
        base = _instance_root(base_url, allow_insecure_http)
        if not isinstance(token, str) or not token:
            raise ValueError("token must be a non-empty string")
        if any(c in token for c in "\r\n"):
            raise ValueError("token must not contain line breaks")
        if not all("!" <= c <= "~" for c in token):  # said without quoting it: it is a secret
            raise ValueError("token must be printable ASCII without spaces")
        positive_int("max_connections", max_connections, wrong_type=ValueError)
        _check_timeout(timeout)
        if transport is not None and http_client is not None:
            raise ValueError("pass transport or http_client, not both")
        headers = request_headers(headers)
        if headers and any(k.lower() == "authorization" for k in headers):
            raise ValueError("pass the token as token=, not as an Authorization header")
        if context is not None:
            if headers and any(k.lower() == "ib-context" for k in headers):
                raise ValueError("pass the context as context= or as an IB-Context header, not both")
            headers = {**(headers or {}), "IB-Context": header_value("context", context)}
        self._base_url = base
        self._poll = poll or PollPolicy()
        self._http = HTTP(
            base_url=self._base_url,
            token=token,
            timeout=timeout,
            max_connections=max_connections,
            retry=retry or RetryPolicy(),
            headers=headers,
            transport=transport,
            http_client=http_client,
        )
        self.flows: Final = Flows(self)
        self.solutions: Final = Solutions(self)
        self.files: Final = Files(self)
        self.endpoints: Final = Endpoints(self)
        self.jobs: Final = Jobs(self)

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncInstabase:
        """A client for `INSTABASE_URL` with `INSTABASE_TOKEN`; other options as keywords."""
        base_url = os.environ.get("INSTABASE_URL")
        token = os.environ.get("INSTABASE_TOKEN")
        missing = [
            name for name, value in (("INSTABASE_URL", base_url), ("INSTABASE_TOKEN", token)) if not value
        ]
        if missing:
            raise ValueError(f"set {' and '.join(missing)} in the environment")
        assert base_url is not None and token is not None
        return cls(base_url, token, **kwargs)

    @property
    def base_url(self) -> str:
        """The instance's root URL, without a trailing slash."""
        return self._base_url

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request."""
        return self._http.retry

    @property
    def poll(self) -> PollPolicy:
        """The default poll policy of waits."""
        return self._poll

    def __repr__(self) -> str:
        return f"AsyncInstabase(base_url={self._base_url!r})"

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AsyncInstabase:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (not an injected `http_client`, which stays the caller's)."""
        await self._http.aclose()

    def __del__(self) -> None:
        http = getattr(self, "_http", None)
        if http is not None and http.owns_open_client:
            warnings.warn(
                f"{self!r} was not closed: use `async with` or `await client.aclose()`",
                ResourceWarning,
                stacklevel=2,
            )

    # ------------------------------------------------------------------ any other API

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Call any other Instabase API (`path` such as `/api/v1/...`) with the same auth,
        retries and error mapping, including the v1 ERROR convention for `/api/v1/` paths."""
        method = http_method(method)
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"path must be an API path starting with '/', got {path!r}")
        if json is not None and content is not None:
            raise ValueError("pass json or content, not both")
        headers = request_headers(headers)
        if isinstance(content, str):
            content = content.encode("utf-8")
        http = self._http
        url = http.url(path)
        try:
            httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"path is not a valid URL path ({exc}): {path[:100]!r}") from None
        response = await http.send(
            method, url, params=params, json_body=json, content=content, headers=headers
        )
        if path.startswith("/api/v1/"):
            http.check_v1(response)
        return response


def _instance_root(base_url: Any, allow_insecure_http: bool) -> str:
    """The instance's root URL, checked, without a trailing slash."""
    if not isinstance(base_url, str) or not base_url:
        raise ValueError("base_url must be a non-empty URL such as https://www.instabase.com")
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as exc:
        raise ValueError(
            f"base_url is not a valid URL ({exc}): pass the instance root, such as https://www.instabase.com"
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if url.scheme == "http" and not is_loopback(url.host) and not allow_insecure_http:
        raise ValueError(
            f"refusing to send the token over plain http to {url.host}; "
            "use https, or pass allow_insecure_http=True"
        )
    if url.query or url.fragment:
        raise ValueError("base_url must not have a query or fragment")
    root = str(url.copy_with(query=None, fragment=None)).rstrip("/")
    for api in ("/api/v1", "/api/v2"):
        if url.path.rstrip("/").endswith(api):
            # The client adds /api/v1/... itself: this would poll /api/v1/api/v1/...
            raise ValueError(f"base_url must be the instance root, not its API: pass {root[: -len(api)]!r}")
    return root


def _check_timeout(timeout: Any) -> None:
    """Seconds (> 0), or an `httpx.Timeout` with connect/read/write/pool apart."""
    if isinstance(timeout, httpx.Timeout):
        return
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be seconds or an httpx.Timeout, not {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0, got {timeout!r}")
