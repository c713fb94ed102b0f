"""Durable runs: run_many and upload_many with a ledger resume after a crash, and share one run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from instabase_async import (
    AsyncInstabase,
    BadRequestError,
    ConflictError,
    FlowRunRequest,
    Ledger,
    PollPolicy,
    Progress,
    RetryPolicy,
    RunOutcome,
    ServerError,
    SolutionRunRequest,
    SubmissionUnknownError,
    TransferOutcome,
    WaitTimeoutError,
)
from instabase_async._ledger._records import derived_job_id
from instabase_async.testing import FakeInstabase

pytestmark = pytest.mark.anyio

FLOW = "me/repo/fs/Instabase Drive/flows/test.ibflow"
FAST = PollPolicy(initial=0.0, maximum=0.01, jitter=0.0)
WORKER = Path(__file__).with_name("durable_worker.py")


def _flows(count: int) -> list[FlowRunRequest]:
    return [FlowRunRequest(FLOW, f"in/{index}") for index in range(count)]


def _runs(fake: FakeInstabase, route: str = "flow.run") -> int:
    return fake.requests.count(route, method="POST")


@pytest.fixture
def fake() -> FakeInstabase:
    """A fake whose jobs finish on their first poll."""
    return FakeInstabase(job_polls=1)


# --------------------------------------------------------------------------- in one process


async def test_a_rerun_returns_recorded_outcomes_without_a_request(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """Every request is done after the first call; the second call sends nothing and returns the same."""
    seen: list[RunOutcome] = []
    events: list[Progress] = []
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db", run="n") as ledger:
            first = await ib.flows.run_many(
                _flows(6), max_running=2, ledger=ledger, on_outcome=seen.append, progress=events.append
            )
            assert await ledger.summary() == {
                "pending": 0,
                "submitting": 0,
                "running": 0,
                "done": 6,
                "unknown": 0,
            }
            sent = len(fake.requests)
            again = await ib.flows.run_many(_flows(6), max_running=2, ledger=ledger)
            assert len(fake.requests) == sent
            recorded = await ledger.outcomes()
    assert [o.ok for o in first] == [True] * 6 and len(seen) == 6 and events[-1] == Progress(6, 6, 0)
    assert [(o.request, o.job, o.status) for o in again] == [(o.request, o.job, o.status) for o in first]
    assert [(o.request, o.status) for o in recorded] == [(o.request, o.status) for o in first]  # type: ignore[union-attr]
    assert fake.max_running_jobs <= 2
    assert _runs(fake) == 6


async def test_a_failed_submission_is_recorded_done_with_its_error(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """A POST the server refused is a done outcome; a re-run gives the same error without sending."""
    fake.faults.add("flow.run", status=400, times=1)
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db") as ledger:
            (first,) = await ib.flows.run_many(_flows(1), ledger=ledger)
            (again,) = await ib.flows.run_many(_flows(1), ledger=ledger)
    assert isinstance(first.error, BadRequestError) and first.job is None
    assert type(again.error) is BadRequestError and str(again.error) == str(first.error)
    assert _runs(fake) == 1


async def test_running_requests_are_polled_never_submitted_again(fake: FakeInstabase, tmp_path: Path) -> None:
    """A request recorded running (a crash after the answer) is polled on resume, not POSTed."""
    request = _flows(1)[0]
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib:
            async with Ledger(tmp_path / "l.db") as crashed:
                job = await _crash_after_answer(ib, crashed, request)
            async with Ledger(tmp_path / "l.db") as ledger:
                (outcome,) = await ib.flows.run_many([request], ledger=ledger)
    assert outcome.ok and outcome.job == job
    assert _runs(fake) == 1


async def _crash_after_answer(ib: AsyncInstabase, ledger: Ledger, request: FlowRunRequest) -> Any:
    """What a worker leaves when it dies right after recording a job: a running row it owned."""
    from instabase_async._ledger._records import encode_request, request_key

    kind, body = encode_request(request)
    key = request_key(request, kind, body)
    await ledger._register([(key, kind, body, None)])
    claimed, _ = await ledger._claim([key], 1, 1000)
    assert claimed == [key]
    job = await ib.flows.submit(request)
    await ledger._record_jobs([(key, job.to_token())])
    return job


async def _crash_before_answer(ledger: Ledger, requests: list[Any]) -> list[str]:
    """What a worker leaves when it dies between claiming and recording the answer: submitting rows."""
    from instabase_async._ledger._records import encode_request, request_key

    keys = []
    items = []
    for request in requests:
        kind, body = encode_request(request)
        keys.append(request_key(request, kind, body))
        job_id = derived_job_id(ledger.run, keys[-1]) if kind == "solution" else None
        items.append((keys[-1], kind, body, job_id))
    await ledger._register(items)
    await ledger._claim(keys, len(keys), len(keys))
    return keys


async def test_a_flow_found_submitting_is_unknown_until_resubmitted(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """A flow run left in submitting is SubmissionUnknownError (state unknown) on every re-run, with no
    POST, until resubmit_unknown=True submits it once."""
    requests = _flows(2)
    path = tmp_path / "l.db"
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib:
            async with Ledger(path) as crashed:
                await _crash_before_answer(crashed, requests[:1])
            for _ in range(2):
                async with Ledger(path) as ledger:
                    unknown, fine = await ib.flows.run_many(requests, ledger=ledger)
                    assert isinstance(unknown.error, SubmissionUnknownError) and unknown.job is None
                    assert fine.ok
                    assert (await ledger.summary())["unknown"] == 1
            assert _runs(fake) == 1
            async with Ledger(path) as ledger:
                resubmitted, fine_again = await ib.flows.run_many(
                    requests, ledger=ledger, resubmit_unknown=True
                )
                assert await ledger.summary() == {
                    "pending": 0,
                    "submitting": 0,
                    "running": 0,
                    "done": 2,
                    "unknown": 0,
                }
    assert resubmitted.ok and fine_again.job == fine.job
    assert _runs(fake) == 2


async def test_a_solution_found_submitting_is_resolved_by_its_derived_id(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """A solution run left in submitting is polled by its derived job id when the server knows it, and
    POSTed with that id when it does not: never twice, never unknown."""
    solution = fake.add_solution(name="s")
    requests = [SolutionRunRequest(solution, "in/0"), SolutionRunRequest(solution, "in/1")]
    path = tmp_path / "l.db"
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib:
            async with Ledger(path, run="night") as crashed:
                keys = await _crash_before_answer(crashed, requests)
                # The first POST reached the server before the crash; the second did not.
                await ib.solutions.run(solution, input_dir="in/0", job_id=derived_job_id("night", keys[0]))
            async with Ledger(path, run="night") as ledger:
                outcomes = await ib.solutions.run_many(requests, ledger=ledger)
    assert [o.ok for o in outcomes] == [True, True]
    assert [o.job.job_id for o in outcomes] == [derived_job_id("night", key) for key in keys]  # type: ignore[union-attr]
    assert _runs(fake, "solutions.run") == 2


async def test_a_derived_job_id_the_server_already_has_is_that_run(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """A POST under a derived id answered 409 (another worker's POST of the same request got there
    first) is waited on as that run; a caller's own job_id that clashes stays a ConflictError."""
    solution = fake.add_solution(name="s")
    ours, theirs = (
        SolutionRunRequest(solution, "in/0", key="a"),
        SolutionRunRequest(solution, "in/1", job_id="x"),
    )
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db", run="r") as ledger:
            first = await ib.solutions.run(solution, input_dir="in/0", job_id=derived_job_id("r", "a"))
            await ib.solutions.run(solution, input_dir="elsewhere", job_id="x")
            mine, clash = await ib.solutions.run_many([ours, theirs], ledger=ledger)
    assert mine.ok and mine.job is not None and mine.job.job_id == first.job_id
    assert isinstance(clash.error, ConflictError) and clash.job is None
    assert len(fake.jobs) == 2


async def test_solution_runs_get_derived_job_ids_unless_given(fake: FakeInstabase, tmp_path: Path) -> None:
    """With a ledger, a solution run's job id is derived from run and key; a caller's job_id is kept."""
    solution = fake.add_solution(name="s")
    requests = [
        SolutionRunRequest(solution, "in/0", key="a"),
        SolutionRunRequest(solution, "in/1", job_id="mine"),
    ]
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db", run="r") as ledger:
            outcomes = await ib.solutions.run_many(requests, ledger=ledger)
            plain = await ib.solutions.run_many([SolutionRunRequest(solution, "in/2")])
    assert [o.job.job_id for o in outcomes] == [derived_job_id("r", "a"), "mine"]  # type: ignore[union-attr]
    assert plain[0].ok and len(plain[0].job.job_id) > 0  # type: ignore[union-attr]


async def test_bad_requests_are_refused_before_anything_is_sent_or_recorded(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """Two equal unkeyed requests, a repeated key, or a key reused with another request: ValueError,
    nothing sent, nothing recorded overwritten."""
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db") as ledger:
            with pytest.raises(ValueError, match="equal"):
                await ib.flows.run_many(
                    [FlowRunRequest(FLOW, "in"), FlowRunRequest(FLOW, "in")], ledger=ledger
                )
            with pytest.raises(ValueError, match="same key 'k'"):
                await ib.flows.run_many(
                    [FlowRunRequest(FLOW, "a", key="k"), FlowRunRequest(FLOW, "b", key="k")], ledger=ledger
                )
            assert len(fake.requests) == 0 and await Ledger.runs(tmp_path / "l.db") == []
            await ib.flows.run_many([FlowRunRequest(FLOW, "a", key="k")], ledger=ledger)
            sent = len(fake.requests)
            with pytest.raises(ValueError, match="different request under key 'k'"):
                await ib.flows.run_many([FlowRunRequest(FLOW, "other", key="k")], ledger=ledger)
            assert len(fake.requests) == sent
            (kept,) = await ledger.outcomes()
            assert kept.request == FlowRunRequest(FLOW, "a", key="k")  # type: ignore[union-attr]
            with pytest.raises(TypeError, match="ledger"):
                await ib.flows.run_many(_flows(1), ledger="l.db")  # type: ignore[arg-type]


@pytest.mark.parametrize("same_ledger", [True, False])
async def test_a_timed_out_wait_stays_running_for_the_next_run(tmp_path: Path, same_ledger: bool) -> None:
    """A wait that times out is that call's outcome; the ledger keeps the job running, and the next
    call (on the same Ledger or a new one) polls it to its end instead of submitting it again."""
    fake = FakeInstabase(job_polls=10**6)
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db") as first:
            (late,) = await ib.flows.run_many(_flows(1), ledger=first, timeout=0.05)
            assert isinstance(late.error, WaitTimeoutError) and late.job is not None
            assert (await first.summary())["running"] == 1
            fake.finish_job(late.job.job_id)
            async with Ledger(tmp_path / "l.db") as other:
                (done,) = await ib.flows.run_many(_flows(1), ledger=first if same_ledger else other)
    assert done.ok and done.job == late.job and _runs(fake) == 1


async def test_upload_many_skips_files_uploaded_unchanged(fake: FakeInstabase, tmp_path: Path) -> None:
    """A re-run uploads only new or changed files; the others keep their recorded outcome."""
    folder = tmp_path / "src"
    folder.mkdir()
    for name in "abc":
        (folder / f"{name}.txt").write_text(name * 10)
    items = [(folder / f"{name}.txt", f"me/repo/fs/d/{name}.txt") for name in "abc"]
    with anyio.fail_after(30):
        async with fake.client() as ib, Ledger(tmp_path / "l.db", run="up") as ledger:
            first = await ib.files.upload_many(items, ledger=ledger)
            (folder / "b.txt").write_text("changed, longer")
            os.utime(folder / "b.txt", ns=(1, 1))
            puts = fake.requests.count("files", method="PUT")
            events: list[Progress] = []
            second = await ib.files.upload_many(items, ledger=ledger, progress=events.append)
            recorded = await ledger.outcomes()
    assert events == [Progress(3, 3, 0, 20 + len("changed, longer"), 20 + len("changed, longer"))]
    assert [o.ok for o in first + second] == [True] * 6
    assert fake.requests.count("files", method="PUT") == puts + 1
    assert second[1] == TransferOutcome(str(folder / "b.txt"), "me/repo/fs/d/b.txt", len("changed, longer"))
    assert second[0] == first[0] and fake.read_file("me/repo/fs/d/b.txt") == b"changed, longer"
    assert sorted(o.target for o in recorded) == [target for _, target in items]  # type: ignore[union-attr]


async def test_two_workers_in_one_process_share_a_run(tmp_path: Path) -> None:
    """Two workers on one run each submit some requests, never more than max_running at once in
    all, and each returns every request's outcome (the other's read back from the ledger)."""
    fake = FakeInstabase(job_polls=3)
    requests = _flows(8)
    results: list[list[RunOutcome]] = []
    with anyio.fail_after(30):
        async with (
            fake.client(poll=FAST) as ib,
            Ledger(tmp_path / "l.db", lease_seconds=2) as one,
            Ledger(tmp_path / "l.db", lease_seconds=2) as two,
        ):

            async def work(ledger: Ledger) -> None:
                results.append(await ib.flows.run_many(requests, max_running=2, ledger=ledger))

            async with anyio.create_task_group() as tg:
                tg.start_soon(work, one)
                tg.start_soon(work, two)
    first, second = results
    assert [o.request for o in first] == [o.request for o in second] == requests
    assert all(o.ok for o in first + second)
    assert [o.job for o in first] == [o.job for o in second]
    assert _runs(fake) == 8 and fake.max_running_jobs <= 2


async def test_a_silent_workers_job_is_taken_over_after_its_lease(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """A worker that holds a running job and stops renewing: another worker waits on the ledger, then
    after the lease adopts the job and polls it to its end, with no new POST."""
    request = _flows(1)[0]
    with anyio.fail_after(30):
        async with (
            fake.client(poll=FAST) as ib,
            Ledger(tmp_path / "l.db", lease_seconds=0.5) as silent,
            Ledger(tmp_path / "l.db", lease_seconds=0.5) as heir,
        ):
            await silent._renew()
            job = await _crash_after_answer(ib, silent, request)
            (outcome,) = await ib.flows.run_many([request], ledger=heir)
    assert outcome.ok and outcome.job == job and _runs(fake) == 1


async def test_a_request_claimed_behind_a_workers_back_is_taken_over(tmp_path: Path) -> None:
    """A request this worker still takes for pending, claimed meanwhile by another worker that then
    goes silent, is adopted after that worker's lease and polled to its end (no hang, no new POST)."""
    fake = FakeInstabase(job_seconds=0.6)  # the silent worker's lease ends while the first two run
    requests = _flows(4)
    path = tmp_path / "l.db"
    with anyio.fail_after(30):
        async with (
            fake.client(poll=FAST) as ib,
            Ledger(path, lease_seconds=0.3) as other,
            Ledger(path, lease_seconds=1) as worker,
        ):
            results: list[RunOutcome] = []

            async def work() -> None:
                results.extend(await ib.flows.run_many(requests, max_running=2, ledger=worker))

            async with anyio.create_task_group() as tg:
                tg.start_soon(work)
                while _runs(fake) < 2:  # the worker has claimed and sent the first two
                    await anyio.sleep(0.01)
                await other._renew()
                job = await _crash_after_answer(ib, other, requests[3])  # then goes silent
    assert [o.ok for o in results] == [True] * 4 and results[3].job == job
    assert _runs(fake) == 4


async def test_a_solution_id_the_server_cannot_tell_is_left_for_the_next_run(
    fake: FakeInstabase, tmp_path: Path
) -> None:
    """When asking the server about a derived job id fails, that is the outcome; the request stays
    submitting, never re-sent blindly, and the next run asks again."""
    solution = fake.add_solution(name="s")
    requests = [SolutionRunRequest(solution, "in/0")]
    with anyio.fail_after(30):
        async with fake.client(poll=FAST, retry=RetryPolicy.disabled()) as ib:
            async with Ledger(tmp_path / "l.db") as crashed:
                await _crash_before_answer(crashed, requests)
            fake.faults.add("jobs.status", status=503, times=1)
            async with Ledger(tmp_path / "l.db") as ledger:
                (failed,) = await ib.solutions.run_many(requests, ledger=ledger)
                assert isinstance(failed.error, ServerError)
                assert (await ledger.summary())["submitting"] == 1
            async with Ledger(tmp_path / "l.db") as ledger:
                (outcome,) = await ib.solutions.run_many(requests, ledger=ledger)
    assert outcome.ok and _runs(fake, "solutions.run") == 1


async def test_cancelling_a_durable_run_leaves_a_ledger_to_resume_from(tmp_path: Path) -> None:
    """Cancelled mid-run: only the cancellation surfaces, submissions in the air record their job,
    claims never sent go back to pending, and the next run finishes with one POST per request."""
    fake = FakeInstabase(job_polls=10**6)
    fake.faults.add("flow.run", delay=0.02)
    requests = _flows(12)
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db") as ledger:
            with anyio.move_on_after(0.15) as scope:
                await ib.flows.run_many(requests, max_running=4, ledger=ledger)
            assert scope.cancelled_caught
            counts = await ledger.summary()
            assert counts["submitting"] == 0 and counts["running"] == _runs(fake) <= 4
            fake.job_polls = 0
            for job in list(fake.jobs):
                fake.finish_job(job)
            outcomes = await ib.flows.run_many(requests, max_running=4, ledger=ledger)
    assert all(o.ok for o in outcomes) and _runs(fake) == 12
    assert Counter(json.loads(r.body)["input_dir"] for r in fake.requests.filter("flow.run")) == Counter(
        f"in/{i}" for i in range(12)
    )


async def test_durable_arguments_are_checked(fake: FakeInstabase, tmp_path: Path) -> None:
    """A ledger that is not a Ledger, or a resubmit_unknown that is not a bool, is a TypeError; an
    empty list is no work at all."""
    with anyio.fail_after(30):
        async with fake.client(poll=FAST) as ib, Ledger(tmp_path / "l.db") as ledger:
            with pytest.raises(TypeError, match="resubmit_unknown"):
                await ib.flows.run_many(_flows(1), ledger=ledger, resubmit_unknown=1)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="ledger must be a Ledger"):
                await ib.files.upload_many([], ledger=object())  # type: ignore[arg-type]
            assert await ib.solutions.run_many([], ledger=ledger) == []
            with pytest.raises(TypeError, match="SolutionRunRequest"):
                await ib.solutions.run_many(_flows(1))  # type: ignore[list-item]
    assert len(fake.requests) == 0


# --------------------------------------------------------------------------- crashes, for real


def _spawn(url: str, token: str, ledger: str, run: str, kind: str, count: int, out: Path, **kw: Any) -> Any:
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(WORKER.parent.parent), os.environ.get("PYTHONPATH", "")])
    )
    env.update(kw.pop("env", {}))
    args = [sys.executable, str(WORKER), url, token, ledger, run, kind, str(count)]
    args += [str(kw.pop("max_running", 4)), str(kw.pop("lease", 2.0)), str(out)]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _posted_dirs(fake: FakeInstabase, route: str) -> Counter[str]:
    """Runs the server started, by input folder (a POST cut off by a kill before its body started none)."""
    return Counter(
        json.loads(record.body)["input_dir"]
        for record in fake.requests.filter(route, method="POST", status=200)
    )


@pytest.fixture
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """The fake on a loopback port, jobs lasting 0.1 to 0.4 s, with a solution to run."""
    fake = FakeInstabase(job_seconds=(0.1, 0.4))
    with fake.serve_in_background() as url:
        yield fake, url


@pytest.mark.parametrize("kind", ["flow", "solution"])
def test_workers_killed_at_random_points_resume_exactly_once(
    served: tuple[FakeInstabase, str], tmp_path: Path, kind: str
) -> None:
    """SIGKILL a worker at seeded random points, again and again, then let one finish: every request
    has exactly one outcome and exactly one run POST (flows reported unknown excepted)."""
    fake, url = served
    solution = fake.add_solution(name="s")
    route = "flow.run" if kind == "flow" else "solutions.run"
    # Answers that take a while: kills often land between sending a run and recording its job.
    fake.faults.add(route, delay=0.15)
    count = 24
    ledger = str(tmp_path / "l.db")
    rng = random.Random(f"crash-{kind}")
    out = tmp_path / "out.jsonl"
    env = {"IB_TEST_SOLUTION": solution}
    for _ in range(4):
        worker = _spawn(url, fake.token, ledger, "r", kind, count, out, env=env)
        try:
            worker.wait(timeout=rng.uniform(0.5, 1.3))
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
    worker = _spawn(url, fake.token, ledger, "r", kind, count, out, env=env)
    _, errors = worker.communicate(timeout=120)
    assert worker.returncode == 0, errors.decode()
    outcomes = _lines(out)
    assert sorted(line["input_dir"] for line in outcomes) == sorted(f"in/{i}" for i in range(count))
    posted = _posted_dirs(fake, route)
    for line in outcomes:
        if line["error"] == "SubmissionUnknownError":
            assert kind == "flow" and posted[line["input_dir"]] <= 1
        else:
            assert line["ok"], line
            assert posted[line["input_dir"]] == 1, line


def test_three_workers_share_a_run_on_postgresql(postgres_server: str, tmp_path: Path) -> None:
    """Three processes on one PostgreSQL run, max_running below the work: the fake never sees more than
    max_running running; one worker killed mid-run, the other two finish its work after its lease."""
    import psycopg

    fake = FakeInstabase(job_seconds=(0.2, 0.5))
    solution = fake.add_solution(name="s")
    schema = f"w_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
    ledger = f"{postgres_server}?options=-csearch_path%3D{schema}"
    count, max_running = 18, 3
    env = {"IB_TEST_SOLUTION": solution}
    with fake.serve_in_background() as url:
        outs = [tmp_path / f"out{n}.jsonl" for n in range(3)]
        workers = [
            _spawn(
                url,
                fake.token,
                ledger,
                "shared",
                "solution",
                count,
                out,
                env=env,
                max_running=max_running,
                lease=1.5,
            )
            for out in outs
        ]
        time.sleep(1.2)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        for worker in workers[1:]:
            _, errors = worker.communicate(timeout=120)
            assert worker.returncode == 0, errors.decode()
    assert fake.max_running_jobs <= max_running
    posted = _posted_dirs(fake, "solutions.run")
    assert posted == Counter({f"in/{i}": 1 for i in range(count)})
    for out in outs[1:]:
        lines = _lines(out)
        assert sorted(line["input_dir"] for line in lines) == sorted(f"in/{i}" for i in range(count))
        assert all(line["ok"] for line in lines)
