"""Part 1: the per-call overhead of `ib.jobs.status(job_id)`.

Against raw `httpx.AsyncClient.get` + `json.loads` on the same transport (for aiohttp: both the
stock `httpx_aiohttp.AiohttpTransport` and the library's own transport object), and against raw
aiohttp (the practical floor), at 1 and 32 concurrent calls, for both transports: httpx's own
(forced with INSTABASE_ASYNC_TRANSPORT=httpx) and aiohttp under httpx (the library's default on
asyncio with the extra installed). Client CPU per call is this process's CPU time (the server is
another process); the configurations are interleaved round by round and the best round kept
(the median is in the JSON too): on a shared 2-core machine interference only ever adds time.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from instabase_async import AsyncInstabase
from instabase_async._transport import default_transport

from ._common import AUTH, STATUS_PATH, TOKEN, median, transport_name, use_transport

Call = Callable[[], Awaitable[Any]]
JOB_ID = "static-0001"
PARAMS = {"job_id": JOB_ID, "type": "flow"}
MAX_CONNECTIONS = 64


async def _timed(call: Call, n: int, concurrency: int) -> tuple[float, float]:
    """(CPU seconds per call, wall seconds per call) over n calls, `concurrency` at a time."""
    per_task = max(1, n // concurrency)
    total = per_task * concurrency

    async def worker() -> None:
        for _ in range(per_task):
            await call()

    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if concurrency == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    return (cpu1 - cpu0) / total, (wall1 - wall0) / total


async def run(url: str, *, calls: int = 2000, rounds: int = 5, time_limit: float = 100.0) -> dict[str, Any]:
    status_url = url + STATUS_PATH
    clients: dict[str, tuple[Call, Callable[[], Awaitable[None]]]] = {}

    # The library, on each transport (the choice is made when its pool is built, on first use).
    for transport in ("httpx", "aiohttp"):
        use_transport(transport)
        ib = AsyncInstabase(url, TOKEN, max_connections=MAX_CONNECTIONS)
        await ib.jobs.status(JOB_ID)
        assert transport_name(ib) == transport, (transport, transport_name(ib))

        def lib_call(ib: AsyncInstabase = ib) -> Awaitable[Any]:
            return ib.jobs.status(JOB_ID)

        clients[f"library/{transport}"] = (lib_call, ib.aclose)

    # Raw httpx on each transport: what a careful user writes by hand.
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
    use_transport("aiohttp")
    for transport, raw_transport in (
        ("httpx", httpx.AsyncHTTPTransport(limits=limits)),
        # what a user gets from the httpx-aiohttp package as it is
        ("aiohttp", AiohttpTransport(limits=limits)),
        # the library's own aiohttp transport (`_transport.py`), the very object it would use
        ("aiohttp-lib", default_transport(MAX_CONNECTIONS)),
    ):
        client = httpx.AsyncClient(transport=raw_transport, headers=AUTH)

        async def raw_httpx(client: httpx.AsyncClient = client) -> Any:
            response = await client.get(status_url, params=PARAMS)
            return json.loads(response.content)

        clients[f"raw-httpx/{transport}"] = (raw_httpx, client.aclose)

    # Raw aiohttp: the floor.
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS), headers=AUTH)

    async def raw_aiohttp() -> Any:
        async with session.get(status_url, params=PARAMS) as response:
            return json.loads(await response.read())

    clients["raw-aiohttp"] = (raw_aiohttp, session.close)

    # Warm every pool at both concurrencies.
    for call, _ in clients.values():
        await _timed(call, 64, 32)
        await _timed(call, 50, 1)

    samples: dict[str, list[tuple[float, float]]] = {}
    started = time.monotonic()
    done_rounds = 0
    for _ in range(rounds):
        for concurrency in (1, 32):
            for name, (call, _) in clients.items():
                samples.setdefault(f"{name}@{concurrency}", []).append(await _timed(call, calls, concurrency))
        done_rounds += 1
        if time.monotonic() - started > time_limit:
            break
    for _, close in clients.values():
        await close()

    results: dict[str, Any] = {"calls_per_sample": calls, "rounds": done_rounds, "configs": {}}
    for key, values in samples.items():
        results["configs"][key] = {
            # The best round: on a shared machine, interference only ever adds time.
            "cpu_us": min(cpu for cpu, _ in values) * 1e6,
            "wall_us": min(wall for _, wall in values) * 1e6,
            "cpu_us_median": median([cpu for cpu, _ in values]) * 1e6,
            "wall_us_median": median([wall for _, wall in values]) * 1e6,
            "cpu_us_all": [round(cpu * 1e6, 1) for cpu, _ in values],
        }
    return results
