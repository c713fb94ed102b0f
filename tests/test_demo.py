"""The README's main job: the demo runs end to end on the fake, in process and served."""

from __future__ import annotations

import io

import pytest

from instabase_async.demo import main, run_demo


@pytest.mark.anyio
@pytest.mark.parametrize("served", [False, True])
async def test_demo_runs_every_flow_to_an_outcome(served: bool) -> None:
    """Every batch gets exactly one outcome; the planned failures are outcomes, not aborts."""
    out = io.StringIO()
    outcomes = await run_demo(
        documents=10, batches=5, max_running=2, fail_every=5, served=served, job_seconds=(0.02, 0.1), out=out
    )
    assert len(outcomes) == 5
    assert sum(not o.ok for o in outcomes) == 1
    assert [o.request.input_dir.rsplit("/", 1)[-1] for o in outcomes] == [f"batch-{b:02d}" for b in range(5)]
    text = out.getvalue()
    assert "flow runs          : 5 (4 succeeded, 1 failed)" in text
    assert "(cap 2)" in text
    assert "most runs at once  : 1 " in text or "most runs at once  : 2 " in text


def test_demo_command_line_rejects_nonsense() -> None:
    """The command line refuses more batches than documents."""
    with pytest.raises(SystemExit):
        main(["--documents", "2", "--batches", "3"])
