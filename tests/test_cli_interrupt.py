"""Ctrl-C (SIGINT) on the command line: stop starting new work, let submissions already sent get
their answers, exit 130."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from cli_support import DRIVE, SCRIPT, check_output, cli_env, run, serving, start

from instabase_async import Ledger
from instabase_async.testing import FakeInstabase

# The states a ledger counts requests by (SPEC.md, Durable runs).
STATES = ("pending", "submitting", "running", "done", "unknown")

FLOW = f"{DRIVE}/flow/invoice.ibflow"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")


@pytest.fixture
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """A served fake whose runs take a minute (nothing ends by itself during a test)."""
    with serving(inputs=6, job_seconds=60) as served:
        yield served


def _counts(ledger: str, run_name: str) -> dict[str, int]:
    """A ledger's counts by state, read from this process while the command writes it."""

    async def read() -> dict[str, int]:
        if run_name not in await Ledger.runs(ledger):
            return {}
        async with Ledger(ledger, run=run_name) as opened:
            return await opened.summary()

    try:
        return anyio.run(read)
    except Exception:  # not made yet, or being made right now: the caller polls again
        return {}


def _wait_for(condition: Callable[[], object], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the command"
        time.sleep(0.05)


def test_sigint_mid_run_lets_sent_submissions_answer_and_exits_130(served: tuple[FakeInstabase, str]) -> None:
    """SIGINT while run submissions are in the air: those already sent get their answers (the
    summary counts them as submitted), nothing new is sent, and the exit status is 130."""
    fake, url = served
    fake.faults.add("flow.run", delay=1.5)  # each submission's answer takes 1.5 s
    proc = start(
        ["run", FLOW, "--each-subfolder-of", f"{DRIVE}/in", "--max-running", "2", "--poll-interval", "0.1"],
        cli_env(url),
    )
    # The listing of the inputs is logged once answered; the submissions follow at once and
    # stay in the air for 1.5 s.
    _wait_for(lambda: fake.requests.filter("files.list") or proc.poll() is not None)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    result = check_output(proc.returncode, out, err)
    assert result.code == 130, result.err
    sent = len(fake.requests.filter("flow.run"))
    assert sent <= 2  # nothing started after Ctrl-C: at most the first --max-running
    assert len(fake.jobs) == sent
    assert f"interrupted: submitted {sent} · running {sent} · done 0 · failed 0" in result.out


def test_second_sigint_stops_at_once(served: tuple[FakeInstabase, str]) -> None:
    """A second SIGINT does not wait for answers still in the air; the exit status is 130."""
    fake, url = served
    fake.faults.add("flow.run", delay=30)
    proc = start(["run", FLOW, "--each-subfolder-of", f"{DRIVE}/in", "--poll-interval", "0.1"], cli_env(url))
    # Once the inputs are listed, the command is running (Ctrl-C is its own) and its
    # submissions are in the air, answered only after 30 s.
    _wait_for(lambda: fake.requests.filter("files.list") or proc.poll() is not None)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)  # well before the answers would come
    result = check_output(proc.returncode, out, err)
    assert result.code == 130
    assert "stopping: waiting for submissions already sent" in result.out


def test_sigint_then_the_same_command_carries_on_with_the_ledger(
    served: tuple[FakeInstabase, str], tmp_path: Path
) -> None:
    """Ctrl-C with --ledger while the first submissions are in the air exits 130 once their
    answers are recorded; the same command again polls those runs (never submitting them twice),
    submits the rest, and `status` shows the run done."""
    fake, url = served
    env = cli_env(url)
    ledger = str(tmp_path / "runs.db")
    inputs = [f"{DRIVE}/in/batch-{i}" for i in range(6)]  # (runs write their output beside them, in in/out)
    args = ["run", FLOW, *inputs, "--max-running", "2", "--poll-interval", "0.1"]
    args += ["--ledger", ledger, "--run", "nightly", "--json"]
    fake.faults.add("flow.run", delay=1.0, times=2)  # the first two answers take a second
    proc = start(args, env)
    # `submitting` is recorded just before each POST goes out: then both are in the air.
    _wait_for(lambda: _counts(ledger, "nightly").get("submitting") == 2 or proc.poll() is not None)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    first = check_output(proc.returncode, out, err)
    assert first.code == 130, first.err
    assert first.json() == []  # nothing had finished
    for job_id in list(fake.jobs):  # the two runs end while nobody watches
        fake.finish_job(job_id)
    fake.job_seconds = 0.2

    resumed = run(args, env)
    assert resumed.code == 0, resumed.err
    records = resumed.json()
    assert sorted(r["input_dir"] for r in records) == inputs
    assert all(r["ok"] for r in records)
    assert len(fake.requests.filter("flow.run")) == 6  # each input submitted exactly once
    status = run(["status", "--ledger", ledger, "--run", "nightly", "--json"], env)
    assert status.code == 0
    [summary] = status.json()
    assert summary == {"run": "nightly", **dict.fromkeys(STATES, 0), "done": 6, "failures": []}


def test_upload_with_a_ledger_skips_files_uploaded_unchanged(
    served: tuple[FakeInstabase, str], tmp_path: Path
) -> None:
    """upload --ledger: a second run sends only the file that changed since the first."""
    fake, url = served
    env = cli_env(url)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        (tmp_path / "up" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "up" / name).write_text(name)
    args = ["upload", str(tmp_path / "up"), f"{DRIVE}/kept", "--ledger", str(tmp_path / "up.db")]
    assert run(args, env).code == 0
    assert len(fake.requests.filter("files.put")) == 3
    (tmp_path / "up" / "b.txt").write_text("changed, and longer")
    again = run([*args, "--json"], env)
    assert again.code == 0 and len(again.json()) == 3
    assert "; 2 of them unchanged since the ledger recorded them, not sent again" in again.err
    assert len(fake.requests.filter("files.put")) == 4
    assert fake.read_file(f"{DRIVE}/kept/b.txt") == b"changed, and longer"


def test_sigterm_stops_at_once_and_leaves_no_partial_file(
    served: tuple[FakeInstabase, str], tmp_path: Path
) -> None:
    """SIGTERM (a stopped container) ends a download at once with status 143, through
    cancellation: nothing is left at the target, half-written or not."""
    fake, url = served
    fake.write_file(f"{DRIVE}/big.bin", b"x" * 300_000)
    fake.faults.add("files.get", delay=30)
    proc = start(["download", f"{DRIVE}/big.bin", str(tmp_path / "big.bin")], cli_env(url))
    _wait_for(lambda: fake.requests.filter("files.head") or proc.poll() is not None)  # then the GET hangs
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)  # well before the answer would come
    result = check_output(proc.returncode, out, err)
    assert result.code == 143, result.err
    assert "terminated" in result.out
    assert list(tmp_path.iterdir()) == []
