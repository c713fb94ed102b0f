"""Parts 2, 3 and 6: waiting on many jobs.

- `waiter`: the library's waiter (`ib.jobs.waiter`) on N jobs of the bench server, their
  progress in the shapes asked for (linear, steps, late jump, none: a quarter each by default).
- `hand_loop`: the careful hand-written loop it is measured against: a task per job, polling
  every second behind an `asyncio.Semaphore(64)`, raw httpx + `json.loads` on the same
  transport as the library's default (aiohttp under httpx when installed).
- `scale_memory`: the memory a waiter holding N jobs costs once each was polled, by tracemalloc.
- `scale_run`: 100,000 jobs in one waiter to their end: CPU and wall time, status requests per
  client CPU-second, every job exactly once, the latest report, RSS growth per job.
- `solution_runs`: deployed-solution runs (started with `ib.solutions.run`) in one waiter: the
  listing requests per job per polling round, and the v1 status requests per job.

The server draws each job's duration (seeded) and knows its end time; the client notes
`time.time()` when it sees a job's final status; both run on this machine, so the lateness
(seen - end) is on one clock. Status requests per job are counted by the server.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import time
import tracemalloc
import urllib.request
from typing import Any

import anyio
import httpx

from instabase_async import AsyncInstabase, PollPolicy

from ._common import AUTH, STATUS_PATH, TOKEN, cpu_times, percentile, rss_bytes, transport_name, use_transport

MAX_IN_FLIGHT = 64


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


SHAPES = ["linear", "steps", "late", "none"]


def _make_jobs(
    url: str, prefix: str, n: int, low: float, high: float, seed: int, shapes: list[str] | None = None
) -> list[str]:
    spec = {"prefix": prefix, "n": n, "min": low, "max": high, "seed": seed, "shapes": shapes or SHAPES}
    ids: list[str] = _post(f"{url}/bench/jobs", spec)["job_ids"]
    return ids


def _lateness(seen: dict[str, float], table: dict[str, list[Any]]) -> dict[str, Any]:
    """Status requests per job and how late each end was seen: overall and per progress shape."""
    groups: dict[str, tuple[list[float], list[int]]] = {}
    for job_id, (end, polls, shape, _listed) in table.items():
        for key in ("all", shape):
            late, requests = groups.setdefault(key, ([], []))
            requests.append(int(polls))
            if job_id in seen:
                late.append(seen[job_id] - end)
    return {
        key: {
            "jobs": len(requests),
            "requests_per_job": sum(requests) / len(requests),
            "late_p50_s": percentile(late, 50),
            "late_p99_s": percentile(late, 99),
            "late_max_s": max(late) if late else None,
        }
        for key, (late, requests) in groups.items()
    }


def _report(
    url: str,
    prefix: str,
    seen: dict[str, float],
    cpu_split: tuple[float, float],
    wall: float,
    n: int,
    extra: dict[str, Any],
) -> dict[str, Any]:
    cpu = sum(cpu_split)
    table: dict[str, list[Any]] = _get(f"{url}/bench/jobs?prefix={prefix}-")
    shapes = _lateness(seen, table)
    polls = sum(int(row[1]) for row in table.values())
    overall = shapes.pop("all")
    return {
        "jobs": n,
        "reported": len(seen),
        "cpu_s": cpu,
        "cpu_user_s": cpu_split[0],
        "cpu_sys_s": cpu_split[1],
        "cpu_ms_per_job": cpu / n * 1e3,
        "wall_s": wall,
        "status_requests": polls,
        "requests_per_job": polls / n,
        "requests_per_cpu_s": polls / cpu if cpu else None,
        "cpu_us_per_request": cpu / polls * 1e6 if polls else None,
        "late_p50_s": overall["late_p50_s"],
        "late_p99_s": overall["late_p99_s"],
        "late_max_s": overall["late_max_s"],
        "shapes": shapes,
        **extra,
    }


class _RssSampler:
    """Samples this process's RSS in a thread: the peak during a run, not only before and after."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = rss_bytes()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, rss_bytes())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


class _Run:
    """One waiter run over some jobs: when each was reported, and what it cost this process."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.duplicates = 0
        self.failed = 0
        self.cpu_split = (0.0, 0.0)
        self.wall = 0.0
        self.rss_growth = 0


async def _wait_on(
    ib: AsyncInstabase, jobs: list[Any], policy: PollPolicy, time_limit: float, max_in_flight: int
) -> _Run:
    run = _Run()
    gc.collect()
    rss0 = rss_bytes()
    (u0, s0), wall0 = cpu_times(), time.perf_counter()
    with _RssSampler() as rss, anyio.fail_after(time_limit):
        async with ib.jobs.waiter(max_in_flight=max_in_flight, poll=policy) as w:
            for job in jobs:
                w.add(job)
            async for outcome in w:
                job_id = outcome.job.job_id
                run.duplicates += job_id in run.seen
                run.seen[job_id] = time.time()
                run.failed += not outcome.ok
    (u1, s1), run.wall = cpu_times(), time.perf_counter() - wall0
    run.cpu_split = (u1 - u0, s1 - s0)
    run.rss_growth = rss.peak - rss0
    return run


def _policy(poll: list[float] | None, adaptive: bool) -> PollPolicy:
    return PollPolicy(*poll, adaptive=adaptive) if poll else PollPolicy(adaptive=adaptive)


def _policy_extra(policy: PollPolicy) -> dict[str, Any]:
    return {
        "poll": [policy.initial, policy.maximum, policy.multiplier, policy.jitter],
        "adaptive": policy.adaptive,
        "max_poll_interval_s": policy.maximum,
    }


async def waiter(
    url: str,
    *,
    prefix: str,
    n: int,
    low: float,
    high: float,
    seed: int = 1,
    poll: list[float] | None = None,
    adaptive: bool = True,
    shapes: list[str] | None = None,
    transport: str = "aiohttp",
    time_limit: float = 120.0,
) -> dict[str, Any]:
    """The library's waiter on n jobs; `poll` = [initial, maximum, multiplier, jitter] or PollPolicy()."""
    use_transport(transport)
    policy = _policy(poll, adaptive)
    async with AsyncInstabase(url, TOKEN, max_connections=MAX_IN_FLIGHT) as ib:
        await ib.jobs.status("static-warm")
        used = transport_name(ib)
        ids = _make_jobs(url, prefix, n, low, high, seed, shapes)
        jobs = [ib.jobs.from_id(job_id) for job_id in ids]
        run = await _wait_on(ib, jobs, policy, time_limit, MAX_IN_FLIGHT)
    extra = {
        "transport": used,
        **_policy_extra(policy),
        "failed": run.failed,
        "duplicates": run.duplicates,
        "rss_growth_mb": run.rss_growth / 2**20,
        "rss_growth_bytes_per_job": run.rss_growth / n,
    }
    return _report(url, prefix, run.seen, run.cpu_split, run.wall, n, extra)


async def scale_run(
    url: str,
    *,
    prefix: str,
    n: int,
    low: float,
    high: float,
    seed: int = 3,
    max_in_flight: int = MAX_IN_FLIGHT,
    transport: str = "aiohttp",
    time_limit: float = 600.0,
) -> dict[str, Any]:
    """n jobs (the four progress shapes) in one waiter, every one to its end. The Job handles are
    the caller's, made before the measurement; the RSS growth is the peak during the run."""
    use_transport(transport)
    policy = PollPolicy()
    async with AsyncInstabase(url, TOKEN, max_connections=max_in_flight) as ib:
        await ib.jobs.status("static-warm")
        used = transport_name(ib)
        ids = _make_jobs(url, prefix, n, low, high, seed)
        jobs = [ib.jobs.from_id(job_id) for job_id in ids]
        run = await _wait_on(ib, jobs, policy, time_limit, max_in_flight)
    extra = {
        "transport": used,
        **_policy_extra(policy),
        "max_in_flight": max_in_flight,
        "failed": run.failed,
        "duplicates": run.duplicates,
        "missing": n - len(run.seen),
        "rss_growth_mb": run.rss_growth / 2**20,
        "rss_growth_bytes_per_job": run.rss_growth / n,
    }
    return _report(url, prefix, run.seen, run.cpu_split, run.wall, n, extra)


async def solution_runs(
    url: str,
    *,
    prefix: str,
    n: int,
    low: float,
    high: float,
    seed: int = 5,
    transport: str = "aiohttp",
    time_limit: float = 120.0,
) -> dict[str, Any]:
    """n deployed-solution runs, started through `ib.solutions.run` (so the handles are what a
    user gets), in one waiter. The listing appearances tell how many ids a listing request
    carried; the v1 status requests per job should be one, once the listing says final."""
    use_transport(transport)
    policy = PollPolicy()
    ids = _make_jobs(url, prefix, n, low, high, seed, ["none"])
    async with AsyncInstabase(url, TOKEN, max_connections=MAX_IN_FLIGHT) as ib:
        await ib.jobs.status("static-warm")
        used = transport_name(ib)
        jobs: list[Any] = [None] * n
        limit = anyio.CapacityLimiter(MAX_IN_FLIGHT)

        async def start(index: int) -> None:
            async with limit:
                jobs[index] = await ib.solutions.run(
                    "bench-solution", input_dir="bench/in", job_id=ids[index]
                )

        async with anyio.create_task_group() as tg:
            for index in range(n):
                tg.start_soon(start, index)
        run = await _wait_on(ib, jobs, policy, time_limit, MAX_IN_FLIGHT)
    summary = _get(f"{url}/bench/jobs?summary=1&prefix={prefix}-")
    extra = {
        "transport": used,
        **_policy_extra(policy),
        "failed": run.failed,
        "duplicates": run.duplicates,
        "listing_requests": summary["listing_requests"],
        "listing_appearances": summary["listed"],
        "listing_requests_per_job_per_round": (
            summary["listing_requests"] / summary["listed"] if summary["listed"] else None
        ),
        "listing_rounds_per_job": summary["listed"] / n,
        "v1_status_per_job": summary["polls"] / n,
    }
    return _report(url, prefix, run.seen, run.cpu_split, run.wall, n, extra)


async def hand_loop(
    url: str,
    *,
    prefix: str,
    n: int,
    low: float,
    high: float,
    seed: int = 1,
    shapes: list[str] | None = None,
    transport: str = "aiohttp",
    time_limit: float = 120.0,
) -> dict[str, Any]:
    """A task per job, polling every second behind a semaphore of 64: raw httpx + json.loads."""
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    if transport == "aiohttp":
        from httpx_aiohttp import AiohttpTransport

        raw: httpx.AsyncBaseTransport = AiohttpTransport(limits=limits)
    else:
        raw = httpx.AsyncHTTPTransport(limits=limits)
    status_url = url + STATUS_PATH
    seen: dict[str, float] = {}
    async with httpx.AsyncClient(transport=raw, headers=AUTH, timeout=60) as client:
        (await client.get(status_url, params={"job_id": "static-warm"})).raise_for_status()
        ids = _make_jobs(url, prefix, n, low, high, seed, shapes)
        semaphore = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def one(job_id: str) -> None:
            params = {"job_id": job_id, "type": "flow"}
            while True:
                async with semaphore:
                    response = await client.get(status_url, params=params)
                response.raise_for_status()
                body = json.loads(response.content)
                if body.get("status") == "ERROR":
                    raise RuntimeError(body.get("msg"))
                if body.get("state") in ("DONE", "COMPLETE"):
                    seen[job_id] = time.time()
                    return
                await asyncio.sleep(1.0)

        gc.collect()
        rss0 = rss_bytes()
        (u0, s0), wall0 = cpu_times(), time.perf_counter()
        with _RssSampler() as rss:
            async with asyncio.timeout(time_limit):
                await asyncio.gather(*(one(job_id) for job_id in ids))
        (u1, s1), wall = cpu_times(), time.perf_counter() - wall0
        cpu_split = (u1 - u0, s1 - s0)
    extra = {
        "transport": transport,
        "poll": [1.0, 1.0, 1.0, 0.0],
        "adaptive": False,
        "max_poll_interval_s": 1.0,
        "failed": n - len(seen),
        "rss_growth_mb": (rss.peak - rss0) / 2**20,
        "rss_growth_bytes_per_job": (rss.peak - rss0) / n,
    }
    return _report(url, prefix, seen, cpu_split, wall, n, extra)


async def scale_memory(
    url: str,
    *,
    prefix: str,
    n: int,
    settle_limit: float = 60.0,
    trace: bool = True,
    transport: str = "aiohttp",
) -> dict[str, Any]:
    """One waiter holding n long jobs, measured once every job has been polled at least once (so
    each holds its last status): by tracemalloc (`trace`), or by RSS growth in a run without it.
    The Job handles themselves are the caller's, made before the measurement starts."""
    use_transport(transport)
    async with AsyncInstabase(url, TOKEN, max_connections=MAX_IN_FLIGHT) as ib:
        await ib.jobs.status("static-warm")
        ids = _make_jobs(url, prefix, n, 600.0, 900.0, 7)
        jobs = [ib.jobs.from_id(job_id) for job_id in ids]
        gc.collect()
        if trace:
            tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0] if trace else rss_bytes()
        (u0, s0), started = cpu_times(), time.perf_counter()
        with _RssSampler() as rss:
            async with ib.jobs.waiter(max_in_flight=MAX_IN_FLIGHT) as w:
                for job in jobs:
                    w.add(job)
                after_add = tracemalloc.get_traced_memory()[0] if trace else rss_bytes()
                settled = False
                while time.perf_counter() - started < settle_limit:
                    await asyncio.sleep(0.25)
                    summary = _get(f"{url}/bench/jobs?summary=1&prefix={prefix}-")
                    if summary["unpolled"] == 0:
                        settled = True
                        break
                await asyncio.sleep(0.5)  # the last answers are parsed and stored
                gc.collect()
                (u1, s1), elapsed = cpu_times(), time.perf_counter() - started
                if trace:
                    steady, peak = tracemalloc.get_traced_memory()
                    snapshot = tracemalloc.take_snapshot()
                    tracemalloc.stop()
                else:
                    steady = rss_bytes()
    summary = _get(f"{url}/bench/jobs?summary=1&prefix={prefix}-")
    out: dict[str, Any] = {
        "jobs": n,
        "settled": settled,
        "seconds_to_poll_all_once": elapsed,
        "status_requests": summary["polls"],
        "cpu_us_per_request": ((u1 - u0) + (s1 - s0)) / max(1, summary["polls"]) * 1e6,
    }
    if trace:
        out.update(
            bytes_per_job_after_add=(after_add - base) / n,
            bytes_per_job_steady=(steady - base) / n,
            bytes_per_job_peak=(peak - base) / n,
            top_allocations=[
                {"where": str(stat.traceback[0]), "kb": stat.size / 1024}
                for stat in snapshot.statistics("lineno")[:8]
            ],
        )
    else:
        out.update(
            rss_bytes_per_job_after_add=(after_add - base) / n,
            rss_bytes_per_job=(steady - base) / n,
            rss_peak_bytes_per_job=(rss.peak - base) / n,
        )
    return out
