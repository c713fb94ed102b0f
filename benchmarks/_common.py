"""What every part shares: the server process, child processes with hard timeouts, statistics."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
STATUS_PATH = "/api/v1/jobs/status"
ROOT = Path(__file__).resolve().parent
TRANSPORT_ENV = "INSTABASE_ASYNC_TRANSPORT"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def bench_server(timeout: float = 20.0) -> Iterator[tuple[str, int]]:
    """Start `benchmarks.server` in its own process; yield (base URL, pid); stop it after."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server", "--port", str(port)],
        cwd=ROOT.parent,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the bench server exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/bench/ping", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the bench server did not start in time")
            time.sleep(0.05)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_child(func: str, url: str, args: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run `benchmarks.<module>:<function>(url, **args)` in a fresh process (so its CPU time and
    peak memory are its own) and return what it returned; killed after `timeout` seconds."""
    with tempfile.TemporaryDirectory(prefix="ib-bench-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks._child", func, url, json.dumps(args), str(out)]
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT.parent, timeout=timeout, stdin=subprocess.DEVNULL, check=False
            )
        except subprocess.TimeoutExpired:
            return {"error": f"{func} timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            return {"error": f"{func} failed with exit code {proc.returncode}"}
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def cpu_times() -> tuple[float, float]:
    """This process's (user, system) CPU seconds so far."""
    times = os.times()
    return times.user, times.system


def rss_bytes() -> int:
    """The resident set size of this process now (Linux /proc; psutil elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import psutil

        return int(psutil.Process().memory_info().rss)


def max_rss_bytes() -> int:
    """The peak resident set size of this process so far."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def use_transport(name: str) -> None:
    """Make the library pick `name` ("aiohttp": its default when installed; "httpx": forced)."""
    if name == "httpx":
        os.environ[TRANSPORT_ENV] = "httpx"
    else:
        os.environ.pop(TRANSPORT_ENV, None)


def transport_name(ib: Any) -> str:
    """Which transport a client really runs on (it is built on first use)."""
    transport = ib._http.client._transport
    is_aiohttp = any(cls.__module__.startswith("httpx_aiohttp") for cls in type(transport).__mro__)
    return "aiohttp" if is_aiohttp else "httpx"
