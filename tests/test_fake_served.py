"""The fake Instabase served on a real loopback socket (uvicorn in a thread), and its command line."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from instabase_async.testing import FakeInstabase
from instabase_async.testing.__main__ import build_parser

FLOW_BODY = {"ibflow_path": "a/b/f.ibflow", "input_dir": "a/b/in"}
HANDLER = "def handler(request):\n    return 'pong ' + request.args.get('n', '')\n"


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh fake whose jobs end at their second poll."""
    instance = FakeInstabase(job_polls=1)
    yield instance
    instance.close()


@pytest.mark.anyio
async def test_served_fake_answers_flows_jobs_and_handlers(fake: FakeInstabase) -> None:
    """Over a real socket: a flow run, its status polls, and an HTTP endpoint handler call."""
    fake.add_endpoint("ping", path="ping", handler_script_path="h/ping.py", script=HANDLER)
    async with fake.serve() as url:
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": f"Bearer {fake.token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as http:
            run = (await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)).json()
            job_id = run["data"]["job_id"]
            states = [
                (await http.get("/api/v1/jobs/status", params={"job_id": job_id, "type": "flow"})).json()[
                    "state"
                ]
                for _ in range(2)
            ]
            pong = await http.get("/api/v1/http-endpoint/u/ping", params={"n": "7"})
            unauthorized = await http.get(
                "/api/v1/jobs/status", params={"job_id": job_id}, headers={"Authorization": "x"}
            )
    assert states == ["PENDING", "DONE"]
    assert (pong.status_code, pong.text) == (200, "pong 7")
    assert unauthorized.status_code == 401


@pytest.mark.anyio
async def test_served_fake_streams_a_5mb_file_and_ranges(fake: FakeInstabase) -> None:
    """Over a real socket: PUT and GET of a 5 MB file, a Range read, and HEAD."""
    data = os.urandom(5 * 1024 * 1024)
    path = "/api/v2/files/me/repo/fs/Instabase%20Drive/big.bin"
    auth = {"Authorization": f"Bearer {fake.token}"}
    async with fake.serve() as url, httpx.AsyncClient(base_url=url, headers=auth) as http:
        put = await http.put(path, content=data)
        got = await http.get(path, params={"expect-node-type": "file"})
        part = await http.get(path, params={"expect-node-type": "file"}, headers={"Range": "bytes=1000-1999"})
        head = await http.head(path)
    assert put.status_code == 204
    assert got.content == data
    assert (part.status_code, part.content) == (206, data[1000:2000])
    assert part.headers["content-range"] == "bytes 1000-1999/*"
    assert head.headers["content-length"] == str(len(data))


@pytest.mark.anyio
async def test_served_drop_is_a_connection_error(fake: FakeInstabase) -> None:
    """Over a real socket, a drop fault closes the connection with no response (httpx RemoteProtocolError);
    with after_processing the run was still created."""
    fake.faults.add("flow.run", drop=True, times=1)
    fake.faults.add("flow.run", drop=True, times=1, after_processing=True)
    auth = {"Authorization": f"Bearer {fake.token}"}
    async with fake.serve() as url, httpx.AsyncClient(base_url=url, headers=auth) as http:
        for _ in range(2):
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
        ok = await http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY)
    assert ok.json()["status"] == "OK"
    assert len(fake.jobs) == 2  # the first drop created nothing; the second after processing


@pytest.mark.anyio
async def test_serve_picks_free_ports_for_two_fakes_at_once() -> None:
    """Two fakes served at once get distinct ports and stop cleanly."""
    first, second = FakeInstabase(), FakeInstabase(token="other")
    async with first.serve() as url1, second.serve() as url2:
        assert url1 != url2
        async with httpx.AsyncClient() as http:
            a = await http.get(f"{url1}/api/v1/jobs/status", headers={"Authorization": "Bearer other"})
            b = await http.get(f"{url2}/api/v1/jobs/status", headers={"Authorization": "Bearer other"})
    assert (a.status_code, b.status_code) == (401, 200)
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{url1}/api/v1/jobs/status")


def test_help_says_it_binds_loopback() -> None:
    """`--help` warns that handlers execute Python code and that the default host is 127.0.0.1."""
    text = build_parser().format_help()
    assert "127.0.0.1" in text
    assert "execute" in text


def test_command_line_takes_a_progress_shape() -> None:
    """`--progress` takes the fake's shapes and "mixed", and refuses anything else."""
    parser = build_parser()
    assert parser.parse_args(["--progress", "mixed"]).progress == "mixed"
    assert parser.parse_args([]).progress == "linear"
    with pytest.raises(SystemExit):
        parser.parse_args(["--progress", "spiral"])


def test_command_line_serves_until_terminated() -> None:
    """`python -m instabase_async.testing --port 0` prints its URL, answers, and stops on SIGTERM."""
    command = [
        sys.executable,
        "-m",
        "instabase_async.testing",
        "--port",
        "0",
        "--token",
        "t",
        "--job-polls",
        "0",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 20)
        assert ready, "the fake printed no URL within 20 s"
        line = process.stdout.readline().strip()
        assert line.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=line, headers={"Authorization": "Bearer t"}, timeout=5) as http:
            run = http.post("/api/v1/flow/run_flow_async", json=FLOW_BODY).json()
            done = http.get("/api/v1/jobs/status", params={"job_id": run["data"]["job_id"]}).json()
        assert done["state"] == "DONE"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


def test_serve_in_background_from_sync_code() -> None:
    """serve_in_background serves the fake to synchronous code and stops it on exit."""
    fake = FakeInstabase()
    fake.write_file("me/repo/fs/Instabase Drive/a.txt", b"hello")
    with fake.serve_in_background() as url:
        response = httpx.get(
            f"{url}/api/v2/files/me/repo/fs/Instabase%20Drive/a.txt",
            params={"expect-node-type": "file"},
            headers={"Authorization": f"Bearer {fake.token}"},
        )
        assert response.status_code == 200
        assert response.content == b"hello"
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
    fake.close()
