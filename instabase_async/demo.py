"""The main job, end to end, on the built-in fake Instabase: `python -m instabase_async.demo`.

It makes a folder of sample documents, uploads it concurrently (`files.upload_dir`), starts one
flow run per batch with at most a few alive at once (`flows.run_many`), waits on every run, and
prints a summary. No configuration and no network: the fake runs in process, or on a loopback
port with `--served`. Some runs are set to fail, to show that a failure is an outcome, not an abort.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from . import AsyncInstabase, FlowRunRequest, PollPolicy, Progress, RunOutcome
from .testing import FakeInstabase, FakeJob, Outcome

__all__ = ["main", "run_demo"]

ROOT = "demo/invoices/fs/Instabase Drive"
FLOW = f"{ROOT}/flows/extract.ibflow"


def make_documents(folder: Path, documents: int, batches: int) -> None:
    """Sample documents, spread over `batches` sub-folders."""
    for n in range(documents):
        batch = folder / f"batch-{n % batches:02d}"
        batch.mkdir(parents=True, exist_ok=True)
        total = (n * 37) % 900 + 100
        lines = [f"INVOICE {1000 + n}", f"Customer: Customer #{n % 17}", f"Total: {total}.00 EUR"]
        (batch / f"invoice {n:04d}.txt").write_text("\n".join(lines * 40) + "\n", encoding="utf-8")


class Printer:
    """Progress lines: redrawn in place on a terminal, every quarter otherwise."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self._last_quarter = -1

    def progress(self, label: str, p: Progress) -> None:
        extra = f", {p.bytes_done / 1024:.0f} KiB" if p.bytes_done else ""
        failed = f", {p.failed} failed" if p.failed else ""
        line = f"  {label}: {p.done}/{p.total}{failed}{extra}"
        if self.tty:
            self.out.write("\r" + line.ljust(70))
            if p.done == p.total:
                self.out.write("\n")
            self.out.flush()
            return
        quarter = 4 * p.done // max(p.total, 1)
        if quarter != self._last_quarter or p.done == p.total:
            self._last_quarter = quarter
            print(line, file=self.out)

    def line(self, text: str) -> None:
        if self.tty:
            self.out.write("\r" + " " * 70 + "\r")
        print(text, file=self.out)


async def run_demo(
    *,
    documents: int = 48,
    batches: int = 12,
    max_running: int = 4,
    fail_every: int = 5,
    served: bool = False,
    seed: int = 7,
    job_seconds: tuple[float, float] = (0.3, 1.2),
    out: Any = None,
) -> list[RunOutcome]:
    """Upload, run, wait and summarise; returns the outcomes (the tests use them)."""
    out = out or sys.stdout
    printer = Printer(out)
    started = 0

    def outcome_for(job: FakeJob) -> Outcome | None:
        nonlocal started
        if job.origin != "flow.run":
            return None
        started += 1
        return Outcome.error("page 3 is an unreadable scan") if started % fail_every == 0 else Outcome.OK

    fake = FakeInstabase(job_seconds=job_seconds, seed=seed, outcome_for=outcome_for)
    fake.write_file(FLOW, b'{"steps": ["ocr", "extract"]}')
    poll = PollPolicy(initial=min(0.2, job_seconds[0]), maximum=0.8)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="instabase-demo-") as tmp:
        local = Path(tmp)
        make_documents(local, documents, batches)
        if served:
            async with fake.serve() as url:
                printer.line(f"Fake Instabase listening on {url}")
                async with AsyncInstabase(url, fake.token, poll=poll) as ib:
                    outcomes = await _main_job(ib, local, batches, max_running, printer)
        else:
            async with fake.client(poll=poll) as ib:
                outcomes = await _main_job(ib, local, batches, max_running, printer)
    elapsed = time.perf_counter() - t0
    ok = sum(o.ok for o in outcomes)
    polls = len(fake.requests.filter("jobs.status"))
    printer.line("")
    printer.line("Summary")
    printer.line(f"  documents uploaded : {documents} in {batches} batches")
    printer.line(f"  flow runs          : {len(outcomes)} ({ok} succeeded, {len(outcomes) - ok} failed)")
    printer.line(f"  most runs at once  : {fake.max_running_jobs} (cap {max_running})")
    printer.line(f"  status requests    : {polls} ({polls / max(len(outcomes), 1):.1f} per run)")
    printer.line(f"  wall time          : {elapsed:.1f} s")
    return outcomes


async def _main_job(
    ib: AsyncInstabase, local: Path, batches: int, max_running: int, printer: Printer
) -> list[RunOutcome]:
    remote = f"{ROOT}/incoming"
    printer.line(f"Uploading {local} -> {remote}")
    transfers = await ib.files.upload_dir(
        local, remote, concurrency=8, progress=lambda p: printer.progress("uploaded", p)
    )
    failed_uploads = [t for t in transfers if not t.ok]
    for t in failed_uploads:
        printer.line(f"  upload failed: {t.source}: {t.error}")

    requests = [
        FlowRunRequest(FLOW, f"{remote}/batch-{b:02d}", output_has_run_id=True, tags=["demo"])
        for b in range(batches)
    ]
    printer.line(f"Running {len(requests)} flows, at most {max_running} at once")

    def report(outcome: RunOutcome) -> None:
        batch = outcome.request.input_dir.rsplit("/", 1)[-1]
        if outcome.ok and outcome.status is not None:
            folder = outcome.status.output_folder or ""
            printer.line(f"  {batch}: COMPLETE -> .../{'/'.join(folder.split('/')[-3:])}")
        else:
            state = outcome.status.state if outcome.status is not None else "NOT STARTED"
            printer.line(f"  {batch}: {state}: {outcome.error}")

    outcomes = await ib.flows.run_many(
        requests,
        max_running=max_running,
        timeout=120,
        on_outcome=report,
        progress=lambda p: printer.progress("runs finished", p),
    )
    first = next((o for o in outcomes if o.ok and o.status is not None and o.status.output_folder), None)
    if first is not None and first.status is not None and first.status.output_folder:
        names = [entry.path.rsplit("/", 1)[-1] async for entry in ib.files.list(first.status.output_folder)]
        batch = first.request.input_dir.rsplit("/", 1)[-1]
        printer.line(f"Output of {batch}: {', '.join(sorted(names)[:4])} ...")
    return outcomes


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m instabase_async.demo", description=__doc__)
    parser.add_argument("--documents", type=int, default=48, help="sample documents to upload (default 48)")
    parser.add_argument("--batches", type=int, default=12, help="flow runs, one per batch (default 12)")
    parser.add_argument("--max-running", type=int, default=4, help="flow runs alive at once (default 4)")
    parser.add_argument("--served", action="store_true", help="serve the fake on a loopback port")
    parser.add_argument("--seed", type=int, default=7, help="seed of the fake's job durations")
    args = parser.parse_args(argv)
    if args.documents < 1 or not 1 <= args.batches <= args.documents or args.max_running < 1:
        parser.error("need documents >= batches >= 1 and max-running >= 1")
    outcomes = anyio.run(
        lambda: run_demo(
            documents=args.documents,
            batches=args.batches,
            max_running=args.max_running,
            served=args.served,
            seed=args.seed,
        )
    )
    # Failures are part of the demo; the exit code says whether every run got its outcome.
    return 0 if len(outcomes) == args.batches else 1


if __name__ == "__main__":
    raise SystemExit(main())
