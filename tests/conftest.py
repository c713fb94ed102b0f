"""Shared fixtures: every async test runs on asyncio and on trio (anyio's pytest plugin)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import respx
from pg_cluster import find_bindir, throwaway_cluster


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each `@pytest.mark.anyio` test on both event loops."""
    return str(request.param)


@pytest.fixture
def httpx_transport(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Use httpx's own transport, which respx patches; load no CA bundle, since nothing leaves the process."""
    monkeypatch.setenv("INSTABASE_ASYNC_TRANSPORT", "httpx")
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path_factory.getbasetemp()))


@pytest.fixture
def router(httpx_transport: None) -> Iterator[respx.MockRouter]:
    """A respx router for the test host https://ib.test; every route it declares must be called."""
    with respx.mock(base_url="https://ib.test") as r:
        yield r


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the session; skipped only outside CI when not installed."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, and CI must run the PostgreSQL tests (see .ci/run)")
        pytest.skip("PostgreSQL is not installed (no initdb found): the PostgreSQL ledger tests need it")
    with throwaway_cluster(bindir) as url:
        yield url
