"""Helpers of the command-line tests: run the real console script in a subprocess.

Every run checks what must hold for any command: the token never appears in stdout or stderr,
and nothing ends in a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from instabase_async.testing import FakeInstabase

# A token distinctive enough that finding it anywhere in an output cannot be a coincidence.
TOKEN = "tok-Zq8vW3nPx7Lr2Kd9Hs4Jf6"

SCRIPT = Path(sys.executable).with_name("instabase-async")
DRIVE = "me/repo/fs/Instabase Drive"


@contextmanager
def serving(inputs: int = 0, **options: Any) -> Iterator[tuple[FakeInstabase, str]]:
    """A served fake with the test token and `inputs` input folders under DRIVE/in."""
    fake = FakeInstabase(token=TOKEN, **options)
    for i in range(inputs):
        fake.write_file(f"{DRIVE}/in/batch-{i}/doc.pdf", b"%PDF")
    with fake.serve_in_background() as url:
        yield fake, url
    fake.close()


@dataclass
class Result:
    """What one run of the command printed, and its exit status."""

    code: int
    out: str
    err: str

    def json(self) -> list[dict[str, Any]]:
        """stdout as JSON lines (every line must parse)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def cli_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a run: the instance and the token, and no terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTABASE_")}
    env.update(INSTABASE_URL=url, INSTABASE_TOKEN=TOKEN, **extra)
    return env


def check_output(code: int, out: str, err: str) -> Result:
    """The checks every run must pass."""
    assert TOKEN not in out and TOKEN not in err, "the token was printed"
    assert "Traceback" not in err, err
    return Result(code, out, err)


def start(args: list[str], env: Mapping[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """The console script, started in the background."""
    return subprocess.Popen(
        [str(SCRIPT), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env),
        cwd=cwd,
    )


def run_all(cases: list[tuple[list[str], Mapping[str, str]]]) -> list[Result]:
    """Several runs side by side (each start is mostly import time); results in order."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda case: run(*case), cases))


def run(args: list[str], env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60) -> Result:
    """The console script, run to its end."""
    proc = subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=dict(env), cwd=cwd, timeout=timeout
    )
    return check_output(proc.returncode, proc.stdout, proc.stderr)
