"""The bench server: a minimal raw-ASGI Instabase look-alike, run by uvicorn in its own process.

Only what the benchmarks touch, answered in the real wire shapes:

- `GET /api/v1/jobs/status?job_id=&type=`: the v1 status body. A job id starting with `static`
  is always DONE (a fixed body, for per-call overhead); a job made by `POST /bench/jobs` is
  PENDING (with a `cur_status` JSON string carrying `RUNNING` and the progress) until its end
  time, then DONE with `results` and `cur_status.finish_timestamp` = its end (unix seconds).
  The progress follows the job's shape (f = the share of its duration gone by):
  `linear` f (rounded to 0.001, as servers round it), `steps` f in quarters (0, .25, .5, .75),
  `late` 0 until f = 0.8 and then f (a late jump), `none` no `curProgress` at all.
- `GET /api/v2/solutions/deployed/jobs?job_id=..&job_id=..&limit=&offset=`: the multi-job listing
  of deployed-solution runs, in its documented shape (`state` RUNNING or COMPLETE, times in epoch
  nanoseconds as strings); each listed job counts one listing appearance.
- `POST /api/v2/solutions/deployed/<id>/run` `{"job_id": ...}`: a run under a caller-chosen id
  made before by `POST /bench/jobs` (or a new 5 s job).
- `POST /api/v1/flow/run_flow_async`: starts one job lasting `X-Bench-Duration` seconds (default 5).
- `POST /bench/jobs` `{"prefix", "n", "min", "max", "seed", "shapes"}`: makes n jobs with
  durations drawn uniformly in [min, max] from a seeded generator, job i with the shape
  `shapes[i % len(shapes)]` (default `["linear"]`); answers their ids.
- `GET /bench/jobs?prefix=`: `{job_id: [end_time, status_requests_seen, shape, listing_appearances]}`
  for those jobs; with `summary=1`, `{jobs, unpolled, polls, listed, listing_requests}`.
- `PUT /api/v2/files/<path>`: the body is read as it arrives and discarded, only counted (204).
- `GET /api/v2/files/gen/<size>/<name>`: `size` bytes generated from a 1 MiB pattern, streamed.
- `GET /api/v2/files/<path>` of a file PUT before: that many bytes of the pattern.
- `GET /bench/ping`, `GET /bench/stats` (bytes received, requests served).

Nothing is ever buffered whole: an upload of 1 GiB costs the server one chunk at a time.
Run: `python -m benchmarks.server --port N` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PATTERN_SIZE = 1 << 20
PATTERN = bytes(range(256)) * (PATTERN_SIZE // 256)
FILES_PREFIX = "/api/v2/files/"

_JSON = [(b"content-type", b"application/json")]
SHAPES = ("linear", "steps", "late", "none")
SOLUTIONS_ROOT = "/api/v2/solutions/deployed/"
# The fields of a job record (a list, to keep 100,000 of them small).
START, END, POLLS, SHAPE, LISTED = range(5)


def progress_of(shape: int, fraction: float) -> float | None:
    """The progress a job of this shape reports once `fraction` of its duration has gone by."""
    if shape == 0:
        return round(fraction, 3)
    if shape == 1:
        return int(fraction * 4) / 4
    if shape == 2:
        return 0.0 if fraction < 0.8 else round(fraction, 3)
    return None


def _static_done(job_id: str) -> bytes:
    cur = {
        "status": "COMPLETE",
        "curProgress": 1.0,
        "finish_timestamp": 1700000000,
        "reviewer": None,
        "review_state": None,
        "run_summary": {"numFiles": 3, "numRecords": 3, "numRuntimeErrors": 0, "recordsWithMsg": 0},
    }
    body = {
        "status": "OK",
        "state": "DONE",
        "job_id": job_id,
        "results": [{"status": "OK", "output_folder": f"me/repo/fs/Instabase Drive/out/{job_id}"}],
        "cur_status": json.dumps(cur),
    }
    return json.dumps(body).encode()


class BenchApp:
    """The ASGI application; all state lives in this one process."""

    def __init__(self) -> None:
        # job_id -> [start, end, status requests seen, shape, listing appearances]
        self.jobs: dict[str, list[float]] = {}
        self.listing_requests = 0
        self.files: dict[str, int] = {}
        self.bytes_in = 0
        self.requests = 0
        self._static: dict[str, bytes] = {}
        self._seq = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.requests += 1
        method: str = scope["method"]
        path: str = scope["path"]
        if path == "/api/v1/jobs/status" and method == "GET":
            await self._status(scope, send)
        elif path.startswith(FILES_PREFIX):
            name = unquote(scope.get("raw_path", b"").decode().split("?", 1)[0])[len(FILES_PREFIX) :]
            if method == "PUT":
                await self._put(name, receive, send)
            elif method == "GET":
                await self._get(name, send)
            else:
                await _reply(send, 405, b'{"message": "method not allowed"}')
        elif path == SOLUTIONS_ROOT + "jobs" and method == "GET":
            await self._listing(scope, send)
        elif path.startswith(SOLUTIONS_ROOT) and path.endswith("/run") and method == "POST":
            await self._run_solution(receive, send)
        elif path == "/api/v1/flow/run_flow_async" and method == "POST":
            await self._run_flow(scope, receive, send)
        elif path == "/bench/jobs" and method == "POST":
            await self._make_jobs(receive, send)
        elif path == "/bench/jobs" and method == "GET":
            query = dict(parse_qsl(scope["query_string"].decode()))
            prefix = query.get("prefix", "")
            table = {
                k: [v[END], v[POLLS], SHAPES[int(v[SHAPE])], v[LISTED]]
                for k, v in self.jobs.items()
                if k.startswith(prefix)
            }
            if query.get("summary"):
                polls = [int(v[1]) for v in table.values()]
                summary = {
                    "jobs": len(polls),
                    "unpolled": polls.count(0),
                    "polls": sum(polls),
                    "listed": sum(int(v[3]) for v in table.values()),
                    "listing_requests": self.listing_requests,
                }
                await _reply(send, 200, json.dumps(summary).encode())
            else:
                await _reply(send, 200, json.dumps(table).encode())
        elif path == "/bench/reset" and method == "POST":
            self.jobs.clear()
            self.files.clear()
            self.listing_requests = 0
            await _reply(send, 200, b"{}")
        elif path == "/bench/stats":
            stats = {"bytes_in": self.bytes_in, "requests": self.requests, "jobs": len(self.jobs)}
            await _reply(send, 200, json.dumps(stats).encode())
        elif path == "/bench/ping":
            await _reply(send, 200, b'{"ok": true}')
        else:
            await _reply(send, 404, b'{"message": "not found"}')

    # ------------------------------------------------------------------ jobs

    async def _status(self, scope: Scope, send: Send) -> None:
        query = dict(parse_qsl(scope["query_string"].decode()))
        job_id = query.get("job_id", "")
        job = self.jobs.get(job_id)
        if job is None:
            if job_id.startswith("static"):
                body = self._static.get(job_id)
                if body is None:
                    body = self._static[job_id] = _static_done(job_id)
                await _reply(send, 200, body)
            else:
                await _reply(send, 200, b'{"status": "ERROR", "msg": "job not found"}')
            return
        job[POLLS] += 1
        start, end = job[START], job[END]
        now = time.time()
        if now < end:
            cur: dict[str, Any] = {"status": "RUNNING", "finish_timestamp": None}
            progress = progress_of(int(job[SHAPE]), (now - start) / (end - start))
            if progress is not None:
                cur["curProgress"] = progress
            body: dict[str, Any] = {
                "status": "OK",
                "state": "PENDING",
                "job_id": job_id,
                "cur_status": json.dumps(cur),
            }
        else:
            cur = {
                "status": "COMPLETE",
                "curProgress": 1.0,
                "finish_timestamp": end,
                "run_summary": {"numFiles": 1, "numRecords": 1, "numRuntimeErrors": 0, "recordsWithMsg": 0},
            }
            body = {
                "status": "OK",
                "state": "DONE",
                "job_id": job_id,
                "results": [{"status": "OK", "output_folder": f"bench/out/{job_id}"}],
                "cur_status": json.dumps(cur),
            }
        await _reply(send, 200, json.dumps(body).encode())

    async def _make_jobs(self, receive: Receive, send: Send) -> None:
        spec = json.loads(await _read_body(receive))
        rng = random.Random(spec.get("seed", 0))
        prefix = str(spec["prefix"])
        low, high = float(spec["min"]), float(spec["max"])
        shapes = [SHAPES.index(name) for name in spec.get("shapes", ["linear"])]
        now = time.time()
        ids = []
        for i in range(int(spec["n"])):
            job_id = f"{prefix}-{i}"
            self.jobs[job_id] = [now, now + rng.uniform(low, high), 0, shapes[i % len(shapes)], 0]
            ids.append(job_id)
        await _reply(send, 200, json.dumps({"job_ids": ids}).encode())

    async def _listing(self, scope: Scope, send: Send) -> None:
        """The documented multi-job listing, filtered by the repeated `job_id` parameters."""
        self.listing_requests += 1
        query = parse_qsl(scope["query_string"].decode())
        wanted = [value for key, value in query if key == "job_id"]
        params = dict(query)
        limit, offset = int(params.get("limit", 20)), int(params.get("offset", 0))
        now = time.time()
        out = []
        for job_id in wanted[offset : offset + limit]:
            job = self.jobs.get(job_id)
            if job is None:
                continue
            job[LISTED] += 1
            start, end = job[START], job[END]
            done = now >= end
            out.append(
                {
                    "id": job_id,
                    "accountId": "bench",
                    "jobType": "FLOW",
                    "startTimeNs": str(int(start * 1e9)),
                    "modifiedTimeNs": str(int(min(now, end) * 1e9)),
                    "completionTimeNs": str(int(end * 1e9)) if done else None,
                    "state": "COMPLETE" if done else "RUNNING",
                    "lastStartTimeNs": str(int(start * 1e9)),
                    "timeTakenNs": str(int((min(now, end) - start) * 1e9)),
                    "message": "Completed" if done else "Running",
                    "deployedSolutionId": "bench-solution",
                    "outputFolder": f"bench/out/{job_id}",
                }
            )
        await _reply(send, 200, json.dumps({"jobs": out}).encode())

    async def _run_solution(self, receive: Receive, send: Send) -> None:
        body = json.loads(await _read_body(receive) or b"{}")
        job_id = body.get("job_id")
        if not isinstance(job_id, str) or job_id not in self.jobs:
            self._seq += 1
            job_id = job_id if isinstance(job_id, str) else f"run-{self._seq}"
            now = time.time()
            self.jobs[job_id] = [now, now + 5.0, 0, 0, 0]
        await _reply(send, 200, json.dumps({"job_id": job_id}).encode())

    async def _run_flow(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _read_body(receive)
        headers = dict(scope["headers"])
        duration = float(headers.get(b"x-bench-duration", b"5"))
        self._seq += 1
        job_id = f"flow-{self._seq}"
        now = time.time()
        self.jobs[job_id] = [now, now + duration, 0, 0, 0]
        body = {"status": "OK", "data": {"job_id": job_id, "output_folder": f"bench/out/{job_id}"}}
        await _reply(send, 200, json.dumps(body).encode())

    # ------------------------------------------------------------------ files

    async def _put(self, name: str, receive: Receive, send: Send) -> None:
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        self.bytes_in += size
        self.files[name] = size
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _get(self, name: str, send: Send) -> None:
        size = self.files.get(name)
        if size is None and name.startswith("gen/"):
            try:
                size = int(name.split("/")[1])
            except (IndexError, ValueError):
                size = None
        if size is None:
            await _reply(send, 404, b'{"message": "no such file"}')
            return
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        view = memoryview(PATTERN)
        left = size
        while left > PATTERN_SIZE:
            await send({"type": "http.response.body", "body": PATTERN, "more_body": True})
            left -= PATTERN_SIZE
        await send({"type": "http.response.body", "body": bytes(view[:left])})


async def _read_body(receive: Receive) -> bytes:
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(parts)


async def _reply(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="the instabase_async bench server (127.0.0.1 only)")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:
        loop = "asyncio"
    uvicorn.run(
        BenchApp(),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop=loop,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=60,
        backlog=4096,
    )


if __name__ == "__main__":
    main()
