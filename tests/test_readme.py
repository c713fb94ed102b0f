"""The README's Python examples run as written against the fake Instabase.

Every ```python block of README.md is found under its heading and run: the Quickstart as a script
against the served fake (only its URL and token swapped), the other blocks as the bodies they are,
with `ib` a client of a fake seeded with what they name. A block that cannot run against the fake
is preceded by `<!-- readme: not run, WHY -->` in the README and is reported here as skipped.
"""

from __future__ import annotations

import ast
import io
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

import instabase_async
from instabase_async import FlowRunRequest, PollPolicy
from instabase_async.testing import FakeInstabase

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
DRIVE = "me/repo/fs/Instabase Drive"
NOT_RUN = "<!-- readme: not run"


def _blocks() -> dict[str, tuple[str, str | None]]:
    """Each python block by the heading above it, with the reason it is not run (or None)."""
    blocks: dict[str, tuple[str, str | None]] = {}
    # Other fenced blocks are matched only to be passed over: a `#` line inside one is no heading.
    pattern = r"^#+ ([^\n]+)$|(<!-- readme: not run, (.*?) -->\n)?^```python\n(.*?)^```|^```.*?^```"
    heading = ""
    for match in re.finditer(pattern, README, re.M | re.S):
        if match[1] is not None:
            heading = match[1].strip()
            continue
        if match[4] is None:
            continue
        assert heading not in blocks, f"two python blocks under {heading!r}: give one a heading"
        blocks[heading] = (match[4], match[3])
    return blocks


BLOCKS = _blocks()
QUICKSTART = "Quickstart"
BODIES = [heading for heading in BLOCKS if heading != QUICKSTART]


def _seeded_fake() -> tuple[FakeInstabase, dict[str, Any]]:
    """A fake holding what the README's examples name, and the names those examples take as given."""
    fake = FakeInstabase(job_polls=1)
    input_dirs = [f"{DRIVE}/in/batch-{n}" for n in range(3)]
    for folder in input_dirs:
        fake.write_file(f"{folder}/doc.pdf", b"%PDF")
    fake.write_file(f"{DRIVE}/in/a.pdf", b"%PDF")
    fake.write_file(f"{DRIVE}/out/a.json", b"{}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("x.txt", "x")
    fake.write_file(f"{DRIVE}/in/suite.zip", archive.getvalue())
    solution_id = fake.add_solution(name="Invoices", version="1.2.0")
    flow = f"{DRIVE}/flow/my.ibflow"
    names = {
        "flow": flow,
        "src": f"{DRIVE}/in",
        "out": f"{DRIVE}/out",
        "dst": f"{DRIVE}/copy",
        "path": f"{DRIVE}/in/a.pdf",
        "flows_dir": f"{DRIVE}/flows",
        "classifier": f"{DRIVE}/flows/invoices.ibclassifier",
        "input_dirs": input_dirs,
        "requests": [FlowRunRequest(flow, folder) for folder in input_dirs],
        "items": [("a.pdf", f"{DRIVE}/up/a.pdf")],
        "solution_id": solution_id,
    }
    return fake, names


@pytest.fixture
def local_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with the local files the examples read."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "invoices").mkdir()
    (tmp_path / "invoices" / "i.pdf").write_bytes(b"%PDF")
    return tmp_path


def _skip_if_not_run(heading: str) -> str:
    source, reason = BLOCKS[heading]
    if reason is not None:
        pytest.skip(f"README block under {heading!r} is marked not run: {reason}")
    return source


def test_every_block_is_found() -> None:
    """The README's python blocks are all found, and the Quickstart is one of them."""
    assert README.count("```python") == len(BLOCKS)
    assert QUICKSTART in BLOCKS


def test_quickstart_runs_as_written(local_files: Path) -> None:
    """The Quickstart script runs against the served fake with only its URL and token swapped."""
    source = _skip_if_not_run(QUICKSTART)
    fake, _ = _seeded_fake()
    fake.write_file(f"{DRIVE}/flow/input/a.pdf", b"%PDF")
    with fake.serve_in_background() as url:
        swapped = source.replace('"https://www.instabase.com"', repr(url))
        swapped = swapped.replace('token="..."', f"token={fake.token!r}")
        assert swapped.count(url) == 1 and fake.token in swapped
        exec(compile(swapped, "README.md (Quickstart)", "exec"), {"__name__": "readme"})
    assert fake.requests.count("flow.run", method="POST") == 1


async def _run_body(source: str, names: dict[str, Any]) -> None:
    """Run a block as the body of an async function: top-level `await` and `async with` allowed."""
    code = compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    pending = eval(code, names)  # the README's own examples
    if pending is not None:
        await pending


@pytest.mark.anyio
@pytest.mark.parametrize("heading", BODIES)
async def test_block_runs_against_the_fake(
    heading: str, local_files: Path, request: pytest.FixtureRequest
) -> None:
    """Each README block runs as written, given `ib` and the names it takes as given."""
    source = _skip_if_not_run(heading)
    if "postgresql://" in source:
        server = request.getfixturevalue("postgres_server")
        schema = f"readme_{uuid.uuid4().hex}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        source = re.sub(r'"postgresql://[^"]*"', repr(f"{server}?options=-csearch_path%3D{schema}"), source)
    fake, names = _seeded_fake()
    names.update({name: getattr(instabase_async, name) for name in instabase_async.__all__}, Path=Path)
    with anyio.fail_after(30):
        if "fake.client(" in source:  # the fake's own section makes its own fake and client
            await _run_body(source, {})
            return  # the block asserts on its own fake
        async with fake.client(poll=PollPolicy(initial=0)) as ib:
            names["ib"] = ib
            job = await ib.flows.run(names["flow"], input_dir=names["src"])
            names.update(
                job_id=job.job_id, jobs=[job, await ib.flows.run(names["flow"], input_dir=names["src"])]
            )
            before = len(fake.requests.filter())
            await _run_body(source, names)
    assert len(fake.requests.filter()) > before, "the block sent nothing"
