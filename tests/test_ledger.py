"""The ledger itself, on SQLite and on a real PostgreSQL: states, claims, leases, outcomes, bad input."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import attrs
import psycopg
import pytest

from instabase_async import (
    FlowRunRequest,
    JobFailedError,
    JobState,
    JobStatus,
    Ledger,
    NotFoundError,
    RunSettings,
    SolutionRunRequest,
    SubmissionUnknownError,
    TransferOutcome,
    WebhookConfig,
)
from instabase_async._errors import error_for_status
from instabase_async._ledger import _sql
from instabase_async._ledger._records import (
    decode_request,
    derived_job_id,
    encode_outcome,
    encode_request,
    encode_upload,
    request_key,
)
from instabase_async.testing import FakeInstabase

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty ledger location: a SQLite file, or a new schema of the session's PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    server = request.getfixturevalue("postgres_server")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{server}?options=-csearch_path%3D{schema}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _items(*names: str) -> list[tuple[str, str, str, None]]:
    return [(name, "flow", f'{{"n":"{name}"}}', None) for name in names]


async def test_new_requests_are_pending_and_summary_names_every_state(ledger_url: str) -> None:
    """Registered requests start pending; summary counts the run by the SPEC's five state names."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            rows = await ledger._register(_items("a", "b", "c"))
            assert [row.state for row in rows] == ["pending"] * 3
            assert await ledger.summary() == {
                "pending": 3,
                "submitting": 0,
                "running": 0,
                "done": 0,
                "unknown": 0,
            }
        assert await Ledger.runs(ledger_url) == ["r"]


async def test_states_move_and_a_done_outcome_is_never_overwritten(ledger_url: str) -> None:
    """claim -> submitting, a token -> running, an outcome -> done; a later outcome keeps the first."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a", "b"))
            claimed, others = await ledger._claim(["a", "b"], limit=1, max_running=5)
            assert (claimed, others) == (["a"], {"b": "pending"})
            await ledger._record_jobs([("a", "token-a")])
            await ledger._record_outcomes([("a", "first")])
            await ledger._record_outcomes([("a", "second")])
            await ledger._record_jobs([("a", "token-late")])
            (row,) = await ledger._rows(keys=["a"])
            assert (row.state, row.token, row.outcome) == ("done", "token-a", "first")
            assert await ledger.summary() == {
                "pending": 1,
                "submitting": 0,
                "running": 0,
                "done": 1,
                "unknown": 0,
            }


async def test_max_running_holds_across_workers(ledger_url: str) -> None:
    """Two workers on one run never hold more than max_running submitting+running between them."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as one, Ledger(ledger_url, run="r") as two:
            keys = [f"k{i}" for i in range(6)]
            await one._register(_items(*keys))
            await two._register(_items(*keys))
            got_one, _ = await one._claim(keys, limit=10, max_running=3)
            got_two, seen = await two._claim(keys, limit=10, max_running=3)
            assert got_one == ["k0", "k1", "k2"] and (got_two, seen) == ([], {})
            await one._record_jobs([("k0", "t0")])
            await one._record_outcomes([("k0", "done")])
            got_two, seen = await two._claim(keys, limit=10, max_running=3)
            assert got_two == ["k3"]
            assert seen["k0"] == "done" and seen["k1"] == "submitting" and seen["k4"] == "pending"


async def test_concurrent_claims_never_exceed_the_cap(ledger_url: str) -> None:
    """Four workers claiming at once, in threads, take each request once and at most the cap in all."""
    with anyio.fail_after(60):
        keys = [f"k{i}" for i in range(20)]
        ledgers = [Ledger(ledger_url, run="r") for _ in range(4)]
        taken: list[list[str]] = [[] for _ in ledgers]
        for ledger in ledgers:
            await ledger.__aenter__()
        try:
            await ledgers[0]._register(_items(*keys))

            async def claim(index: int) -> None:
                got, _ = await ledgers[index]._claim(keys, limit=20, max_running=5)
                taken[index].extend(got)

            async with anyio.create_task_group() as tg:
                for index in range(len(ledgers)):
                    tg.start_soon(claim, index)
        finally:
            for ledger in ledgers:
                await ledger.__aexit__(None, None, None)
        everything = [key for got in taken for key in got]
        assert len(everything) == len(set(everything)) == 5


async def test_a_silent_workers_jobs_are_adopted_after_its_lease(ledger_url: str) -> None:
    """A worker that stops renewing loses its running jobs to another after lease_seconds."""
    with anyio.fail_after(30):
        async with (
            Ledger(ledger_url, run="r", lease_seconds=1.0) as gone,
            Ledger(ledger_url, run="r") as heir,
        ):
            await gone._register(_items("a", "b"))
            await gone._renew()
            await gone._claim(["a", "b"], limit=2, max_running=2)
            await gone._record_jobs([("a", "ta")])
            assert await heir._adopt() == []  # its lease is fresh
            await anyio.sleep(1.2)
            adopted = await heir._adopt()
            assert sorted((row.key, row.state, row.token) for row in adopted) == [
                ("a", "running", "ta"),
                ("b", "submitting", None),
            ]
            assert await heir._adopt() == []  # now the heir's own


async def test_a_closed_workers_jobs_are_adopted_at_once(ledger_url: str) -> None:
    """Leaving `async with` retires the worker: another takes its jobs without waiting for the lease."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as heir:
            async with Ledger(ledger_url, run="r", lease_seconds=600) as first:
                await first._register(_items("a"))
                await first._renew()
                await first._claim(["a"], limit=1, max_running=1)
                await first._record_jobs([("a", "ta")])
                assert await heir._adopt() == []
            assert [row.key for row in await heir._adopt()] == ["a"]


async def test_adoption_can_be_limited_to_the_keys_a_worker_knows(ledger_url: str) -> None:
    """A worker adopts only requests it was given; the rest stay for a worker that knows them."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as heir:
            async with Ledger(ledger_url, run="r") as first:
                await first._register(_items("a", "b"))
                await first._claim(["a", "b"], limit=2, max_running=2)
            assert [row.key for row in await heir._adopt({"b"})] == ["b"]
            assert [row.key for row in await heir._adopt()] == ["a"]


async def test_unknown_is_set_only_on_submitting_and_a_late_token_resolves_it(ledger_url: str) -> None:
    """`unknown` marks only a request still submitting; its token arriving later makes it running."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a", "b"))
            await ledger._claim(["a", "b"], limit=2, max_running=2)
            await ledger._record_jobs([("b", "tb")])
            await ledger._record_outcomes([("a", "?"), ("b", "?")], state="unknown")
            assert (await ledger.summary())["unknown"] == 1
            claimed, _ = await ledger._claim(["a"], limit=1, max_running=5)
            assert claimed == []  # unknown is not pending
            claimed, _ = await ledger._claim(["a"], limit=1, max_running=5, claimable=("unknown",))
            assert claimed == ["a"]
            await ledger._record_outcomes([("a", "?")], state="unknown")
            await ledger._record_jobs([("a", "ta")])
            assert [row.state for row in await ledger._rows()] == ["running", "running"]


async def test_released_claims_go_back_to_pending(ledger_url: str) -> None:
    """A claim never sent (the worker stopped first) is pending again for anyone."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a"))
            await ledger._claim(["a"], limit=1, max_running=1)
            await ledger._release(["a"])
            assert (await ledger.summary())["pending"] == 1


async def test_a_key_reused_with_another_request_is_refused_and_nothing_changes(ledger_url: str) -> None:
    """Registering a different body under a key the run holds is a ValueError; no row is touched."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a"))
            with pytest.raises(ValueError, match="different request under key 'a'"):
                await ledger._register([("new", "flow", "{}", None), ("a", "flow", '{"n":"other"}', None)])
            rows = await ledger._rows()
            assert [(row.key, row.body) for row in rows] == [("a", '{"n":"a"}')]


async def test_runs_are_kept_apart(ledger_url: str) -> None:
    """Two runs in one ledger have their own requests, counts and outcomes."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="one") as one, Ledger(ledger_url, run="two") as two:
            await one._register(_items("a"))
            await two._register(_items("a", "b"))
            assert (await one.summary())["pending"] == 1
            assert (await two.summary())["pending"] == 2
        assert await Ledger.runs(ledger_url) == ["one", "two"]


async def test_reopening_a_ledger_keeps_everything(ledger_url: str) -> None:
    """A ledger opened again (a re-run) sees what the first opening recorded, schema unchanged."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a"))
            await ledger._claim(["a"], limit=1, max_running=1)
        async with Ledger(ledger_url, run="r") as ledger:
            rows = await ledger._register(_items("a"))
            assert [row.state for row in rows] == ["submitting"]


def _outcome_cases() -> list[tuple[FlowRunRequest | SolutionRunRequest, BaseException | None]]:
    status = JobStatus(
        "j1", JobState.FAILED, raw_state="DONE", message="bad page", results=({"status": "ERROR"},)
    )
    return [
        (
            FlowRunRequest(
                "me/r/fs/d/f.ibflow", "me/in", tags=["x", "y"], webhook=WebhookConfig("https://h")
            ),
            None,
        ),
        (FlowRunRequest("f.ibflow", "in2", key="k2"), JobFailedError("job j1 failed: bad page", status)),
        (
            SolutionRunRequest(
                "sol", "in3", settings=RunSettings(tags=["t"], webhook=WebhookConfig("https://w"))
            ),
            error_for_status(404, "no such solution", method="POST", url="https://ib.test/x"),
        ),
        (SolutionRunRequest("sol", "in4", settings={"tags": ["t"]}, job_id="mine"), OSError("disk full")),
        (FlowRunRequest("f.ibflow", "in5"), SubmissionUnknownError("may or may not have been submitted")),
        (FlowRunRequest("f.ibflow", "in6"), _Odd("an error class of the caller's")),
    ]


class _Odd(Exception):
    pass


async def test_outcomes_are_rebuilt_without_a_request(ledger_url: str) -> None:
    """Recorded outcomes come back as RunOutcomes: request, job, status, error class, message, fields."""
    status = JobStatus(
        "j1", JobState.COMPLETE, raw_state="DONE", progress=1.0, output_folder="out", raw={"a": 1}
    )
    fake = FakeInstabase()
    with anyio.fail_after(30):
        async with fake.client() as ib, Ledger(ledger_url, run="r") as ledger:
            cases = _outcome_cases()
            encoded = [encode_request(request) for request, _ in cases]
            keys = [request_key(request, *enc) for (request, _), enc in zip(cases, encoded, strict=True)]
            await ledger._register(
                [(key, kind, body, None) for key, (kind, body) in zip(keys, encoded, strict=True)]
            )
            await ledger._claim(keys, limit=10, max_running=10)
            job = await ib.flows.run("me/r/fs/d/f.ibflow", input_dir="me/in")
            status = attrs.evolve(status, job_id=job.job_id)
            await ledger._record_outcomes(
                [
                    (key, encode_outcome(job, status, error))
                    for key, (_, error) in zip(keys, cases, strict=True)
                ]
            )
            detached = await ledger.outcomes()
            bound = await ledger.outcomes(ib)
            assert (await bound[0].job.status()).job_id == job.job_id  # type: ignore[union-attr]
        assert [outcome.request for outcome in detached] == [request for request, _ in cases]  # type: ignore[union-attr]
        for outcome, (_, error) in zip(detached, cases, strict=True):
            assert not isinstance(outcome, TransferOutcome)
            assert outcome.job == job and outcome.status == status
            if error is None:
                assert outcome.error is None and outcome.ok
            elif isinstance(error, _Odd):
                assert isinstance(outcome.error, RuntimeError) and "_Odd: an error class" in str(
                    outcome.error
                )
            else:
                assert type(outcome.error) is type(error) and str(outcome.error) == str(error)
        failed = detached[1].error  # type: ignore[union-attr]
        assert isinstance(failed, JobFailedError) and failed.status == cases[1][1].status  # type: ignore[union-attr]
        missing = detached[2].error  # type: ignore[union-attr]
        assert isinstance(missing, NotFoundError) and (missing.status_code, missing.method) == (404, "POST")
        with pytest.raises(RuntimeError, match="without a client"):
            await detached[0].job.status()  # type: ignore[union-attr]


async def test_upload_records_come_back_as_transfer_outcomes(ledger_url: str, tmp_path: Path) -> None:
    """An upload's record keeps source, target and bytes; a file uploaded again replaces its record."""
    local = tmp_path / "a.txt"
    local.write_bytes(b"hello")
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="up") as ledger:
            body, outcome = encode_upload(str(local), "me/r/fs/d/a.txt", 5, local.stat())
            await ledger._record_files([("me/r/fs/d/a.txt", body, outcome)])
            body, outcome = encode_upload(str(local), "me/r/fs/d/a.txt", 6, local.stat())
            await ledger._record_files([("me/r/fs/d/a.txt", body, outcome)])
            assert await ledger.outcomes() == [TransferOutcome(str(local), "me/r/fs/d/a.txt", 6)]
            assert (await ledger.summary())["done"] == 1


def test_keys_are_stable_digests_unless_given() -> None:
    """The same request gives the same key (whatever the sequence type); a given key is used as is."""
    one = FlowRunRequest("f.ibflow", "in", tags=["a", "b"])
    same = FlowRunRequest("f.ibflow", "in", tags=("a", "b"))
    other = FlowRunRequest("f.ibflow", "in2")
    assert request_key(one, *encode_request(one)) == request_key(same, *encode_request(same))
    assert request_key(one, *encode_request(one)) != request_key(other, *encode_request(other))
    keyed = FlowRunRequest("f.ibflow", "in", key="batch-7")
    assert request_key(keyed, *encode_request(keyed)) == "batch-7"
    with pytest.raises(ValueError, match="key"):
        request_key(FlowRunRequest("f", "in", key=""), "flow", "{}")
    with pytest.raises(TypeError, match="key"):
        request_key(FlowRunRequest("f", "in", key=7), "flow", "{}")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FlowRunRequest or SolutionRunRequest"):
        encode_request("not a request")  # type: ignore[arg-type]


def test_requests_round_trip_through_their_bodies() -> None:
    """A stored body rebuilds the request it came from, settings and webhooks included."""
    for request, _ in _outcome_cases():
        assert decode_request(*encode_request(request)) == request


def test_derived_job_ids_depend_on_run_and_key_only() -> None:
    """A solution run's derived job id is short enough for the API, one path segment, and stable."""
    job_id = derived_job_id("2026-11-29", "k" * 1000)
    assert len(job_id) <= 50 and job_id.replace("-", "").isalnum()
    assert job_id == derived_job_id("2026-11-29", "k" * 1000)
    assert job_id != derived_job_id("2026-11-30", "k" * 1000)
    assert job_id != derived_job_id("2026-11-29", "k")


async def test_a_file_that_is_not_a_ledger_is_refused_untouched(tmp_path: Path) -> None:
    """A file that is not SQLite, or a SQLite database of something else, is a ValueError; its bytes stay."""
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE accounts (id INTEGER)")
    conn.close()
    with anyio.fail_after(30):
        for path in (junk, other):
            before = path.read_bytes()
            with pytest.raises(ValueError, match="not an instabase_async ledger"):
                async with Ledger(path):
                    pass
            assert path.read_bytes() == before
        with pytest.raises(ValueError, match="directory"):
            async with Ledger(tmp_path):
                pass


async def test_a_schema_newer_than_the_library_is_refused(ledger_url: str) -> None:
    """A ledger written by a newer version is refused with the versions named, and left as it was."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a"))
        _set_schema_version(ledger_url, "99")
        with pytest.raises(ValueError, match="schema version 99, newer than this library's 1"):
            async with Ledger(ledger_url, run="r"):
                pass
        _set_schema_version(ledger_url, "1")
        async with Ledger(ledger_url, run="r") as ledger:
            assert (await ledger.summary())["pending"] == 1


async def test_an_older_schema_is_upgraded_in_place(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a ledger written at an older schema version runs the newer migrations once and keeps
    every recorded row (the path a version 2 of the schema will take)."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r") as ledger:
            await ledger._register(_items("a"))
        step = ("ALTER TABLE ib_ledger_runs ADD COLUMN note TEXT",)
        monkeypatch.setattr(_sql, "MIGRATIONS", (*_sql.MIGRATIONS, step))
        monkeypatch.setattr(_sql, "SCHEMA_VERSION", 2)
        for _ in range(2):  # the second opening finds version 2 and migrates nothing
            async with Ledger(ledger_url, run="r") as ledger:
                assert (await ledger.summary())["pending"] == 1
        _execute(ledger_url, "UPDATE ib_ledger_runs SET note = 'kept'")  # the new column exists
        monkeypatch.undo()
        with pytest.raises(ValueError, match="schema version 2, newer than this library's 1"):
            async with Ledger(ledger_url, run="r"):
                pass


async def test_a_foreign_meta_table_is_not_a_ledger(ledger_url: str) -> None:
    """Tables of our names that another program wrote are refused, not reused."""
    with anyio.fail_after(30):
        async with Ledger(ledger_url, run="r"):
            pass
        _execute(ledger_url, "UPDATE ib_ledger_meta SET value = 'something else' WHERE name = 'application'")
        with pytest.raises(ValueError, match="not an instabase_async ledger"):
            async with Ledger(ledger_url):
                pass


def _execute(url: str, sql: str) -> None:
    if url.startswith("postgresql://"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]
    else:
        with sqlite3.connect(url) as conn:
            conn.execute(sql)
        conn.close()


def _set_schema_version(url: str, version: str) -> None:
    _execute(url, f"UPDATE ib_ledger_meta SET value = '{version}' WHERE name = 'schema_version'")


async def test_urls_and_arguments() -> None:
    """Bad ledger arguments fail before anything opens; a URL's password never shows in the repr."""
    assert "s3cret" not in repr(Ledger("postgresql://ib:s3cret@db.example/runs", run="n"))
    assert repr(Ledger("sqlite:///relative/x.db")) == "Ledger('relative/x.db', run='default')"
    for bad, error in [
        ("mysql://h/db", ValueError),
        ("sqlite://x.db", ValueError),
        ("", ValueError),
        (b"x.db", TypeError),
    ]:
        with pytest.raises(error):
            Ledger(bad)  # type: ignore[arg-type]
    for kwargs, error in [
        ({"run": ""}, ValueError),
        ({"run": 3}, TypeError),
        ({"lease_seconds": 0}, ValueError),
        ({"lease_seconds": "60"}, TypeError),
    ]:
        with pytest.raises(error):
            Ledger("x.db", **kwargs)  # type: ignore[arg-type]


async def test_a_ledger_is_used_inside_async_with(tmp_path: Path) -> None:
    """Calls outside `async with` and a second entry are RuntimeErrors; runs() of no file is an error."""
    ledger = Ledger(tmp_path / "l.db")
    with pytest.raises(RuntimeError, match="async with"):
        await ledger.summary()
    with anyio.fail_after(30):
        async with ledger:
            pass
        with pytest.raises(RuntimeError, match="only once"):
            async with ledger:
                pass
        with pytest.raises(FileNotFoundError):
            await Ledger.runs(tmp_path / "missing.db")
        assert await Ledger.runs(f"sqlite:///{tmp_path / 'l.db'}") == []
