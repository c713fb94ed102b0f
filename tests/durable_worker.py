"""One worker of a durable bulk run, as its own process, for the crash and several-worker tests.

    python durable_worker.py URL TOKEN LEDGER RUN KIND COUNT MAX_RUNNING LEASE OUT

Runs `flows.run_many` (KIND=flow) or `solutions.run_many` (KIND=solution, solution id in the
`IB_TEST_SOLUTION` environment variable) of COUNT requests over input folders `in/0..COUNT-1`,
with the ledger at LEDGER, and writes one JSON line per outcome to OUT once every request has one.
"""

from __future__ import annotations

import json
import os
import sys

import anyio

from instabase_async import AsyncInstabase, FlowRunRequest, Ledger, PollPolicy, SolutionRunRequest

FLOW = "me/repo/fs/Instabase Drive/flows/test.ibflow"


def requests(kind: str, count: int) -> list[FlowRunRequest] | list[SolutionRunRequest]:
    if kind == "flow":
        return [FlowRunRequest(FLOW, f"in/{index}") for index in range(count)]
    solution = os.environ["IB_TEST_SOLUTION"]
    return [SolutionRunRequest(solution, f"in/{index}") for index in range(count)]


async def main(argv: list[str]) -> None:
    url, token, ledger_url, run, kind, count, max_running, lease, out = argv
    poll = PollPolicy(initial=0.05, maximum=0.2, jitter=0.1)
    async with (
        AsyncInstabase(url, token, poll=poll) as ib,
        Ledger(ledger_url, run=run, lease_seconds=float(lease)) as ledger,
    ):
        work = requests(kind, int(count))
        if kind == "flow":
            outcomes = await ib.flows.run_many(work, max_running=int(max_running), ledger=ledger)  # type: ignore[arg-type]
        else:
            outcomes = await ib.solutions.run_many(work, max_running=int(max_running), ledger=ledger)  # type: ignore[arg-type]
    lines = [
        {
            "input_dir": outcome.request.input_dir,
            "ok": outcome.ok,
            "error": type(outcome.error).__name__ if outcome.error is not None else None,
            "job_id": outcome.job.job_id if outcome.job is not None else None,
        }
        for outcome in outcomes
    ]
    await anyio.Path(out).write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:])
