"""The commands: each takes the `Session` and returns its exit status.

Every command goes through the public API only; results are reported through the session's
`Display` (one line, or one JSON object, per outcome) and end with a one-line summary.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from instabase_async import (
    AsyncInstabase,
    FileInfo,
    FlowRunRequest,
    Job,
    JobOutcome,
    JobStatus,
    Ledger,
    NotFoundError,
    Progress,
    ResponseValidationError,
    RunOutcome,
    SolutionRunRequest,
    TransferOutcome,
    WaitTimeoutError,
)
from instabase_async.testing import FakeInstabase

from ._display import RunBoard, human_bytes
from ._parse import UsageError
from ._session import EXIT_FAILED, EXIT_OK, Session, Submissions, describe

__all__ = ["COMMANDS"]

# A run's output folder when none is given: `input_dir/../out` (the flow API's default). Runs over
# the subfolders of a folder all write there, so on a second listing it is an output, not an input.
_DEFAULT_OUTPUT = "out"


def _remote(path: str) -> str:
    """A remote path as the user typed it, without leading or trailing slashes."""
    cleaned = path.strip().strip("/")
    if not cleaned:
        raise UsageError(f"not a remote path: {path!r}")
    return cleaned


def _counted(count: int, plural: str) -> str:
    """`1 file`, `2 files`: the nouns of the summaries are plurals ending in s."""
    return f"{count} {plural[:-1] if count == 1 else plural}"


def _exit(failed: int) -> int:
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- transfers


def _local_files(root: Path, remote_dir: str) -> list[tuple[Path, str, int]]:
    """Every regular file under `root` (symlinked folders not followed), sorted, with its remote
    path (`remote_dir/<relative posix path>`) and size."""
    found: list[tuple[Path, str, int]] = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                info = path.stat()
            except OSError:
                continue  # a dangling symlink, or gone since the listing
            if stat.S_ISREG(info.st_mode):
                found.append((path, f"{remote_dir}/{path.relative_to(root).as_posix()}", info.st_size))
    found.sort(key=lambda item: item[1])
    return found


def _report_transfers(
    s: Session, verb: str, outcomes: Sequence[TransferOutcome], started: float, *, skipped: int = 0
) -> int:
    """A line per file and the summary; `skipped` files were found in the ledger unchanged, not sent."""
    failed = 0
    for outcome in outcomes:
        record: dict[str, Any] = {
            "source": outcome.source,
            "target": outcome.target,
            "bytes": outcome.bytes,
            "ok": outcome.ok,
        }
        if outcome.ok:
            line = f"{verb}  {outcome.source} -> {outcome.target}  ({human_bytes(outcome.bytes)})"
        else:
            failed += 1
            record["error"] = describe(outcome.error)
            line = f"FAILED    {outcome.source}: {record['error']}"
        s.display.outcome(record, line, ok=outcome.ok)
    moved = sum(outcome.bytes for outcome in outcomes)
    seconds = time.monotonic() - started
    done = len(outcomes) - failed
    kept = f"; {skipped} of them unchanged since the ledger recorded them, not sent again" if skipped else ""
    if failed:
        of_all = f"{done} of {_counted(len(outcomes), 'files')} ({human_bytes(moved)})"
        s.display.summary(f"{verb} {of_all}; {failed} failed{kept}", ok=False)
    else:
        moved_text = f"{_counted(done, 'files')} ({human_bytes(moved)})"
        s.display.summary(f"{verb} {moved_text} in {seconds:.1f} s{kept}", ok=True)
    return _exit(failed)


async def upload(s: Session) -> int:
    """LOCAL_DIR/a/b.pdf -> REMOTE_DIR/a/b.pdf, `--concurrency` files at once."""
    args = s.args
    root = Path(args.local_dir)
    if not await anyio.Path(root).is_dir():
        raise UsageError(f"LOCAL_DIR is not a folder: {args.local_dir}")
    remote_dir = _remote(args.remote_dir)
    found = await anyio.to_thread.run_sync(_local_files, root, remote_dir)
    if not found:
        s.display.summary(f"nothing to upload: no files under {args.local_dir}", ok=True)
        return EXIT_OK
    started = time.monotonic()
    async with s.client() as ib, _ledger(s) as ledger:
        with s.display.transfer("uploading", len(found), sum(size for *_, size in found)) as board:
            s.counts = board.counts
            ended: list[Progress] = []  # one event a file sent: a file the ledger skips has none

            def on_progress(event: Progress) -> None:
                ended.append(event)
                board.update(event)

            outcomes = await ib.files.upload_many(
                [(path, remote) for path, remote, _ in found],
                concurrency=args.concurrency,
                progress=on_progress,
                ledger=ledger,
            )
    return _report_transfers(s, "uploaded", outcomes, started, skipped=len(outcomes) - len(ended))


def _child_name(entry: FileInfo) -> str:
    """The last segment of a listed path, refused if it could escape the local folder."""
    name = entry.path.rstrip("/").rsplit("/", 1)[-1]
    if name in ("", ".", "..") or "\\" in name or "\x00" in name:
        raise ResponseValidationError(f"refusing a listing entry that is not a plain name: {entry.path!r}")
    return name


async def _remote_files(ib: AsyncInstabase, folder: str) -> list[tuple[str, Path, int]]:
    """Every file under a remote folder, recursively: (remote path, relative local path, size)."""
    found: list[tuple[str, Path, int]] = []
    pending = [(folder, Path())]
    while pending:
        remote, relative = pending.pop()
        async for entry in ib.files.list(remote):
            child = f"{remote}/{_child_name(entry)}"
            if entry.is_dir:
                pending.append((child, relative / _child_name(entry)))
            else:
                found.append((child, relative / _child_name(entry), entry.size or 0))
    found.sort()
    return found


async def download(s: Session) -> int:
    """A file, or a folder recursively: REMOTE_PATH/a/b.pdf -> LOCAL_PATH/a/b.pdf."""
    args = s.args
    remote = _remote(args.remote_path)
    local = Path(args.local_path)
    # A trailing separator means a folder, made if missing (as cp and aws s3 cp read it).
    local_is_dir = args.local_path.endswith(("/", os.sep)) or await anyio.Path(local).is_dir()
    started = time.monotonic()
    async with s.client() as ib:
        try:
            info = await ib.files.stat(remote)
        except NotFoundError as exc:
            # The answer to a HEAD has no body to say why: say it as `ls` does.
            raise NotFoundError(
                f"no file or folder at {remote!r}", status_code=404, method=exc.method, url=exc.url
            ) from None
        if info.is_dir:
            if not local_is_dir and await anyio.Path(local).exists():
                raise UsageError(f"LOCAL_PATH is a file, and {remote} is a folder: {args.local_path}")
            listed = await _remote_files(ib, remote)
            items = [(path, local / relative) for path, relative, _ in listed]
            total = sum(size for *_, size in listed)
        else:
            target = local / remote.rsplit("/", 1)[-1] if local_is_dir else local
            items, total = [(remote, target)], info.size or 0
        if not items:
            s.display.summary(f"nothing to download: {remote} is an empty folder", ok=True)
            return EXIT_OK
        with s.display.transfer("downloading", len(items), total or None) as board:
            s.counts = board.counts
            outcomes = await ib.files.download_many(
                items, concurrency=args.concurrency, progress=board.update
            )
    return _report_transfers(s, "downloaded", outcomes, started)


# --------------------------------------------------------------------------- runs and waits


def _job_report(
    s: Session,
    board: RunBoard,
    record: dict[str, Any],
    label: str,
    job: Job | None,
    status: JobStatus | None,
    error: BaseException | None,
) -> bool:
    """Report one finished run or wait: a line (or JSON object) and the board's counts."""
    ok = error is None and status is not None and status.succeeded
    record.update(
        ok=ok,
        job_id=job.job_id if job is not None else None,
        state=status.state.value if status is not None else None,
        output_folder=status.output_folder if status is not None else None,
    )
    if ok:
        where = f"  -> {status.output_folder}" if status is not None and status.output_folder else ""
        line = f"ok      {label}{where}"
    else:
        record["error"] = describe(error, status)
        line = f"FAILED  {label}: {record['error']}"
    board.add_outcome(ok)
    s.display.outcome(record, line, ok=ok)
    return ok


def _run_summary(s: Session, board: RunBoard, noun: str) -> int:
    ok = board.done - board.failed
    counted = _counted(board.done, noun)
    if board.failed:
        s.display.summary(f"{counted}: {ok} succeeded, {board.failed} failed", ok=False)
    else:
        s.display.summary(f"{counted}: succeeded" if ok == 1 else f"{counted}: all {ok} succeeded", ok=True)
    return _exit(board.failed)


async def _inputs(ib: AsyncInstabase, given: Iterable[str], parents: Iterable[str]) -> list[str]:
    """The input folders: those given, then the subfolders of each `--each-subfolder-of` (sorted;
    not `out`, where runs over its siblings write by default); each once."""
    inputs = [_remote(path) for path in given]
    for parent in parents:
        folder = _remote(parent)
        names = [_child_name(entry) async for entry in ib.files.list(folder) if entry.is_dir]
        inputs.extend(f"{folder}/{name}" for name in sorted(names) if name != _DEFAULT_OUTPUT)
    unique = list(dict.fromkeys(inputs))
    if not unique:
        raise UsageError("no input folders: give INPUT_DIR... or --each-subfolder-of PATH (with subfolders)")
    return unique


@asynccontextmanager
async def _ledger(s: Session) -> AsyncIterator[Ledger | None]:
    """The `--ledger F --run NAME` of the command, open for its duration; None without one."""
    if s.args.ledger is None:
        if s.args.run != "default":
            raise UsageError("--run names a run of a ledger: give --ledger F too")
        yield None
        return
    async with Ledger(s.args.ledger, run=s.args.run) as ledger:
        yield ledger


OnOutcome = Callable[[RunOutcome], None]
Submit = Callable[[AsyncInstabase, list[str], OnOutcome, Ledger | None], Awaitable[object]]


async def _submitting(s: Session, what: dict[str, str], submit: Submit) -> int:
    """Common frame of `run` and `solutions run`: the counting transport, the ledger, the board,
    and Ctrl-C."""
    board_ref: list[RunBoard] = []
    transport = Submissions(lambda: board_ref[0].add_submitted() if board_ref else None)
    async with s.client(transport=transport) as ib, _ledger(s) as ledger:
        inputs = await _inputs(ib, s.args.input_dirs, s.args.each_subfolder_of)
        with s.display.runs("running", len(inputs)) as board:
            board_ref.append(board)
            s.counts = board.counts
            if ledger is None:
                s.drain = transport.drain
            else:
                # Sent before this invocation (a resumed run). No drain: run_many shields each
                # submission together with its record, so stopping at once loses no answer (and a
                # submission held back inside that shield would never end).
                counts = await ledger.summary()
                board.add_submitted(sum(n for state, n in counts.items() if state != "pending"))

            def on_outcome(outcome: RunOutcome) -> None:
                input_dir = outcome.request.input_dir
                record = {**what, "input_dir": input_dir}
                _job_report(s, board, record, input_dir, outcome.job, outcome.status, outcome.error)

            await submit(ib, inputs, on_outcome, ledger)
    return _run_summary(s, board, "runs")


async def run_flows(s: Session) -> int:
    """FLOW_PATH over every input folder, at most --max-running at once."""
    args = s.args
    flow = _remote(args.flow_path)

    async def submit(
        ib: AsyncInstabase, inputs: list[str], on_outcome: OnOutcome, ledger: Ledger | None
    ) -> object:
        return await ib.flows.run_many(
            [
                FlowRunRequest(flow, input_dir, output_has_run_id=args.output_has_run_id)
                for input_dir in inputs
            ],
            max_running=args.max_running,
            timeout=args.timeout,
            poll=s.poll(),
            on_outcome=on_outcome,
            ledger=ledger,
            resubmit_unknown=args.resubmit_unknown,
        )

    return await _submitting(s, {"flow_path": flow}, submit)


async def run_solutions(s: Session) -> int:
    """SOLUTION_ID over every input folder, at most --max-running at once."""
    args = s.args
    solution_id = args.solution_id

    async def submit(
        ib: AsyncInstabase, inputs: list[str], on_outcome: OnOutcome, ledger: Ledger | None
    ) -> object:
        return await ib.solutions.run_many(
            [SolutionRunRequest(solution_id, input_dir) for input_dir in inputs],
            max_running=args.max_running,
            timeout=args.timeout,
            poll=s.poll(),
            on_outcome=on_outcome,
            ledger=ledger,
        )

    return await _submitting(s, {"solution_id": solution_id}, submit)


def _job_from(ib: AsyncInstabase, text: str, job_type: str) -> Job:
    if text.lstrip().startswith("{"):
        try:
            return ib.jobs.from_token(text)
        except ValueError as exc:
            message = str(exc)
            raise UsageError(message if "job token" in message else f"not a job token: {message}") from None
    return ib.jobs.from_id(text, type=job_type)


async def wait(s: Session) -> int:
    """Wait on job ids or tokens; each job's outcome as it ends."""
    args = s.args
    async with s.client() as ib:
        jobs = [_job_from(ib, text, args.type) for text in args.jobs]
        with s.display.runs("waiting", len(jobs)) as board:
            s.counts = board.counts
            board.add_submitted(len(jobs))
            async with ib.jobs.waiter(timeout=args.timeout, poll=s.poll()) as waiter:
                for job in jobs:
                    waiter.add(job)
                outcome: JobOutcome
                async for outcome in waiter:
                    _job_report(s, board, {}, outcome.job.job_id, outcome.job, outcome.status, outcome.error)
    return _run_summary(s, board, "jobs")


# --------------------------------------------------------------------------- one-off commands


async def ls(s: Session) -> int:
    """One line (or JSON object) per entry of a remote folder."""
    folder = _remote(s.args.remote_dir)
    async with s.client() as ib:
        async for entry in ib.files.list(folder):
            name = entry.path.rstrip("/").rsplit("/", 1)[-1] + ("/" if entry.is_dir else "")
            size = "-" if entry.size is None else str(entry.size)
            modified = entry.modified.strftime("%Y-%m-%d %H:%M") if entry.modified else "-"
            record = {
                "path": entry.path,
                "is_dir": entry.is_dir,
                "size": entry.size,
                "modified": entry.modified.isoformat() if entry.modified else None,
            }
            s.display.outcome(record, f"{size:>12}  {modified:16}  {name}", ok=True, always=True)
    return EXIT_OK


async def _one_job(s: Session, record: dict[str, Any], job: Job) -> JobStatus | None:
    with s.display.runs("waiting", 1) as board:
        board.add_submitted()
        error: BaseException | None = None
        status: JobStatus | None = None
        try:
            status = await job.wait(timeout=s.args.timeout, poll=s.poll(), raise_on_failure=False)
        except WaitTimeoutError as exc:
            error = exc
        ok = error is None and status is not None and status.succeeded
        record.update(ok=ok, job_id=job.job_id, state=status.state.value if status is not None else None)
        if not ok:
            record["error"] = describe(error, status)
        board.add_outcome(ok)
    return status if ok else None


async def rm(s: Session) -> int:
    """Delete a remote file or folder and wait for the deletion job."""
    path = _remote(s.args.remote_path)
    async with s.client() as ib:
        record: dict[str, Any] = {"path": path}
        status = await _one_job(s, record, await ib.files.delete(path))
    line = f"removed {path}" if status else f"FAILED  {path}: {record['error']}"
    s.display.outcome(record, line, ok=status is not None, always=True)
    return _exit(status is None)


async def deploy(s: Session) -> int:
    """Deploy an .ibsolution; print the deployed solution's id."""
    path = _remote(s.args.solution_path)
    async with s.client() as ib:
        record: dict[str, Any] = {"solution_path": path}
        status = await _one_job(s, record, await ib.solutions.deploy(path))
    ids = [
        r["deployed_solution_id"] for r in (status.results if status else ()) if "deployed_solution_id" in r
    ]
    record["deployed_solution_id"] = ids[0] if ids else None
    line = (
        f"deployed {path}: solution {record['deployed_solution_id']}"
        if status
        else f"FAILED  {path}: {record['error']}"
    )
    s.display.outcome(record, line, ok=status is not None, always=True)
    return _exit(status is None)


async def fake(s: Session) -> int:
    """Serve the fake Instabase on 127.0.0.1 until Ctrl-C."""
    token, seconds = s.token_from_file(), s.args.job_seconds
    server = FakeInstabase(token=token, job_seconds=seconds) if token else FakeInstabase(job_seconds=seconds)
    try:
        async with server.serve(port=s.args.port) as url:
            # Its token is never printed, the fake's default included (--help names that one).
            s.display.outcome({"url": url}, url, ok=True, always=True)
            s.display.note(
                f"fake Instabase at {url}, with the token of --token-file or its default; Ctrl-C stops it"
            )
            await anyio.sleep_forever()
    finally:
        server.close()
    return EXIT_OK  # pragma: no cover - only Ctrl-C ends it


def _state_counts(counts: dict[str, int]) -> str:
    shown = [f"{state} {count}" for state, count in counts.items() if count]
    return " · ".join(shown) or "empty"


def _failure(outcome: RunOutcome | TransferOutcome) -> dict[str, str]:
    """A recorded failure: its input (folder or local file) and what went wrong."""
    if isinstance(outcome, TransferOutcome):
        return {"input": outcome.source, "error": describe(outcome.error)}
    return {"input": outcome.request.input_dir, "error": describe(outcome.error, outcome.status)}


async def status(s: Session) -> int:
    """A ledger's runs with their counts by state; with --run, that run's failures too."""
    url, only = s.args.ledger, s.args.run
    try:
        names = await Ledger.runs(url)
    except FileNotFoundError:
        raise UsageError(f"no ledger at {url}") from None
    if only is not None:
        if only not in names:
            raise UsageError(f"the ledger has no run {only!r} (its runs: {', '.join(names) or 'none'})")
        names = [only]
    failed = 0
    for name in names:
        async with Ledger(url, run=name) as ledger:
            counts = await ledger.summary()
            outcomes = await ledger.outcomes() if only is not None else []
        failures = [_failure(outcome) for outcome in outcomes if not outcome.ok]
        failed += len(failures)
        record: dict[str, Any] = {"run": name, **counts}  # {"run", "pending", ..., "done", "unknown"}
        if only is not None:
            record["failures"] = failures
        s.display.outcome(record, f"{name}: {_state_counts(counts)}", ok=True, always=True)
        for failure in failures:
            s.display.detail(f"FAILED  {failure['input']}: {failure['error']}", ok=False)
    return _exit(failed)


COMMANDS: dict[str, Callable[[Session], Awaitable[int]]] = {
    "upload": upload,
    "download": download,
    "run": run_flows,
    "solutions run": run_solutions,
    "wait": wait,
    "status": status,
    "ls": ls,
    "rm": rm,
    "deploy": deploy,
    "fake": fake,
}
