"""Wire tests of the file operations Instabase's own scripts use: `files.copy`, `files.extract`,
`jobs.from_id(job_id, type="file")`, and the `IB-Context` header of `AsyncInstabase(context=...)`."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
import respx
from support import zip_bytes

from instabase_async import (
    AsyncInstabase,
    JobFailedError,
    JobState,
    PollPolicy,
    ResponseValidationError,
    RetryPolicy,
)
from instabase_async.testing import FakeInstabase

BASE = "https://ib.test"
TOKEN = "tok-file-jobs-0123456789"
pytestmark = pytest.mark.usefixtures("httpx_transport")


def client(**kwargs: Any) -> AsyncInstabase:
    kwargs.setdefault("retry", RetryPolicy(initial_backoff=0))
    return AsyncInstabase(BASE, TOKEN, **kwargs)


@pytest.mark.anyio
@pytest.mark.parametrize("verb", ["copy", "extract"])
async def test_copy_and_extract_post_json_and_follow_location(router: respx.MockRouter, verb: str) -> None:
    """`files.copy`/`files.extract` POST `{"src_path", "dst_path"}` (leading `/` dropped) to
    `/api/v2/files/<verb>` and return a Job polled at the 202's Location (type None)."""
    route = router.post(f"/api/v2/files/{verb}").respond(
        202, json={"job_id": "j-1"}, headers={"Location": "/api/v2/jobs/j-1"}
    )
    status = router.get("/api/v2/jobs/j-1").respond(200, json={"state": "COMPLETE", "message": "done"})
    with anyio.fail_after(10):
        async with client() as ib:
            method = ib.files.copy if verb == "copy" else ib.files.extract
            job = await method("/o/r/fs/Instabase Drive/a.zip", "o/r/fs/Instabase Drive/out dir")
            done = await job.wait()
    request = route.calls.last.request
    assert request.method == "POST"
    assert request.url.raw_path == f"/api/v2/files/{verb}".encode()
    assert json.loads(request.content) == {
        "src_path": "o/r/fs/Instabase Drive/a.zip",
        "dst_path": "o/r/fs/Instabase Drive/out dir",
    }
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (job.job_id, job.type, job.status_url) == ("j-1", None, f"{BASE}/api/v2/jobs/j-1")
    assert done.state is JobState.COMPLETE
    assert status.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.anyio
async def test_copy_without_location_polls_the_v2_job_of_the_body(router: respx.MockRouter) -> None:
    """With no Location, the job is polled at `GET /api/v2/jobs/<job_id>` from the body (type "file")."""
    router.post("/api/v2/files/copy").respond(202, json={"job_id": "a b#1"})
    status = router.get(url__regex=r"/api/v2/jobs/").mock(
        side_effect=[
            httpx.Response(200, json={"state": "RUNNING"}),
            httpx.Response(200, json={"state": "FAILED", "message": "no file at 'a'"}),
        ]
    )
    with anyio.fail_after(10):
        async with client() as ib:
            job = await ib.files.copy("a", "b")
            first = await job.status()
            second = await job.status()
    assert (job.job_id, job.type, job.status_url) == ("a b#1", "file", f"{BASE}/api/v2/jobs/a%20b%231")
    assert status.calls.last.request.url.raw_path == b"/api/v2/jobs/a%20b%231"
    assert first.state is JobState.RUNNING
    assert (second.state, second.message) == (JobState.FAILED, "no file at 'a'")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(202),
        httpx.Response(202, json={"job_id": ""}),
        httpx.Response(202, json={"job_id": "x/y"}),
        httpx.Response(202, json=["j"]),
        httpx.Response(202, headers={"Location": "https://evil.test/api/v2/jobs/1"}),
    ],
    ids=["nothing", "empty-id", "slash-id", "not-an-object", "other-origin"],
)
async def test_an_answer_without_a_usable_job_is_a_validation_error(
    router: respx.MockRouter, answer: httpx.Response
) -> None:
    """A 202 with neither a same-origin Location nor a usable `job_id` is a ResponseValidationError,
    and nothing else is sent (a foreign Location never gets the token)."""
    router.post("/api/v2/files/extract").mock(return_value=answer)
    with anyio.fail_after(10):
        async with client() as ib:
            with pytest.raises(ResponseValidationError):
                await ib.files.extract("a.zip", "a")
    assert len(router.calls) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("src", "dst", "error"),
    [
        ("a/b", "a/b/c", ValueError),
        ("a/b", "/a/b", ValueError),
        ("a/b", "a/b/c/d", ValueError),
        ("a/../b", "c", ValueError),
        ("a", "b//c", ValueError),
        ("", "b", ValueError),
        ("a", None, TypeError),
        (b"a", "b", TypeError),
    ],
)
async def test_bad_copy_and_extract_paths_raise_before_sending(
    router: respx.MockRouter, src: Any, dst: Any, error: type[Exception]
) -> None:
    """A destination equal to or inside the source, a `.`/`..`/empty segment or a non-string is
    refused before any request."""
    with anyio.fail_after(10):
        async with client() as ib:
            with pytest.raises(error):
                await ib.files.copy(src, dst)
            with pytest.raises(error):
                await ib.files.extract(src, dst)
    assert not router.calls


@pytest.mark.anyio
async def test_from_id_file_polls_the_v2_jobs_api(router: respx.MockRouter) -> None:
    """`jobs.from_id(id, type="file")` is polled at `/api/v2/jobs/<id>`; its body is read leniently
    (both keys optional, unknown states waited on); `jobs.status(id, type="file")` does the same."""
    route = router.get("/api/v2/jobs/job-7").mock(
        side_effect=[
            httpx.Response(200, json={}),
            httpx.Response(200, json={"state": "SHUFFLING", "extra": 1}),
            httpx.Response(200, json={"state": "complete"}),
            httpx.Response(200, json={"state": "COMPLETE", "message": "ok"}),
        ]
    )
    with anyio.fail_after(10):
        async with client() as ib:
            job = ib.jobs.from_id("job-7", type="file")
            states = [(await job.status()).state for _ in range(3)]
            again = await ib.jobs.status("job-7", type="file")
            resumed = ib.jobs.from_token(job.to_token())
    assert (job.type, job.status_url) == ("file", f"{BASE}/api/v2/jobs/job-7")
    assert states == [JobState.UNKNOWN, JobState.UNKNOWN, JobState.COMPLETE]
    assert again.message == "ok"
    assert resumed == job
    assert route.calls.last.request.url.params == httpx.QueryParams()


@pytest.mark.parametrize("job_id", ["", ".", "..", "a/b", "a\x00b"])
def test_from_id_file_refuses_an_id_that_is_not_one_segment(job_id: str) -> None:
    """A file job id is one path segment: empty, `.`, `..`, `/` or NUL is a ValueError."""
    ib = client()
    with pytest.raises(ValueError):
        ib.jobs.from_id(job_id, type="file")


@pytest.mark.anyio
async def test_context_sends_ib_context_on_every_request(router: respx.MockRouter) -> None:
    """`context="my-org"` sends `IB-Context: my-org` on every request: calls, polls, `request()`."""
    router.post("/api/v2/files/copy").respond(202, headers={"Location": "/api/v2/jobs/1"})
    router.get("/api/v2/jobs/1").respond(200, json={"state": "COMPLETE"})
    router.get("/api/v1/jobs/status").respond(200, json={"status": "OK", "state": "DONE", "results": []})
    router.get("/api/v2/solutions/deployed/s1").respond(200, json={"solution": {"id": "s1"}})
    with anyio.fail_after(10):
        async with client(context="my-org") as ib:
            await (await ib.files.copy("a", "b")).wait()
            await ib.jobs.status("j")
            await ib.solutions.get("s1")
            await ib.request("GET", "/api/v2/solutions/deployed/s1")
    assert len(router.calls) == 5
    assert all(call.request.headers.get("IB-Context") == "my-org" for call in router.calls)


@pytest.mark.parametrize(
    ("context", "error"),
    [("", ValueError), ("a\r\nX-Evil: 1", ValueError), (3, TypeError)],
)
def test_bad_context_is_refused(context: Any, error: type[Exception]) -> None:
    """An empty context, one with a line break, or a non-string is refused by the constructor."""
    with pytest.raises(error):
        AsyncInstabase(BASE, TOKEN, context=context)


def test_context_and_an_ib_context_header_together_are_refused() -> None:
    """`context=` and a `headers={"IB-Context": ...}` at once are ambiguous: a ValueError."""
    with pytest.raises(ValueError, match="context"):
        AsyncInstabase(BASE, TOKEN, context="a", headers={"ib-context": "b"})


# ---------------------------------------------------------------------------- end to end, on the fake


@pytest.mark.anyio
async def test_copy_extract_and_from_id_end_to_end_on_the_fake() -> None:
    """Against the fake: copy a folder, extract a zip into it, wait on both, resume a job by id,
    and wait on file jobs in the waiter; every request carries the client's IB-Context."""
    fake = FakeInstabase(job_polls=1)
    fake.write_file("me/r/fs/D/src/a.txt", b"a")
    fake.write_file("me/r/fs/D/suite.zip", zip_bytes({"Suite/": b"", "Suite/b.txt": b"b"}))
    with anyio.fail_after(20):
        async with fake.client(poll=PollPolicy(initial=0), context="my-org") as ib:
            copied = await ib.files.copy("me/r/fs/D/src", "me/r/fs/D/dst")
            extracted = await ib.files.extract("me/r/fs/D/suite.zip", "me/r/fs/D/dst/unzipped")
            first = await copied.wait()
            resumed = ib.jobs.from_id(extracted.job_id, type="file")
            second = await resumed.wait()
            removed = await ib.files.delete("me/r/fs/D/src")
            again = await ib.files.copy("me/r/fs/D/dst/a.txt", "me/r/fs/D/copy.txt")
            outcomes = await ib.jobs.wait_all([removed, again])
    assert first.state is second.state is JobState.COMPLETE
    assert [outcome.ok for outcome in outcomes] == [True, True]
    assert fake.read_file("me/r/fs/D/dst/a.txt") == b"a"
    assert fake.read_file("me/r/fs/D/dst/unzipped/Suite/b.txt") == b"b"
    assert fake.read_file("me/r/fs/D/copy.txt") == b"a"
    assert not fake.exists("me/r/fs/D/src")
    assert {record.headers.get("ib-context") for record in fake.requests} == {"my-org"}
    fake.close()


@pytest.mark.anyio
async def test_a_failed_extract_raises_job_failed_on_the_fake() -> None:
    """Against the fake, an archive that is not a zip fails its job: `wait` raises JobFailedError
    whose status says why, and nothing is unpacked."""
    fake = FakeInstabase(job_polls=0)
    fake.write_file("me/r/fs/D/notes.zip", b"not a zip at all")
    with anyio.fail_after(20):
        async with fake.client(poll=PollPolicy(initial=0)) as ib:
            job = await ib.files.extract("me/r/fs/D/notes.zip", "me/r/fs/D/notes")
            with pytest.raises(JobFailedError) as caught:
                await job.wait()
    assert caught.value.status is not None
    assert "not a zip archive" in (caught.value.status.message or "")
    assert not fake.exists("me/r/fs/D/notes")
    fake.close()
