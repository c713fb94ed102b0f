"""Part 4: where a status call's client CPU goes, and what the candidate fixes would save.

- `profile`: cProfile over N `ib.jobs.status` calls (32 at a time) on the default transport;
  the top costs by own time, the library's own functions, and the big httpx/aiohttp buckets.
- `ablate`: `ib.jobs.status(job_id)` as it is against the same call with a candidate change to
  `_http.py`/`_jobs.py` patched in at run time (nothing is edited); configurations interleaved
  round by round, CPU per call, the best round of each kept:
    - `job-reused`: `job.status()` on one Job handle, as the waiter polls (its status URL is
      parsed once per Job, so this is what a one-shot call pays for the URL);
    - `url-query`: the one-shot status URL made as the client's parsed status URL
      `.copy_with(query=<the query written by hand>)`, instead of `httpx.URL(url, params=...)`
      (one parse and a params merge less);
    - `url-cache`: the status URL of a (job_id, type) kept in a small per-client cache, so that
      a loop of `ib.jobs.status(same_id)` parses it once;
    - `fast-limiter`: `HTTP.limiter` on an `anyio.Semaphore(n, fast_acquire=True)` instead of an
      `anyio.CapacityLimiter` (whose acquire always goes through the event loop once).
Each variant is skipped, with a note, when the code it patches is no longer there.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from instabase_async import AsyncInstabase
from instabase_async._jobs import Job

from ._common import TOKEN, median, use_transport

JOB_ID = "static-0001"
STATUS_PATH = "/api/v1/jobs/status"


class _FastLimiter:
    """The limiter interface `_http` uses, on an `anyio.Semaphore(fast_acquire=True)`: no trip
    through the event loop when a slot is free."""

    def __init__(self, total: int) -> None:
        self._semaphore = anyio.Semaphore(total, fast_acquire=True)

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()

    async def acquire_on_behalf_of(self, _borrower: object) -> None:
        await self._semaphore.acquire()

    def acquire_on_behalf_of_nowait(self, _borrower: object) -> None:
        self._semaphore.acquire_nowait()  # anyio.WouldBlock when none is free, as the limiter's

    def release_on_behalf_of(self, _borrower: object) -> None:
        self._semaphore.release()


_BASES: dict[int, httpx.URL] = {}
_CACHE: dict[tuple[int, str, str | None], httpx.URL] = {}


def _target_url_query(self: Job) -> httpx.URL:
    """`Job._status_target` (v1) with the query written by hand onto an already parsed base URL."""
    http = self._client._http
    base = _BASES.get(id(http))
    if base is None:
        base = _BASES[id(http)] = httpx.URL(http.url(STATUS_PATH))
    query = f"job_id={quote(self.job_id, safe='')}"
    if self.type is not None:
        query += f"&type={quote(self.type, safe='')}"
    return base.copy_with(query=query.encode())


def _target_url_cache(self: Job) -> httpx.URL:
    """`Job._status_target` (v1) through a per-client cache of (job_id, type) -> URL."""
    key = (id(self._client), self.job_id, self.type)
    url = _CACHE.get(key)
    if url is None:
        if len(_CACHE) >= 4096:
            _CACHE.clear()
        params = {"job_id": self.job_id} if self.type is None else {"job_id": self.job_id, "type": self.type}
        url = _CACHE[key] = httpx.URL(self._client._http.url(STATUS_PATH), params=params)
    return url


async def _cpu_per_call(call: Callable[[], Awaitable[Any]], n: int, concurrency: int) -> float:
    per_task = n // concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    gc.collect()
    cpu0 = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - cpu0) / (per_task * concurrency)


async def ablate(
    url: str, *, calls: int = 2000, rounds: int = 5, transport: str = "aiohttp"
) -> dict[str, Any]:
    use_transport(transport)
    original_target = getattr(Job, "_status_target", None)
    targets: dict[str, Any] = {"url-query": _target_url_query, "url-cache": _target_url_cache}
    skipped: dict[str, str] = {}
    variants = ["as-is", "job-reused", "url-query", "url-cache", "fast-limiter"]
    if original_target is None:
        for name in targets:
            skipped[name] = "Job._status_target is gone"
            variants.remove(name)
    clients: dict[str, AsyncInstabase] = {}
    for name in variants:
        ib = AsyncInstabase(url, TOKEN)
        await ib.jobs.status(JOB_ID)  # builds the pool
        if name == "fast-limiter":
            if hasattr(ib._http.limiter, "acquire_on_behalf_of"):
                ib._http.limiter = _FastLimiter(64)  # type: ignore[assignment]
            else:
                skipped[name] = "HTTP.limiter changed"
        clients[name] = ib
    variants = [v for v in variants if v not in skipped]

    def call_for(name: str) -> Callable[[], Awaitable[Any]]:
        ib = clients[name]
        job = ib.jobs.from_id(JOB_ID)
        target = targets.get(name, original_target)

        async def call() -> Any:
            if name == "job-reused":
                return await job.status()
            return await ib.jobs.status(JOB_ID)

        async def patched_call() -> Any:
            return await call()

        def install() -> None:
            if original_target is not None:
                Job._status_target = target  # type: ignore[method-assign]

        patched_call.install = install  # type: ignore[attr-defined]
        return patched_call

    calls_by_name = {name: call_for(name) for name in variants}
    samples: dict[str, list[float]] = {f"{v}@{c}": [] for c in (1, 32) for v in variants}
    for call in calls_by_name.values():
        call.install()  # type: ignore[attr-defined]
        await _cpu_per_call(call, 256, 32)
    for _ in range(rounds):
        for concurrency in (1, 32):
            for name, call in calls_by_name.items():
                call.install()  # type: ignore[attr-defined]
                samples[f"{name}@{concurrency}"].append(await _cpu_per_call(call, calls, concurrency))
    if original_target is not None:
        Job._status_target = original_target  # type: ignore[method-assign]
    for ib in clients.values():
        await ib.aclose()
    out: dict[str, Any] = {}
    for key, values in samples.items():
        name, concurrency = key.split("@")
        base = min(samples[f"as-is@{concurrency}"])
        out[key] = {
            "cpu_us": min(values) * 1e6,  # the best round, as in the overhead part
            "cpu_us_median": median(values) * 1e6,
            "saving_pct": (1 - min(values) / base) * 100,
        }
    return {
        "transport": transport,
        "calls_per_sample": calls,
        "rounds": rounds,
        "variants": out,
        "skipped": skipped,
    }


async def profile(
    url: str, *, calls: int = 20000, concurrency: int = 32, transport: str = "aiohttp"
) -> dict[str, Any]:
    use_transport(transport)
    async with AsyncInstabase(url, TOKEN) as ib:
        await ib.jobs.status(JOB_ID)
        per_task = calls // concurrency

        async def worker() -> None:
            for _ in range(per_task):
                await ib.jobs.status(JOB_ID)

        await asyncio.gather(*(worker() for _ in range(8)))
        profiler = cProfile.Profile()
        profiler.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    rows = []
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({func})",
                "calls_per_status": ncalls / (per_task * concurrency),
                "own_pct": tottime / total * 100,
                "cum_pct": cumtime / total * 100,
            }
        )
    by_own = sorted(rows, key=lambda r: r["own_pct"], reverse=True)[:20]
    library = sorted(
        (r for r in rows if r["function"].startswith("instabase_async/")),
        key=lambda r: r["own_pct"],
        reverse=True,
    )
    buckets = {}
    for label, where, func in (
        ("HTTP.get_json (the status GET, fast path)", "instabase_async/_http.py", "get_json"),
        ("transport fetch (aiohttp inside)", "instabase_async/_aiohttp.py", "fetch"),
        ("aiohttp ClientSession._request", "aiohttp/client.py", "_request"),
        ("aiohttp response read", "aiohttp/client_reqrep.py", "read"),
        ("anyio limiter acquire (nowait)", "anyio/_backends/_asyncio.py", "acquire_on_behalf_of_nowait"),
        ("parse_v1_status (incl. cur_status JSON)", "instabase_async/_jobs.py", "parse_v1_status"),
        ("_compact (shared keys)", "instabase_async/_jobs.py", "_compact"),
        ("json.loads", "json/__init__.py", "loads"),
        ("jobs.status (the call)", "instabase_async/_resources/jobs.py", "status"),
        ("httpx build_request (slow path only)", "httpx/_client.py", "build_request"),
    ):
        found = [r for r in rows if r["function"].startswith(where) and r["function"].endswith(f"({func})")]
        if found:
            buckets[label] = max(r["cum_pct"] for r in found)
    return {
        "calls": per_task * concurrency,
        "transport": transport,
        "top_own": by_own,
        "library_own": library[:15],
        "buckets_cum_pct": buckets,
    }


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if "instabase_async/" in filename:
        return "instabase_async/" + filename.split("instabase_async/", 1)[1]
    return filename
