"""Part `ledger`: what a durable run costs. `flows.run_many` of N short runs against the bench
server, without a ledger, with a SQLite ledger, and with a PostgreSQL one (a throwaway cluster
started by the part), interleaved over rounds; the client CPU of each (the database server's
own CPU is another process and is not counted; SQLite's is, it runs in the client).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import anyio

from instabase_async import AsyncInstabase, FlowRunRequest, Ledger, PollPolicy

from ._common import ROOT, TOKEN, cpu_times, median, run_child, use_transport

FLOW = "bench/flows/bench.ibflow"


async def run_many(
    url: str,
    *,
    n: int,
    max_running: int,
    duration: float,
    ledger: str | None,
    round: int,
    transport: str = "aiohttp",
    time_limit: float = 120.0,
) -> dict[str, Any]:
    """One `run_many` of n runs lasting `duration` s each; CPU and wall time of the call alone."""
    use_transport(transport)
    policy = PollPolicy(initial=duration, maximum=duration, jitter=0.1, adaptive=False)
    requests = [FlowRunRequest(FLOW, f"bench/in/{round}/{index}") for index in range(n)]
    headers = {"X-Bench-Duration": str(duration)}
    with tempfile.TemporaryDirectory(prefix="ib-bench-ledger-") as tmp:
        target = ledger or ""
        if ledger == "sqlite":
            target = os.path.join(tmp, "ledger.db")
        async with AsyncInstabase(url, TOKEN, headers=headers, poll=policy) as ib:
            await ib.jobs.status("static-warm")
            (u0, s0), wall0 = cpu_times(), time.perf_counter()
            with anyio.fail_after(time_limit):
                if ledger is None:
                    outcomes = await ib.flows.run_many(requests, max_running=max_running)
                else:
                    async with Ledger(target, run=f"bench-{round}") as book:
                        outcomes = await ib.flows.run_many(requests, max_running=max_running, ledger=book)
            (u1, s1), wall = cpu_times(), time.perf_counter() - wall0
    return {
        "cpu_s": (u1 - u0) + (s1 - s0),
        "wall_s": wall,
        "ok": sum(outcome.ok for outcome in outcomes),
        "n": n,
    }


def part(url: str, quick: bool) -> dict[str, Any]:
    """The part runner for `python -m benchmarks --part ledger`: rounds of (none, sqlite,
    postgres) side by side; each ratio is the median over rounds of that round's ratio to none."""
    sys.path.insert(0, str(ROOT.parent / "tests"))
    from pg_cluster import find_bindir, throwaway_cluster

    n, rounds = (200, 1) if quick else (2000, 5)
    args = {"n": n, "max_running": 100, "duration": 0.2, "time_limit": 60 if quick else 150}
    bindir = find_bindir()
    found: dict[str, list[dict[str, Any]]] = {"none": [], "sqlite": [], "postgres": []}
    with throwaway_cluster(bindir) if bindir else contextlib.nullcontext() as pg_url:
        for index in range(rounds):
            for name, ledger in (("none", None), ("sqlite", "sqlite"), ("postgres", pg_url)):
                if name == "postgres" and pg_url is None:
                    continue  # PostgreSQL is not installed here
                found[name].append(
                    run_child("ledger:run_many", url, {**args, "ledger": ledger, "round": index}, 200)
                )
    summary: dict[str, Any] = {"n": n, "rounds": found}
    for name in ("sqlite", "postgres"):
        pairs = [
            (mine["cpu_s"], base["cpu_s"])
            for mine, base in zip(found[name], found["none"], strict=False)
            if "cpu_s" in mine and "cpu_s" in base
        ]
        summary[f"{name}_ratio"] = median([a / b for a, b in pairs]) if pairs else None
        summary[f"{name}_cpu_s"] = median([a for a, _ in pairs]) if pairs else None
    base = [r["cpu_s"] for r in found["none"] if "cpu_s" in r]
    summary["none_cpu_s"] = median(base) if base else None
    return summary


def rows(row: Callable[..., None], ledger: dict[str, Any] | None) -> None:
    """The table's rows: client CPU of run_many with a ledger against the same call without one."""
    if not ledger or ledger.get("sqlite_ratio") is None:
        return
    n, ratio = ledger["n"], ledger["sqlite_ratio"]
    what = f"run_many of {n} runs: client CPU, SQLite ledger vs none"
    row(what, ledger["sqlite_cpu_s"], ledger["none_cpu_s"], ratio, "<= 1.2", ratio <= 1.2, "s")
    if ledger.get("postgres_ratio") is not None:
        what = f"run_many of {n} runs: client CPU, PostgreSQL ledger vs none"
        row(
            what,
            ledger["postgres_cpu_s"],
            ledger["none_cpu_s"],
            ledger["postgres_ratio"],
            "report",
            None,
            "s",
        )
