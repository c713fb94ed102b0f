"""Part 3: transfers.

- `big`: one 1 GiB upload (`ib.files.write(path, Path(...))`) or download
  (`ib.files.download(path, local)`), in a fresh process so that `ru_maxrss` (the peak RSS of the
  process) before and after tells the peak growth of this one transfer alone. The baseline is raw
  httpx streaming the same bytes (1 MiB reads of the file into `client.put(content=<async gen>)`;
  `client.stream("GET")` + `aiter_raw()` written to a file).
- `small`: N small files through `ib.files.upload_many(concurrency=C)` against a raw bounded loop
  of httpx PUTs behind an `asyncio.Semaphore(C)`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from instabase_async import AsyncInstabase

from ._common import AUTH, TOKEN, cpu_times, max_rss_bytes, transport_name, use_transport

CHUNK = 1 << 20
FILES = "/api/v2/files/"


def make_big_file(path: Path, size: int) -> None:
    """A sparse file of `size` bytes: made at once, read back as zeros without touching the disk.

    It is read through once here, so that the first measured upload does not pay for filling the
    page cache (the kernel's first read of a hole costs ~3 s of system time per GiB here)."""
    with open(path, "wb") as f:
        f.truncate(size)
    with open(path, "rb") as f:
        while f.read(CHUNK * 8):
            pass


async def _file_chunks(path: str) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:  # noqa: ASYNC230 - the fastest reads: this is the baseline
        while chunk := f.read(CHUNK):
            yield chunk


def _patch(variant: str | None) -> None:
    """Candidate changes to the transfer code, patched in at run time (nothing is edited).

    The last ones (`unchunked`, `writev`, `one-hop`) were measured and adopted in
    `_transfers.py`; a new candidate goes here, through public names only.
    """
    if variant is not None:
        raise ValueError(f"unknown variant {variant!r}")


async def big(
    url: str, *, direction: str, mode: str, path: str, size: int, variant: str | None = None
) -> dict[str, Any]:
    """One 1 GiB transfer. mode: library (default transport), library-httpx, raw-httpx."""
    _patch(variant)
    remote = f"bench/big-{os.getpid()}.bin" if direction == "upload" else f"gen/{size}/big.bin"
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    used = "httpx"
    ib: AsyncInstabase | None = None
    client: httpx.AsyncClient | None = None
    if mode.startswith("library"):
        use_transport("httpx" if mode == "library-httpx" else "aiohttp")
        ib = AsyncInstabase(url, TOKEN, timeout=120)
        await ib.files.write("bench/warm.bin", b"x" * 1024)
        used = transport_name(ib)
    else:
        client = httpx.AsyncClient(headers=AUTH, limits=limits, timeout=120)
        (await client.put(url + FILES + "bench/warm.bin", content=b"x" * 1024)).raise_for_status()
    gc.collect()
    rss0 = max_rss_bytes()
    (u0, s0), wall0 = cpu_times(), time.perf_counter()
    moved = 0
    if direction == "upload":
        if ib is not None:
            await ib.files.write(remote, Path(path))
        else:
            assert client is not None
            response = await client.put(
                url + FILES + remote, content=_file_chunks(path), headers={"Content-Length": str(size)}
            )
            response.raise_for_status()
        moved = size
    else:
        if ib is not None:
            moved = await ib.files.download(remote, path)
        else:
            assert client is not None
            async with client.stream("GET", url + FILES + remote, params={"expect-node-type": "file"}) as r:
                r.raise_for_status()
                with open(path, "wb") as f:  # noqa: ASYNC230 - the fastest writes: the baseline
                    async for chunk in r.aiter_raw():
                        f.write(chunk)
                        moved += len(chunk)
    (u1, s1), wall1 = cpu_times(), time.perf_counter()
    rss1 = max_rss_bytes()
    if ib is not None:
        await ib.aclose()
    if client is not None:
        await client.aclose()
    if direction == "download":
        os.unlink(path)
    wall = wall1 - wall0
    return {
        "direction": direction,
        "mode": mode,
        "variant": variant,
        "transport": used,
        "bytes": moved,
        "ok": moved == size,
        "wall_s": wall,
        "mb_per_s": moved / wall / 1e6,
        "cpu_user_s": u1 - u0,
        "cpu_sys_s": s1 - s0,
        "peak_rss_growth_mb": (rss1 - rss0) / 2**20,
        "peak_rss_mb": rss1 / 2**20,
    }


async def small(
    url: str,
    *,
    mode: str,
    folder: str,
    n: int,
    concurrency: int,
    time_limit: float = 60.0,
    variant: str | None = None,
) -> dict[str, Any]:
    """n small files: upload_many (library / library-httpx) or a raw semaphore loop of httpx PUTs."""
    _patch(variant)
    files = sorted(Path(folder).iterdir())[:n]  # noqa: ASYNC240 - before the clock starts
    total = sum(f.stat().st_size for f in files)
    used = "httpx"
    ok = 0
    if mode.startswith("library"):
        use_transport("httpx" if mode == "library-httpx" else "aiohttp")
        async with AsyncInstabase(url, TOKEN) as ib:
            await ib.files.write("bench/warm.bin", b"x")
            used = transport_name(ib)
            items = [(f, f"bench/small-{mode}/{f.name}") for f in files]
            gc.collect()
            (u0, s0), wall0 = cpu_times(), time.perf_counter()
            async with asyncio.timeout(time_limit):
                outcomes = await ib.files.upload_many(items, concurrency=concurrency)
            (u1, s1), wall1 = cpu_times(), time.perf_counter()
            ok = sum(1 for o in outcomes if o.ok)
    else:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(headers=AUTH, limits=limits, timeout=60) as client:
            (await client.put(url + FILES + "bench/warm.bin", content=b"x")).raise_for_status()
            semaphore = asyncio.Semaphore(concurrency)

            async def put(local: Path) -> bool:
                async with semaphore:
                    response = await client.put(
                        url + FILES + f"bench/small-raw/{local.name}",
                        content=local.read_bytes(),  # noqa: ASYNC240 - small files, the baseline
                        headers={"Content-Type": "application/octet-stream"},
                    )
                return response.status_code < 300

            gc.collect()
            (u0, s0), wall0 = cpu_times(), time.perf_counter()
            async with asyncio.timeout(time_limit):
                results = await asyncio.gather(*(put(f) for f in files))
            (u1, s1), wall1 = cpu_times(), time.perf_counter()
            ok = sum(results)
    wall = wall1 - wall0
    cpu = (u1 - u0) + (s1 - s0)
    return {
        "mode": mode,
        "variant": variant,
        "transport": used,
        "files": len(files),
        "ok": ok,
        "bytes": total,
        "concurrency": concurrency,
        "wall_s": wall,
        "files_per_s": len(files) / wall,
        "cpu_ms_per_file": cpu / len(files) * 1e3,
    }


def make_small_files(folder: Path, n: int, seed: int = 3) -> int:
    """n files of 1 to 32 KiB (seeded sizes); returns the total size."""
    import random

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    block = os.urandom(32 * 1024)
    for i in range(n):
        size = rng.randint(1024, 32 * 1024)
        (folder / f"f{i:05d}.bin").write_bytes(block[:size])
        total += size
    return total
