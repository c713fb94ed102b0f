"""The `instabase-async` command line, run as a real console script against the served fake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import anyio
import pytest
from cli_support import DRIVE, SCRIPT, TOKEN, Result, check_output, cli_env, run, run_all, serving, start

from instabase_async import Ledger
from instabase_async.testing import FakeInstabase, Outcome

FLOW = f"{DRIVE}/flow/invoice.ibflow"
FAST = ["--poll-interval", "0.05"]

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """One served fake for the module: jobs end on their second poll."""
    with serving(job_polls=1) as served:
        yield served


@pytest.fixture
def fake(served: tuple[FakeInstabase, str]) -> FakeInstabase:
    """The served fake, with default outcomes and an empty request log."""
    instance, _ = served
    instance.outcome_for = None
    instance.faults.clear()
    instance.requests.clear()
    return instance


@pytest.fixture
def env(served: tuple[FakeInstabase, str]) -> dict[str, str]:
    """The environment that points the command at the served fake."""
    return cli_env(served[1])


def tree(root: Path, files: dict[str, bytes]) -> Path:
    """Local files under `root` (made if missing)."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def one_error_line(result: Result) -> str:
    """The single line a usage or server error prints on stderr."""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("instabase-async: error: ")
    return lines[0]


# --------------------------------------------------------------------------- help and usage


COMMANDS = ["upload", "download", "run", "solutions run", "wait", "status", "ls", "rm", "deploy", "fake"]

# The console script's own entry point, called in this process where a subprocess adds nothing
# but start-up time (help, and errors found before anything is sent).
MAIN = next(iter(entry_points(group="console_scripts", name="instabase-async"))).load()


def call(args: list[str], capsys: pytest.CaptureFixture[str]) -> Result:
    """The console script's entry point run here on `args`: its exit status and output."""
    try:
        code = MAIN(args)
    except SystemExit as exc:  # argparse's --help
        code = exc.code
    out, err = capsys.readouterr()
    return check_output(code, out, err)


def test_every_command_has_help_with_an_example(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--help` works on every command (exit 0) and shows an example of it; `run --help` (from
    the console script) shows how to run over every folder under a path."""
    for command in COMMANDS:
        result = call([*command.split(), "--help"], capsys)
        assert result.code == 0, (command, result.err)
        assert "Example" in result.out and f"instabase-async {command}" in result.out, command
    run_help = run(["run", "--help"], env).out
    assert "INPUT_DIR ..." in run_help
    assert "--each-subfolder-of PATH" in run_help
    assert "every folder under a path" in run_help


USAGE_ERRORS = [
    ([], "name a command"),
    (["frobnicate"], "invalid choice"),
    (["run", FLOW, "x", "--max-running", "0"], "expected a number >= 1"),
    (["solutions"], "name a command"),
    (["upload", "only-one-arg"], "required"),
    (["wait", "{not json"], "error: not a job token: it is not JSON"),
    (
        ["wait", '{"v": 1, "job_id": "j", "status_url": "https://elsewhere.test/j"}'],
        "not a job token: refusing",
    ),
    (["run", FLOW, "x", "--run", "nightly"], "give --ledger F too"),
    (["wait", "j", "--timeout", "soon"], "expected a number of seconds"),
    (["wait", "j", "--timeout", "0"], "expected a number of seconds > 0"),
    (["upload", "a", "b", "--concurrency", "many"], "expected a whole number"),
    (["fake", "--port", "70000"], "expected a port number 0-65535"),
    (["ls", "/"], "not a remote path"),
]


def test_usage_errors_are_one_line_and_exit_2(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad command line exits 2 with one clear line on stderr and no traceback."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for args, expected in USAGE_ERRORS:
        result = call(args, capsys)
        assert result.code == 2, args
        assert expected in one_error_line(result), args


def test_plain_http_to_another_host_is_refused_in_command_terms(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--url http://host (not loopback) exits 2 saying to use https, naming no Python keyword."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = call(["ls", DRIVE, "--url", "http://ib.example"], capsys)
    assert result.code == 2
    line = one_error_line(result)
    assert line.endswith("plain http to ib.example; use https") and "allow_insecure_http" not in line


def test_missing_local_folder_is_a_usage_error(env: dict[str, str], fake: FakeInstabase) -> None:
    """Uploading a folder that does not exist exits 2 with one line, before any request."""
    result = run(["upload", "no/such/folder", f"{DRIVE}/x"], env)
    assert result.code == 2
    assert "LOCAL_DIR is not a folder: no/such/folder" in one_error_line(result)
    assert len(fake.requests) == 0


def test_missing_configuration_is_a_usage_error(served: tuple[FakeInstabase, str]) -> None:
    """Without a URL or a token the command says which to set, and exits 2."""
    no_url = {k: v for k, v in cli_env(served[1]).items() if k != "INSTABASE_URL"}
    no_token = {k: v for k, v in cli_env(served[1]).items() if k != "INSTABASE_TOKEN"}
    results = run_all([(["ls", DRIVE], no_url), (["ls", DRIVE], no_token)])
    for result, name in zip(results, ("INSTABASE_URL", "INSTABASE_TOKEN"), strict=True):
        assert result.code == 2 and name in one_error_line(result)


def test_common_options_before_or_after_the_command(
    served: tuple[FakeInstabase, str], fake: FakeInstabase, tmp_path: Path
) -> None:
    """--url, --token-file and --json work before and after the command name."""
    fake.write_file(f"{DRIVE}/opts/a.txt", b"a")
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    bare = {k: v for k, v in cli_env(served[1]).items() if not k.startswith("INSTABASE_")}
    common = ["--url", served[1], "--token-file", str(token_file), "--json"]
    for result in run_all(
        [([*common, "ls", f"{DRIVE}/opts"], bare), (["ls", f"{DRIVE}/opts", *common], bare)]
    ):
        assert result.code == 0, result.err
        assert [entry["path"] for entry in result.json()] == [f"{DRIVE}/opts/a.txt"]


# --------------------------------------------------------------------------- the token


def test_token_is_refused_on_the_command_line_without_echo(env: dict[str, str]) -> None:
    """`--token` in any form is refused (exit 2), and its value is never echoed."""
    secret = "pasted-secret-value-42"
    for result in run_all(
        [(["ls", DRIVE, "--token", secret], env), ([f"--token={secret}", "ls", DRIVE], env)]
    ):
        assert result.code == 2
        assert "--token-file" in one_error_line(result)
        assert secret not in result.out + result.err


def test_token_pasted_as_token_file_is_not_echoed(served: tuple[FakeInstabase, str]) -> None:
    """A token given to --token-file by mistake is not printed back in the error."""
    result = run(["ls", DRIVE, "--token-file", TOKEN], cli_env(served[1]))  # check_output: TOKEN not shown
    assert result.code == 2
    assert "cannot read the --token-file" in one_error_line(result)


def test_a_wrong_token_is_one_line_with_the_status_code(served: tuple[FakeInstabase, str]) -> None:
    """A 401 from the server is one line: status code and message, no token."""
    wrong = "wrong-token-Hq2Zx9"
    result = run(["ls", DRIVE], {**cli_env(served[1]), "INSTABASE_TOKEN": wrong})
    assert result.code == 1
    assert one_error_line(result).startswith("instabase-async: error: 401 ")
    assert wrong not in result.out + result.err


# --------------------------------------------------------------------------- files


def test_upload_mirrors_a_folder(env: dict[str, str], fake: FakeInstabase, tmp_path: Path) -> None:
    """LOCAL_DIR/a/b.pdf lands at REMOTE_DIR/a/b.pdf byte for byte; one JSON object per file."""
    files = {"a/b.pdf": b"%PDF-1", "a/c d.pdf": b"spaces", "top.txt": b"x" * 70_000}
    tree(tmp_path / "up", files)
    result = run(["upload", str(tmp_path / "up"), f"/{DRIVE}/mirror/", "--concurrency", "2", "--json"], env)
    assert result.code == 0, result.err
    records = result.json()
    assert sorted(r["target"] for r in records) == sorted(f"{DRIVE}/mirror/{name}" for name in files)
    assert all(r["ok"] for r in records)
    for name, data in files.items():
        assert fake.read_file(f"{DRIVE}/mirror/{name}") == data
    assert "uploaded 3 files" in result.err  # the summary stays off stdout with --json


def test_upload_failure_exits_1_and_says_what(
    env: dict[str, str], fake: FakeInstabase, tmp_path: Path
) -> None:
    """A file the server refuses is a failed outcome with its message; the rest go on; exit 1."""
    tree(tmp_path / "up", {"ok.txt": b"1", "bad.txt": b"2"})
    fake.faults.add(
        f"/api/v2/files/{DRIVE.replace(' ', '%20')}/fails/bad.txt", status=400, message="no thanks"
    )
    result = run(["upload", str(tmp_path / "up"), f"{DRIVE}/fails"], env)
    assert result.code == 1
    assert "FAILED" in result.out and "bad.txt: 400 no thanks" in result.out
    assert "uploaded 1 of 2 files" in result.out and "1 failed" in result.out
    assert fake.read_file(f"{DRIVE}/fails/ok.txt") == b"1"


def test_download_mirrors_a_folder_and_a_single_file(
    env: dict[str, str], fake: FakeInstabase, tmp_path: Path
) -> None:
    """A folder comes down recursively, mirrored; a file lands inside an existing folder."""
    files = {"x/1.pdf": b"one", "x/y/2.pdf": b"two" * 1000, "3.txt": b"three"}
    for name, data in files.items():
        fake.write_file(f"{DRIVE}/down/{name}", data)
    result = run(["download", f"{DRIVE}/down", str(tmp_path / "out"), "--json"], env)
    assert result.code == 0, result.err
    assert len(result.json()) == 3
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data
    single = run(["download", f"{DRIVE}/down/3.txt", str(tmp_path)], env)
    assert single.code == 0, single.err
    assert (tmp_path / "3.txt").read_bytes() == b"three"
    assert single.out.splitlines()[-1].startswith("downloaded 1 file (5 bytes) in ")
    into = run(["download", f"{DRIVE}/down/3.txt", f"{tmp_path / 'new'}/"], env)
    assert into.code == 0, into.err
    assert (tmp_path / "new" / "3.txt").read_bytes() == b"three"  # a trailing / names a folder


def test_download_of_a_missing_path_says_what_is_missing(
    env: dict[str, str], fake: FakeInstabase, tmp_path: Path
) -> None:
    """A remote path that is not there is one line naming it, as for ls (a HEAD's 404 has no body)."""
    result = run(["download", f"{DRIVE}/no such file.pdf", str(tmp_path / "x.pdf")], env)
    assert result.code == 1
    assert (
        one_error_line(result)
        == f"instabase-async: error: 404 no file or folder at '{DRIVE}/no such file.pdf'"
    )
    assert not (tmp_path / "x.pdf").exists()


def test_ls_rm_and_a_missing_path(env: dict[str, str], fake: FakeInstabase) -> None:
    """ls lists entries (JSON too), rm deletes and waits, a missing path is one line with 404."""
    fake.write_file(f"{DRIVE}/lsrm/a.txt", b"abc")
    fake.write_file(f"{DRIVE}/lsrm/sub/b.txt", b"b")
    listing = run(["ls", f"{DRIVE}/lsrm"], env)
    assert listing.code == 0
    assert [line.split()[-1] for line in listing.out.splitlines()] == ["a.txt", "sub/"]
    removed = run(["rm", f"{DRIVE}/lsrm/sub", "--json", *FAST], env)
    assert removed.code == 0, removed.err
    assert removed.json() == [
        {"path": f"{DRIVE}/lsrm/sub", "ok": True, "job_id": removed.json()[0]["job_id"], "state": "COMPLETE"}
    ]
    assert not fake.exists(f"{DRIVE}/lsrm/sub/b.txt")
    missing = run(["ls", f"{DRIVE}/no-such-folder"], env)
    assert missing.code == 1
    assert one_error_line(missing).startswith("instabase-async: error: 404 ")


# --------------------------------------------------------------------------- runs and jobs


def _inputs(fake: FakeInstabase, parent: str, count: int) -> list[str]:
    folders = [f"{DRIVE}/{parent}/batch-{i:02d}" for i in range(count)]
    for folder in folders:
        fake.write_file(f"{folder}/doc.pdf", b"%PDF")
    return folders


def test_run_over_subfolders_with_a_cap_and_a_failure(
    env: dict[str, str], fake: FakeInstabase, tmp_path: Path
) -> None:
    """run --each-subfolder-of runs once per subfolder, at most --max-running at once; a failed
    run is reported with its input and message, and the exit status is 1; `status` of its ledger
    names the failure too."""
    folders = _inputs(fake, "runs", 6)
    fake.write_file(f"{DRIVE}/runs/out/earlier.json", b"{}")  # an output folder, not an input
    fake.outcome_for = lambda job: (
        Outcome.error("bad scan") if job.params.get("input_dir") == folders[3] else None
    )
    fake.reset_max_running_jobs()
    ledger = ["--ledger", str(tmp_path / "runs.db"), "--run", "r1"]
    args = ["run", FLOW, "--each-subfolder-of", f"{DRIVE}/runs", "--max-running", "2", "--output-has-run-id"]
    result = run([*args, *ledger, "--json", *FAST], env)
    assert result.code == 1, result.err
    records = {r["input_dir"]: r for r in result.json()}
    assert sorted(records) == folders
    assert [d for d, r in records.items() if not r["ok"]] == [folders[3]]
    assert records[folders[3]]["error"] == "FAILED: bad scan"
    assert all(r["job_id"] and r["state"] for r in records.values())
    assert fake.max_running_jobs <= 2
    assert len(fake.requests.filter("flow.run")) == 6
    assert all(fake.get_job(r["job_id"]).params["output_has_run_id"] is True for r in records.values())
    assert "6 runs: 5 succeeded, 1 failed" in result.err
    status = run(["status", *ledger], env)
    assert status.code == 1
    assert status.out.splitlines() == ["r1: done 6", f"FAILED  {folders[3]}: FAILED: bad scan"]


def test_run_plain_lines_when_not_a_terminal(env: dict[str, str], fake: FakeInstabase) -> None:
    """Without a terminal, run prints one plain line per outcome and a summary."""
    folders = _inputs(fake, "plain", 2)
    result = run(["run", FLOW, *folders, *FAST], env)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert sorted(lines[:2]) == [f"ok      {folder}  -> {DRIVE}/plain/out" for folder in folders]
    assert lines[-1] == "2 runs: all 2 succeeded"
    single = run(["run", FLOW, folders[0], *FAST], env)
    assert single.out.splitlines()[-1] == "1 run: succeeded"


def test_run_without_inputs_is_a_usage_error(env: dict[str, str], fake: FakeInstabase) -> None:
    """run with no INPUT_DIR and an empty --each-subfolder-of exits 2 and sends no run."""
    fake.mkdir(f"{DRIVE}/empty-parent")
    result = run(["run", FLOW, "--each-subfolder-of", f"{DRIVE}/empty-parent"], env)
    assert result.code == 2
    assert "no input folders" in one_error_line(result)
    assert not fake.requests.filter("flow.run")


def test_solutions_run_over_inputs(env: dict[str, str], fake: FakeInstabase) -> None:
    """solutions run runs a deployed solution once per input folder, with JSON outcomes."""
    solution_id = fake.add_solution(name="Invoices")
    folders = _inputs(fake, "sol", 3)
    result = run(["solutions", "run", solution_id, *folders, "--max-running", "2", "--json", *FAST], env)
    assert result.code == 0, result.err
    records = result.json()
    assert sorted(r["input_dir"] for r in records) == folders
    assert all(r["ok"] and r["solution_id"] == solution_id for r in records)


def test_deploy_then_wait_by_id_and_token(env: dict[str, str], fake: FakeInstabase) -> None:
    """deploy prints the deployed solution id; wait takes job ids (with --type) and job tokens."""
    deployed = run(["deploy", f"{DRIVE}/app.ibsolution", "--json", *FAST], env)
    assert deployed.code == 0, deployed.err
    [record] = deployed.json()
    assert record["deployed_solution_id"] in fake.solutions
    folders = _inputs(fake, "waits", 2)
    fake.set_next_outcomes([Outcome.OK, Outcome.error("no pages")], kind="flow")
    ran = run(["run", FLOW, *folders, "--json", "--max-running", "2", *FAST], env)
    job_ids = [r["job_id"] for r in ran.json()]
    token = json.dumps({"v": 1, "job_id": record["job_id"], "type": "async", "status_url": None})
    waited = run(["wait", *job_ids, token, "--type", "flow", "--json", *FAST], env)
    assert waited.code == 1  # one of the runs failed
    by_id = {r["job_id"]: r for r in waited.json()}
    assert set(by_id) == {*job_ids, record["job_id"]}
    assert [r["error"] for r in by_id.values() if not r["ok"]] == ["FAILED: no pages"]


def test_wait_on_an_unknown_id_says_why_without_http_200(env: dict[str, str], fake: FakeInstabase) -> None:
    """The v1 status API's "not found" comes with HTTP 200: the line gives its message, not the code."""
    result = run(["wait", "no-such-job", *FAST], env)
    assert result.code == 1
    assert result.out.splitlines()[0] == "FAILED  no-such-job: job no-such-job not found"


# --------------------------------------------------------------------------- without rich, and the fake


def test_without_rich_the_command_says_what_to_install(env: dict[str, str]) -> None:
    """Without rich installed, `python -m instabase_async` fails in one line naming the cli extra."""
    code = (
        "import runpy, sys; sys.modules['rich'] = None; sys.argv = ['instabase-async', 'ls', 'x'];"
        "runpy.run_module('instabase_async', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    result = check_output(proc.returncode, proc.stdout, proc.stderr)
    assert result.code == 2
    assert (
        result.err.strip()
        == "instabase-async: the command line needs rich: pip install 'instabase-async[cli]'"
    )


def test_fake_command_serves_until_ctrl_c(tmp_path: Path) -> None:
    """`fake` prints its loopback URL first (and never its token), accepts the token of
    --token-file, answers the other commands, and exits 130 on SIGINT."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTABASE_")}
    (tmp_path / "token").write_text(TOKEN)
    proc = start(["fake", "--port", "0", "--token-file", str(tmp_path / "token")], env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        tree(tmp_path / "up", {"a.txt": b"a"})
        client_env = {**env, "INSTABASE_URL": url, "INSTABASE_TOKEN": TOKEN}
        assert run(["upload", str(tmp_path / "up"), "me/x"], client_env).code == 0
        assert run(["ls", "me/x"], client_env).out.split()[-1] == "a.txt"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert check_output(proc.returncode, url + out, err).code == 130
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion failed above
            proc.kill()
            proc.communicate()


def test_a_reader_that_goes_away_ends_the_command_quietly(env: dict[str, str], fake: FakeInstabase) -> None:
    """`instabase-async ls ... | head -1`: the closed pipe ends the command without an error message."""
    for i in range(2500):  # more lines than a pipe holds, so a write meets the closed pipe
        fake.write_file(f"{DRIVE}/pipe/file-{i:04d}.txt", b"x")
    proc = start(["ls", f"{DRIVE}/pipe"], env)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().endswith("file-0000.txt\n")
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    check_output(1, "", err)
    assert err == ""


def test_status_of_a_missing_or_empty_ledger(env: dict[str, str], tmp_path: Path) -> None:
    """status says which ledger or run is missing (exit 2) and shows an empty run's counts."""

    async def make() -> None:
        async with Ledger(tmp_path / "runs.db", run="nightly") as ledger:
            await ledger.summary()

    anyio.run(make)
    missing, no_run, listing = run_all(
        [
            (["status", "--ledger", str(tmp_path / "none.db")], env),
            (["status", "--ledger", str(tmp_path / "runs.db"), "--run", "weekly"], env),
            (["status", "--ledger", str(tmp_path / "runs.db"), "--json"], env),
        ]
    )
    assert missing.code == 2 and "no ledger at" in one_error_line(missing)
    assert no_run.code == 2 and "no run 'weekly'" in one_error_line(no_run)
    assert listing.code == 0 and listing.json() == []


def test_waits_that_time_out_and_bad_configuration(
    env: dict[str, str],
    fake: FakeInstabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wait past --timeout is that job's failure ("timed out waiting", exit 1); an empty token
    file and a plain-http URL to another host are usage errors (exit 2), the token unprinted."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def start_long_job() -> str:
        async with fake.client() as ib:
            job = await ib.flows.run(FLOW, input_dir=f"{DRIVE}/slow")
        fake.set_job_duration(job.job_id, polls=10_000)
        return job.job_id

    job_id = anyio.run(start_long_job)
    waited = call(["wait", job_id, "--timeout", "0.5", "--poll-interval", "0.05", "--json"], capsys)
    assert waited.code == 1
    # "(last state RUNNING)" follows when a status came back in time, which a busy machine may not give.
    assert waited.json()[0]["error"] in ("timed out waiting (last state RUNNING)", "timed out waiting")
    (tmp_path / "empty").write_text("\n")
    empty = call(["ls", DRIVE, "--token-file", str(tmp_path / "empty")], capsys)
    assert empty.code == 2 and "the --token-file is empty" in one_error_line(empty)
    insecure = call(["ls", DRIVE, "--url", "http://instabase.example.com"], capsys)
    assert insecure.code == 2 and "refusing to send the token over plain http" in one_error_line(insecure)


def test_nothing_to_move_and_a_failed_deploy(
    env: dict[str, str],
    fake: FakeInstabase,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An empty local or remote folder is nothing to move (exit 0, said so); a deploy whose job
    fails is one line with its message and exit status 1."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "empty").mkdir()
    fake.mkdir(f"{DRIVE}/empty-remote")
    upload = call(["upload", str(tmp_path / "empty"), f"{DRIVE}/x"], capsys)
    assert upload.code == 0 and upload.out.startswith("nothing to upload")
    download = call(["download", f"{DRIVE}/empty-remote", str(tmp_path / "down")], capsys)
    assert download.code == 0 and download.out.startswith("nothing to download")
    fake.set_next_outcomes([Outcome.error("bad package")], kind="deploy")
    deploy = call(["deploy", f"{DRIVE}/broken.ibsolution", *FAST], capsys)
    assert deploy.code == 1
    assert deploy.out.splitlines()[-1] == f"FAILED  {DRIVE}/broken.ibsolution: FAILED: bad package"
