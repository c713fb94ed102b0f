"""The live progress display, read off a real terminal (tmux) while the command runs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import DRIVE, SCRIPT, TOKEN, cli_env, serving

from instabase_async.testing import FakeInstabase

pytestmark = [
    pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed"),
    pytest.mark.skipif(
        shutil.which("tmux") is None and not os.environ.get("CI"),
        reason="tmux is not installed (CI installs it)",
    ),
]


@pytest.fixture
def served() -> Iterator[tuple[FakeInstabase, str]]:
    """A served fake whose runs take about a second each."""
    with serving(inputs=6, job_seconds=0.8) as served:
        yield served


class Terminal:
    """A private tmux server with one 100x20 window running a shell command."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.socket = f"ib-cli-test-{uuid.uuid4().hex[:8]}"
        self._env = env
        # The pane stays open after the command ends, so its last screen can be read.
        script = f'{command}; echo "exit status $?"; sleep 60'
        self._tmux("new-session", "-d", "-x", "100", "-y", "20", "sh", "-c", script)

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self._env,
            timeout=30,
            check=True,
        )
        return proc.stdout

    def screen(self) -> str:
        """What the window shows now."""
        return self._tmux("capture-pane", "-p")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


def _watch(terminal: Terminal, seconds: float = 60) -> list[str]:
    """Every distinct screen until the command has ended."""
    screens: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        screen = terminal.screen()
        if not screens or screen != screens[-1]:
            screens.append(screen)
        if "exit status" in screen:
            return screens
        time.sleep(0.1)
    raise AssertionError("the command did not end:\n" + screens[-1])


def test_live_progress_updates_on_a_terminal(served: tuple[FakeInstabase, str], tmp_path: Path) -> None:
    """On a terminal, upload shows files, bytes and rate, and run shows its counts changing
    live (submitted, running, done, failed) before the summary; the token is never shown."""
    _, url = served
    for i in range(4):
        (tmp_path / "up" / f"d{i}").mkdir(parents=True)
        (tmp_path / "up" / f"d{i}" / "a.pdf").write_bytes(os.urandom(50_000))
    script = shlex.quote(str(SCRIPT))
    command = (
        f"{script} upload {shlex.quote(str(tmp_path / 'up'))} 'me/up' && "
        f"{script} run 'me/f.ibflow' --each-subfolder-of {shlex.quote(DRIVE + '/in')} "
        "--max-running 2 --poll-interval 0.1"
    )
    terminal = Terminal(command, {**cli_env(url), "TERM": "xterm-256color"})
    try:
        screens = _watch(terminal)
    finally:
        terminal.close()
    final = screens[-1]
    assert "exit status 0" in final
    assert "uploaded 4 files (200.0 kB)" in final
    assert "4/4 files" in final and "kB" in final and "/s" in final  # files, bytes, rate
    assert "6 runs: all 6 succeeded" in final
    run_lines = {
        line.strip() for screen in screens for line in screen.splitlines() if line.startswith("running")
    }
    counts = {line.split("━")[-1].split()[0] for line in run_lines}  # the "done/total" column
    assert {"0/6", "6/6"} <= counts and len(counts) >= 3, run_lines  # it moved while we watched
    assert any("submitted 2 · running 2" in line for line in run_lines), run_lines
    assert all(TOKEN not in screen for screen in screens)
