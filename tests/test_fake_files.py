"""The fake Instabase at the wire: the Filesystem API v2."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from support import connect, zip_bytes

from instabase_async.testing import FakeInstabase

API = "/api/v2/files"
DRIVE = "me/repo/fs/Instabase%20Drive"


@pytest.fixture
def fake() -> Iterator[FakeInstabase]:
    """A fresh fake with folder listings of 2 nodes per page."""
    instance = FakeInstabase(page_size=2, job_polls=1)
    yield instance
    instance.close()


FILE = {"expect-node-type": "file"}
FOLDER = {"expect-node-type": "folder"}


@pytest.mark.anyio
async def test_put_then_get_round_trips_and_makes_parents(fake: FakeInstabase) -> None:
    """PUT answers 204 and makes parents; GET ?expect-node-type=file answers the bytes as octet-stream."""
    async with connect(fake) as http:
        put = await http.put(f"{API}/{DRIVE}/new/dir/hello.txt", content=b"hello world")
        again = await http.put(f"{API}/{DRIVE}/new/dir/hello.txt", content=b"bye")
        got = await http.get(f"{API}/{DRIVE}/new/dir/hello.txt", params=FILE)
    assert put.status_code == again.status_code == 204
    assert got.status_code == 200
    assert got.content == b"bye"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-length"] == "3"
    assert fake.is_folder("me/repo/fs/Instabase Drive/new/dir")


@pytest.mark.anyio
async def test_streamed_upload_is_stored_whole(fake: FakeInstabase) -> None:
    """A PUT body sent as many chunks (here 6 MiB, spilled to disk) is stored and read back intact."""
    chunk = bytes(range(256)) * 4096  # 1 MiB

    async def body() -> AsyncIterator[bytes]:
        for _ in range(6):
            yield chunk

    async with connect(fake) as http:
        put = await http.put(f"{API}/big.bin", content=body())
        got = await http.get(f"{API}/big.bin", params=FILE)
    assert put.status_code == 204
    assert fake.file_size("big.bin") == 6 * len(chunk)
    assert got.content == chunk * 6


@pytest.mark.anyio
async def test_if_none_match_creates_with_location_or_refuses_with_412(fake: FakeInstabase) -> None:
    """With `If-None-Match: *` a new file answers 201 + Location; an existing one answers 412 and stays."""
    async with connect(fake) as http:
        created = await http.put(f"{API}/{DRIVE}/a%20b.txt", content=b"1", headers={"If-None-Match": "*"})
        refused = await http.put(f"{API}/{DRIVE}/a%20b.txt", content=b"2", headers={"If-None-Match": "*"})
        bad = await http.put(f"{API}/{DRIVE}/c.txt", content=b"2", headers={"If-None-Match": "etag"})
    assert created.status_code == 201
    assert created.headers["location"] == f"http://localhost{API}/{DRIVE}/a%20b.txt"
    assert refused.status_code == 412
    assert fake.read_file("me/repo/fs/Instabase Drive/a b.txt") == b"1"
    assert bad.status_code == 400


@pytest.mark.anyio
async def test_paths_are_percent_decoded_and_2f_is_a_separator(fake: FakeInstabase) -> None:
    """The raw path is percent-decoded: `%2F` separates folders as `/` does (Instabase's SDK sends
    it), `%23`/`%3F` are `#`/`?` inside a name; a leading `/` is ignored."""
    async with connect(fake) as http:
        await http.put(f"{API}/d/x%2Fy%23z%3F.txt", content=b"slash")
        listing = (await http.get(f"{API}/d%2Fx", params=FOLDER)).json()
        leading = await http.get(f"{API}//d/x/y%23z%3F.txt", params=FILE)
    assert [n["full_path"] for n in listing["nodes"]] == ["d/x/y#z?.txt"]
    assert leading.content == b"slash"
    assert fake.read_file("d/x/y#z?.txt") == b"slash"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "raw", ["a//b", "a/%2E%2E/b", "a/%2e/b", "a/%00b", "a/%FF", "a%2F%2Fb", "a%2F..%2Fb"]
)
async def test_bad_path_segments_are_400(fake: FakeInstabase, raw: str) -> None:
    """An empty, `.` or `..` segment, a NUL or invalid UTF-8 in the path is a 400."""
    async with connect(fake) as http:
        response = await http.put(
            httpx.URL(f"http://localhost{API}/").copy_with(raw_path=f"{API}/{raw}".encode())
        )
    assert response.status_code == 400


@pytest.mark.anyio
async def test_range_reads(fake: FakeInstabase) -> None:
    """`Range: bytes=a-b` answers 206 + `Content-Range: bytes a-b/*`; an open or over-long end is clamped."""
    fake.write_file("f.txt", b"0123456789")
    async with connect(fake) as http:
        middle = await http.get(f"{API}/f.txt", params=FILE, headers={"Range": "bytes=2-5"})
        open_end = await http.get(f"{API}/f.txt", params=FILE, headers={"Range": "bytes=7-"})
        past_end = await http.get(f"{API}/f.txt", params=FILE, headers={"Range": "bytes=8-100"})
    assert middle.status_code == 206
    assert middle.content == b"2345"
    assert middle.headers["content-range"] == "bytes 2-5/*"
    assert middle.headers["content-length"] == "4"
    assert open_end.content == b"789"
    assert past_end.content == b"89"
    assert past_end.headers["content-range"] == "bytes 8-9/*"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("header", "status"),
    [("bytes=10-12", 416), ("bytes=5-2", 416), ("bytes=0-1,4-5", 400), ("bytes=-3", 400), ("lines=1-2", 400)],
)
async def test_bad_or_unsatisfiable_ranges(fake: FakeInstabase, header: str, status: int) -> None:
    """A range past the end is 416 (`Content-Range: bytes */size`); several or suffix ranges are 400."""
    fake.write_file("f.txt", b"0123456789")
    async with connect(fake) as http:
        response = await http.get(f"{API}/f.txt", params=FILE, headers={"Range": header})
    assert response.status_code == status
    if status == 416:
        assert response.headers["content-range"] == "bytes */10"


@pytest.mark.anyio
async def test_get_checks_node_type_and_existence(fake: FakeInstabase) -> None:
    """GET needs expect-node-type (400 without), the node must be of that type (400), and exist (404)."""
    fake.write_file("d/f.txt", b"x")
    async with connect(fake) as http:
        no_type = await http.get(f"{API}/d/f.txt")
        folder_as_file = await http.get(f"{API}/d", params=FILE)
        file_as_folder = await http.get(f"{API}/d/f.txt", params=FOLDER)
        missing = await http.get(f"{API}/d/nope.txt", params=FILE)
        missing_folder = await http.get(f"{API}/nope", params=FOLDER)
    assert no_type.status_code == folder_as_file.status_code == file_as_folder.status_code == 400
    assert missing.status_code == missing_folder.status_code == 404
    assert "message" in missing.json()


@pytest.mark.anyio
async def test_folder_listing_pages_with_start_token(fake: FakeInstabase) -> None:
    """A folder lists `{nodes, has_more, next_page_token}` sorted by name, page by page via start-token."""
    for name in ("e.txt", "a.txt", "c.txt", "b.txt"):
        fake.write_file(f"d/{name}", name.encode())
    fake.mkdir("d/sub")
    pages = []
    async with connect(fake) as http:
        params = dict(FOLDER)
        for _ in range(5):
            page = (await http.get(f"{API}/d", params=params)).json()
            pages.append(page)
            if not page["has_more"]:
                break
            params["start-token"] = page["next_page_token"]
        bad_token = await http.get(f"{API}/d", params={**FOLDER, "start-token": "%%%"})
    names = [n["name"] for page in pages for n in page["nodes"]]
    assert names == ["a.txt", "b.txt", "c.txt", "e.txt", "sub"]
    assert [p["has_more"] for p in pages] == [True, True, False]
    assert pages[-1]["next_page_token"] == ""
    first = pages[0]["nodes"][0]
    assert first == {
        "full_path": "d/a.txt",
        "name": "a.txt",
        "node_type": "file",
        "size": 5,
        "modified": first["modified"],
    }
    assert pages[-1]["nodes"][-1]["node_type"] == "folder"
    assert bad_token.status_code == 400


@pytest.mark.anyio
async def test_head_tells_file_from_folder(fake: FakeInstabase) -> None:
    """HEAD: a file has octet-stream, Content-Length, HTTP-date Last-Modified; a folder application/json."""
    fake.write_file("d/f.bin", b"1234")
    async with connect(fake) as http:
        file_head = await http.head(f"{API}/d/f.bin")
        folder_head = await http.head(f"{API}/d")
        missing = await http.head(f"{API}/d/nope")
    assert file_head.status_code == 200
    assert file_head.headers["content-type"] == "application/octet-stream"
    assert file_head.headers["content-length"] == "4"
    assert file_head.headers["last-modified"].endswith(" GMT")
    assert folder_head.headers["content-type"] == "application/json"
    assert "last-modified" not in folder_head.headers
    assert missing.status_code == 404


@pytest.mark.anyio
async def test_delete_is_a_job_at_an_absolute_location(fake: FakeInstabase) -> None:
    """DELETE answers 202 + absolute Location (even for a missing path); the node goes when its job ends."""
    fake.write_file("d/f.txt", b"x")
    async with connect(fake) as http:
        deleted = await http.delete(f"{API}/d")
        missing = await http.delete(f"{API}/never/there")
        location = deleted.headers["location"]
        job_id = location.rsplit("/", 1)[1]
        assert location == f"http://localhost{API}/delete/jobs/{job_id}"
        first = (await http.get(location)).json()
        still = fake.exists("d/f.txt")
        second = (await http.get(f"/api/v2/jobs/{job_id}")).json()
        other = (await http.get(missing.headers["location"])).json()
        unknown = await http.get(f"{API}/delete/jobs/nope")
    assert deleted.status_code == missing.status_code == 202
    assert first == {"state": "RUNNING", "message": "Running"}
    assert still
    assert second["state"] == "COMPLETE"
    assert not fake.exists("d")
    assert other["state"] == "RUNNING"
    assert unknown.status_code == 404


@pytest.mark.anyio
async def test_failed_delete_job_reports_failed(fake: FakeInstabase) -> None:
    """A file job given an ERROR outcome reads FAILED with its message, and deletes nothing."""
    fake.write_file("f.txt", b"x")
    fake.set_next_outcomes(["ERROR"], kind="file_delete")
    async with connect(fake) as http:
        location = (await http.delete(f"{API}/f.txt")).headers["location"]
        states = [(await http.get(location)).json() for _ in range(2)]
    assert states[-1] == {"state": "FAILED", "message": "Job failed"}
    assert fake.exists("f.txt")


@pytest.mark.anyio
async def test_post_creates_a_folder(fake: FakeInstabase) -> None:
    """POST {name, node_type: folder} on a parent answers 201; an existing name 409; other node types 400."""
    async with connect(fake) as http:
        created = await http.post(f"{API}/{DRIVE}", json={"name": "new folder", "node_type": "folder"})
        again = await http.post(f"{API}/{DRIVE}", json={"name": "new folder", "node_type": "folder"})
        wrong = await http.post(f"{API}/{DRIVE}", json={"name": "x", "node_type": "file"})
        dots = await http.post(f"{API}/{DRIVE}", json={"name": "..", "node_type": "folder"})
    assert created.status_code == 201
    assert created.headers["location"].endswith(f"{DRIVE}/new%20folder")
    assert fake.is_folder("me/repo/fs/Instabase Drive/new folder")
    assert again.status_code == 409
    assert wrong.status_code == dots.status_code == 400


@pytest.mark.anyio
async def test_copy_and_append(fake: FakeInstabase) -> None:
    """POST copy is a 202 job that copies at completion; PATCH with IB-Cursor 0 / -1 writes then appends."""
    fake.job_polls = 0
    async with connect(fake) as http:
        first = await http.patch(f"{API}/log.txt", content=b"ab", headers={"IB-Cursor": "0"})
        await http.patch(f"{API}/log.txt", content=b"cd", headers={"IB-Cursor": "-1"})
        bad_cursor = await http.patch(f"{API}/log.txt", content=b"x", headers={"IB-Cursor": "7"})
        copy = await http.post(f"{API}/copy", json={"src_path": "log.txt", "dst_path": "backup/log.txt"})
        done = (await http.get(copy.headers["location"])).json()
    assert first.status_code == 204
    assert bad_cursor.status_code == 400
    assert fake.read_file("log.txt") == b"abcd"
    assert copy.status_code == 202
    assert done["state"] == "COMPLETE"
    assert fake.read_file("backup/log.txt") == b"abcd"


@pytest.mark.anyio
async def test_ib_retry_config_waits_for_a_late_file(fake: FakeInstabase) -> None:
    """With IB-Retry-Config the server looks again after each backoff: a file written meanwhile is found."""
    retry = {"IB-Retry-Config": json.dumps({"retries": 5, "backoff-seconds": 0.05})}
    async with connect(fake) as http, anyio.create_task_group() as tg:

        async def write_later() -> None:
            await anyio.sleep(0.08)
            fake.write_file("late.txt", b"here")

        tg.start_soon(write_later)
        found = await http.get(f"{API}/late.txt", params=FILE, headers=retry)
        stat = await http.head(
            f"{API}/late.txt", headers={"IB-Retry-Config": "{retries:1,backoff-seconds:1}"}
        )
        bad = await http.head(f"{API}/late.txt", headers={"IB-Retry-Config": json.dumps({"retries": 0})})
    assert found.content == b"here"
    assert stat.status_code == 200
    assert bad.status_code == 400


@pytest.mark.anyio
async def test_writing_over_a_folder_or_under_a_file_conflicts(fake: FakeInstabase) -> None:
    """A PUT onto a folder, or below a file, answers 409; the root cannot be written or deleted (400)."""
    fake.write_file("d/f.txt", b"x")
    async with connect(fake) as http:
        onto_folder = await http.put(f"{API}/d", content=b"x")
        below_file = await http.put(f"{API}/d/f.txt/g.txt", content=b"x")
        root_put = await http.put(f"{API}/", content=b"x")
        root_delete = await http.delete(f"{API}/")
    assert onto_folder.status_code == below_file.status_code == 409
    assert root_put.status_code == root_delete.status_code == 400


async def _run_file_job(http: httpx.AsyncClient, route: str, src: str, dst: str) -> dict[str, Any]:
    answer = await http.post(f"{API}/{route}", json={"src_path": src, "dst_path": dst})
    assert answer.status_code == 202
    for _ in range(10):
        state: dict[str, Any] = (await http.get(answer.headers["location"])).json()
        if state["state"] != "RUNNING":
            return state
    raise AssertionError("file job did not finish")


@pytest.mark.anyio
async def test_extract_merges_into_a_folder_or_changes_nothing_on_conflict(fake: FakeInstabase) -> None:
    """Extract merges into an existing folder (replacing same-named files); an entry that meets a
    file where a folder must be (or a folder where a file must be) fails the job and unpacks nothing."""
    fake.write_file("z/ok.zip", zip_bytes({"d/": b"", "d/a.txt": b"new", "b.txt": b"B"}))
    fake.write_file("z/clash.zip", zip_bytes({"e/x.txt": b"x", "keep.txt/inner": b"y"}))
    fake.write_file("z/self.zip", zip_bytes({"f": b"file", "f/g": b"under a file"}))
    fake.write_file("out/d/a.txt", b"old")
    fake.write_file("out/keep.txt", b"keep")
    fake.write_file("out/other.txt", b"other")
    async with connect(fake) as http:
        ok = await _run_file_job(http, "extract", "z/ok.zip", "out")
        clash = await _run_file_job(http, "extract", "z/clash.zip", "out")
        inner = await _run_file_job(http, "extract", "z/self.zip", "out2")
        missing = await _run_file_job(http, "extract", "z/none.zip", "out3")
        folder = await _run_file_job(http, "extract", "z", "out4")
    assert ok["state"] == "COMPLETE"
    assert (fake.read_file("out/d/a.txt"), fake.read_file("out/b.txt")) == (b"new", b"B")
    assert fake.read_file("out/other.txt") == b"other"
    assert clash["state"] == "FAILED"
    assert "is a file already" in clash["message"]
    assert not fake.exists("out/e")
    assert (inner["state"], fake.exists("out2")) == ("FAILED", False)
    assert missing["state"] == folder["state"] == "FAILED"
    assert "no file at" in missing["message"]
    assert "is a folder, not a zip archive" in folder["message"]


@pytest.mark.anyio
async def test_extract_refuses_an_archive_too_large_to_unpack(
    fake: FakeInstabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive whose entries add up past the fake's unpack limit fails its job (a zip-bomb guard)."""
    from instabase_async.testing import _archive

    monkeypatch.setattr(_archive, "MAX_UNPACKED_BYTES", 10)
    fake.write_file("z/big.zip", zip_bytes({"a.txt": b"0123456789A"}))
    async with connect(fake) as http:
        state = await _run_file_job(http, "extract", "z/big.zip", "big")
    assert state["state"] == "FAILED"
    assert "more than 10 bytes" in state["message"]
    assert not fake.exists("big")


@pytest.mark.anyio
async def test_copy_that_meets_a_conflict_copies_nothing(fake: FakeInstabase) -> None:
    """A folder copy whose target holds a file where the source has a folder fails and copies nothing."""
    fake.write_file("src/a.txt", b"a")
    fake.write_file("src/sub/b.txt", b"b")
    fake.write_file("dst/sub", b"a file in the way")
    async with connect(fake) as http:
        state = await _run_file_job(http, "copy", "src", "dst")
    assert state["state"] == "FAILED"
    assert not fake.exists("dst/a.txt")


def test_file_jobs_take_effect_without_any_request() -> None:
    """A time-driven delete is applied when the test next looks (`exists`, `read_file`, `jobs`),
    with no request and no poll in between."""
    fake = FakeInstabase(job_seconds=0.05)
    fake.write_file("a/b.txt", b"x")
    fake.write_file("c.txt", b"y")

    async def delete() -> None:
        async with connect(fake) as http:
            await http.delete(f"{API}/a")

    anyio.run(delete)
    time.sleep(0.2)
    assert not fake.exists("a/b.txt")
    assert fake.read_file("c.txt") == b"y"
    assert [job.status for job in fake.jobs.values()] == ["COMPLETE"]


@pytest.mark.anyio
async def test_extract_reads_a_spilled_archive_and_skips_dot_entries(fake: FakeInstabase) -> None:
    """An archive large enough to live on disk unpacks like a small one (a `./` entry is the folder
    itself); a copy whose source is missing fails its job, saying so."""
    payload = os.urandom(5 * 1024 * 1024)  # incompressible: the archive itself spills past 4 MiB
    async with connect(fake) as http:
        await http.put(f"{API}/z/big.zip", content=zip_bytes({"./": b"", "data.bin": payload}))
        state = await _run_file_job(http, "extract", "z/big.zip", "unpacked")
        missing = await _run_file_job(http, "copy", "no/such", "elsewhere")
    assert state["state"] == "COMPLETE"
    assert fake.list_dir("unpacked") == ["data.bin"]
    assert fake.read_file("unpacked/data.bin") == payload
    assert missing["state"] == "FAILED"
    assert "no file or folder at 'no/such'" in missing["message"]
