"""The served fake, spoken to the way Instabase's own CI/CD scripts and SDK do: a bare synchronous
HTTP client used like `requests`, every `/` of a file path sent as `%2F`, JSON bodies sent as
plain data, chunked PATCH uploads, and file jobs that nobody polls."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from support import zip_bytes

from instabase_async.testing import FakeInstabase

ROOT = "me/repo/fs/Instabase Drive/scripts"
DEADLINE = 10.0  # generous bound for "eventually", on a busy machine; the fake's own clock is 0.5 s


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """One fake served on a loopback port for the whole module (jobs counted in polls, the default)."""
    fake = FakeInstabase(seed=3)
    with fake.serve_in_background() as url:
        yield fake, url
    fake.close()


def sdk_url(base: str, path: str) -> str:
    """The file API URL as Instabase's SDK builds it: the whole path quoted, `/` as `%2F`."""
    return f"{base}/api/v2/files/{quote(path, safe='')}"


def auth(fake: FakeInstabase, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {fake.token}", **extra}


def wait_for(check: Any) -> Any:
    """Call `check()` until it returns something truthy, for at most DEADLINE seconds."""
    end = time.monotonic() + DEADLINE
    while True:
        result = check()
        if result or time.monotonic() > end:
            return result
        time.sleep(0.05)


def job_state(fake: FakeInstabase, base: str, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base}/api/v2/jobs/{job_id}", headers=auth(fake)).json()
    return body


def finished(fake: FakeInstabase, base: str, job_id: str) -> dict[str, Any]:
    """The v2 job state once it is final (polled every 50 ms, bounded)."""
    result: dict[str, Any] = wait_for(
        lambda: (
            (body := job_state(fake, base, job_id))["state"] in ("COMPLETE", "FAILED", "CANCELLED") and body
        )
    )
    assert result, f"job {job_id} did not finish"
    return result


def test_sdk_paths_with_encoded_slashes_write_read_stat_list_and_mkdir(
    served: tuple[FakeInstabase, str],
) -> None:
    """Every `/` sent as `%2F` (the SDK's encoding) reaches the file inside its folders, for PUT,
    GET, HEAD, a folder listing and a folder creation."""
    fake, base = served
    path = f"{ROOT}/sdk/in/a b.txt"
    put = httpx.put(sdk_url(base, path), headers=auth(fake), content=b"hello")
    got = httpx.get(sdk_url(base, path), headers=auth(fake), params={"expect-node-type": "file"})
    head = httpx.head(sdk_url(base, path), headers=auth(fake))
    listing = httpx.get(
        sdk_url(base, f"{ROOT}/sdk"), headers=auth(fake), params={"expect-node-type": "folder"}
    )
    made = httpx.post(
        sdk_url(base, f"{ROOT}/sdk"),
        headers=auth(fake),
        content=json.dumps({"name": "new", "node_type": "folder"}),
    )
    assert put.status_code == 204
    assert put.request.url.raw_path.count(b"%2F") == path.count("/")
    assert (got.status_code, got.content) == (200, b"hello")
    assert head.headers["content-length"] == "5"
    assert [node["full_path"] for node in listing.json()["nodes"]] == [f"{ROOT}/sdk/in"]
    assert made.status_code == 201
    assert fake.read_file(path) == b"hello"
    assert fake.is_folder(f"{ROOT}/sdk/new")


def test_chunked_patch_upload_of_10_mib(served: tuple[FakeInstabase, str]) -> None:
    """A 10 MiB file sent as the upload script does (PATCH parts, `IB-Cursor: 0` then `-1`) is
    stored whole, each part answered 204."""
    fake, base = served
    data = bytes(range(256)) * (10 * 1024 * 1024 // 256)
    part_size = 4 * 1024 * 1024
    url = sdk_url(base, f"{ROOT}/big/ten.bin")
    statuses = []
    with httpx.Client(headers=auth(fake), timeout=30) as client:
        for number, offset in enumerate(range(0, len(data), part_size)):
            cursor = "0" if number == 0 else "-1"
            part = data[offset : offset + part_size]
            statuses.append(client.patch(url, headers={"IB-Cursor": cursor}, content=part).status_code)
        back = client.get(url, params={"expect-node-type": "file"}).content
    assert statuses == [204, 204, 204]
    assert len(back) == len(data) == 10 * 1024 * 1024
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()


def test_delete_that_nobody_polls_takes_effect_on_its_own(served: tuple[FakeInstabase, str]) -> None:
    """DELETE answers 202; without a single poll of its job, HEAD turns 404 once the job's own
    clock (at most 1 s) has run, and the folder's files are gone with it."""
    fake, base = served
    fake.write_file(f"{ROOT}/gone/a.txt", b"a")
    fake.write_file(f"{ROOT}/gone/sub/b.txt", b"b")
    deleted = httpx.delete(sdk_url(base, f"{ROOT}/gone"), headers=auth(fake))
    job = fake.get_job(deleted.headers["location"].rsplit("/", 1)[1])
    gone = wait_for(
        lambda: httpx.head(sdk_url(base, f"{ROOT}/gone/sub/b.txt"), headers=auth(fake)).status_code == 404
    )
    assert deleted.status_code == 202
    assert gone
    assert not fake.exists(f"{ROOT}/gone")
    assert job.status == "COMPLETE"
    assert job.polls == 0
    deadline = job.deadline()
    assert deadline is not None and deadline - job.started_monotonic <= 1.0


def test_file_jobs_follow_job_seconds_when_set() -> None:
    """With `job_seconds`, a copy nobody polls takes effect after that time, not before its end."""
    fake = FakeInstabase(job_seconds=0.2)
    fake.write_file("a/f.txt", b"x")
    with fake.serve_in_background() as base:
        copied = httpx.post(
            f"{base}/api/v2/files/copy",
            headers=auth(fake),
            content=json.dumps({"src_path": "a/f.txt", "dst_path": "b/f.txt"}),
        )
        job = fake.get_job(copied.json()["job_id"])
        arrived = wait_for(
            lambda: httpx.head(sdk_url(base, "b/f.txt"), headers=auth(fake)).status_code == 200
        )
    assert arrived
    assert job.seconds_needed == 0.2
    assert job.finished_at is not None and job.finished_at - job.created_at >= 0.2


def test_extract_unpacks_a_zip_from_the_store(served: tuple[FakeInstabase, str]) -> None:
    """`POST /api/v2/files/extract` answers 202 with `job_id` and `Location`; the job unpacks the
    archive's files and folders into `dst_path`."""
    fake, base = served
    archive = zip_bytes({"Regression Suite/": b"", "Regression Suite/a b.txt": b"A", "top.json": b"{}"})
    httpx.put(sdk_url(base, f"{ROOT}/zips/suite.zip"), headers=auth(fake), content=archive)
    body = {"src_path": f"{ROOT}/zips/suite.zip", "dst_path": f"{ROOT}/zips/suite"}
    answer = httpx.post(f"{base}/api/v2/files/extract", headers=auth(fake), content=json.dumps(body))
    job_id = answer.json()["job_id"]
    state = finished(fake, base, job_id)
    listed = httpx.get(
        sdk_url(base, f"{ROOT}/zips/suite/Regression Suite"),
        headers=auth(fake),
        params={"expect-node-type": "folder"},
    ).json()
    assert answer.status_code == 202
    assert answer.headers["location"] == f"{base}/api/v2/jobs/{job_id}"
    assert state["state"] == "COMPLETE"
    assert [node["name"] for node in listed["nodes"]] == ["a b.txt"]
    assert fake.read_file(f"{ROOT}/zips/suite/top.json") == b"{}"


def test_copy_copies_a_folder_and_a_file(served: tuple[FakeInstabase, str]) -> None:
    """`POST /api/v2/files/copy` copies a whole folder, or one file, once its job has run."""
    fake, base = served
    fake.write_file(f"{ROOT}/src/one.txt", b"1")
    fake.write_file(f"{ROOT}/src/deep/two.txt", b"2")
    jobs = [
        httpx.post(
            f"{base}/api/v2/files/copy",
            headers=auth(fake),
            content=json.dumps({"src_path": src, "dst_path": dst}),
        ).json()["job_id"]
        for src, dst in ((f"{ROOT}/src", f"{ROOT}/dst"), (f"{ROOT}/src/one.txt", f"{ROOT}/single.txt"))
    ]
    states = [finished(fake, base, job_id)["state"] for job_id in jobs]
    assert states == ["COMPLETE", "COMPLETE"]
    assert fake.read_file(f"{ROOT}/dst/deep/two.txt") == b"2"
    assert fake.read_file(f"{ROOT}/single.txt") == b"1"
    assert fake.read_file(f"{ROOT}/src/one.txt") == b"1"


@pytest.mark.parametrize(
    ("archive", "needle"),
    [
        (zip_bytes({"ok.txt": b"1", "../escape.txt": b"x"}), "outside the target folder"),
        (zip_bytes({"/etc/passwd": b"x"}), "outside the target folder"),
        (zip_bytes({"a\\..\\..\\escape.txt": b"x"}), "outside the target folder"),
        (zip_bytes({"C:/escape.txt": b"x"}), "outside the target folder"),
        (b"plain text, not an archive", "not a zip archive"),
    ],
    ids=["dotdot", "absolute", "backslashes", "drive", "not-zip"],
)
def test_extract_refuses_zip_slip_and_non_zips_as_a_failed_job(
    served: tuple[FakeInstabase, str], archive: bytes, needle: str
) -> None:
    """An archive that is not a zip, or holds an entry that would land outside `dst_path`, fails
    its job with a message saying so, and nothing at all is unpacked."""
    fake, base = served
    name = hashlib.sha256(archive).hexdigest()[:12]
    fake.write_file(f"{ROOT}/bad/{name}.zip", archive)
    body = {"src_path": f"{ROOT}/bad/{name}.zip", "dst_path": f"{ROOT}/bad/{name}/out"}
    job_id = httpx.post(f"{base}/api/v2/files/extract", headers=auth(fake), content=json.dumps(body)).json()[
        "job_id"
    ]
    state = finished(fake, base, job_id)
    assert state["state"] == "FAILED"
    assert needle in state["message"]
    assert not fake.exists(f"{ROOT}/bad/{name}")
    assert not fake.exists(f"{ROOT}/escape.txt")


def test_extract_of_a_tar_archive_fails_as_not_a_zip(served: tuple[FakeInstabase, str]) -> None:
    """A real archive of another kind (tar.gz) is refused: the fake unpacks zip archives only."""
    fake, base = served
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("a.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
    fake.write_file(f"{ROOT}/tar/a.tar.gz", buffer.getvalue())
    body = {"src_path": f"{ROOT}/tar/a.tar.gz", "dst_path": f"{ROOT}/tar/a"}
    job_id = httpx.post(f"{base}/api/v2/files/extract", headers=auth(fake), content=json.dumps(body)).json()[
        "job_id"
    ]
    state = finished(fake, base, job_id)
    assert (state["state"], "not a zip archive" in state["message"]) == ("FAILED", True)
    assert not fake.exists(f"{ROOT}/tar/a")


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("copy", {"src_path": "a/b", "dst_path": "a/b/c"}),
        ("copy", {"src_path": "a/b", "dst_path": "a/b"}),
        ("copy", {"src_path": "a/../b", "dst_path": "c"}),
        ("copy", {"src_path": "a"}),
        ("extract", {"src_path": "a.zip", "dst_path": "a.zip/x"}),
        ("extract", {"src_path": "", "dst_path": "x"}),
    ],
)
def test_copy_and_extract_refuse_bad_bodies_with_400(
    served: tuple[FakeInstabase, str], route: str, body: dict[str, str]
) -> None:
    """A destination inside the source, a `..` segment or a missing path is a 400 and starts no job."""
    fake, base = served
    before = len(fake.jobs)
    answer = httpx.post(f"{base}/api/v2/files/{route}", headers=auth(fake), content=json.dumps(body))
    assert answer.status_code == 400
    assert answer.json()["message"]
    assert len(fake.jobs) == before


def test_flow_run_with_headers_only_webhook_and_solution_patch_by_body(
    served: tuple[FakeInstabase, str],
) -> None:
    """The regression script's `webhook_config: {"headers": {}}` starts a run; a solution PATCH
    with a JSON body sets state and visibility (query and body may agree, not differ)."""
    fake, base = served
    solution_id = fake.add_solution(name="scripted", state="ACTIVE", visibility="PUBLIC")
    payload = {
        "ibflow_path": f"{ROOT}/flow.ibflow",
        "input_dir": f"{ROOT}/in",
        "compile_and_run_as_binary": True,
        "output_has_run_id": True,
        "webhook_config": {"headers": {}},
    }
    run = httpx.post(f"{base}/api/v1/flow/run_flow_async", headers=auth(fake), content=json.dumps(payload))
    url = f"{base}/api/v2/solutions/deployed/{solution_id}"
    headers = auth(fake, **{"Content-Type": "application/json", "Ib-Context": "my-org"})
    by_body = httpx.patch(
        url, headers=headers, content=json.dumps({"state": "INACTIVE", "visibility": "PRIVATE"})
    )
    production = httpx.patch(url, headers=headers, content=json.dumps({"state": "PRODUCTION"}))
    agreeing = httpx.patch(
        url, headers=headers, params={"state": "ACTIVE"}, content=json.dumps({"state": "ACTIVE"})
    )
    differing = httpx.patch(
        url, headers=headers, params={"state": "ACTIVE"}, content=json.dumps({"state": "INACTIVE"})
    )
    bad = httpx.patch(url, headers=headers, content=json.dumps({"visibility": "EVERYONE"}))
    assert run.json()["status"] == "OK"
    assert by_body.json()["solution"]["state"] == "INACTIVE"
    assert production.json()["solution"]["state"] == "PRODUCTION"
    assert agreeing.status_code == 200
    assert (differing.status_code, bad.status_code) == (400, 400)
    solution = fake.solutions[solution_id]
    assert (solution.state, solution.visibility) == ("ACTIVE", "PRIVATE")
