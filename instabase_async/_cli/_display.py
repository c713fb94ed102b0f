"""How a command shows its work: a live rich display on a terminal, plain lines when stdout is
not a terminal, one JSON object per outcome with `--json`.

Outcomes go to stdout (failures as they happen, with their input and message); notes and the
final summary go to stdout too, except with `--json`, where stdout holds outcomes only and the
rest goes to stderr. Nothing here ever sees the token.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text

from instabase_async import Progress

from ._parse import PROG

__all__ = ["Display", "Mode", "RunBoard", "TransferBoard", "human_bytes"]

Mode = Literal["live", "plain", "json"]

# Enough to look alive without costing the event loop anything noticeable (rich renders in its
# own thread).
_REFRESH_PER_SECOND = 4


def human_bytes(count: int) -> str:
    """`1.2 MB`-style sizes (decimal units, as rich's transfer columns show them)."""
    size = float(count)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


class Display:
    """Where a command's outcomes, notes and progress go."""

    def __init__(self, mode: Mode, *, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.mode: Mode = mode
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._console = Console(file=self._out, highlight=False, markup=False, soft_wrap=True)
        self._bar: Bar | None = None

    @classmethod
    def for_stdout(cls, *, json_lines: bool) -> Display:
        """JSON lines if asked, else live on a terminal and plain lines elsewhere."""
        if json_lines:
            return cls("json")
        return cls("live" if sys.stdout.isatty() else "plain")

    # ------------------------------------------------------------------ lines

    def outcome(self, record: dict[str, Any], line: str, *, ok: bool, always: bool = False) -> None:
        """One outcome. On a terminal only failures (and `always` ones) get a line, above the
        live display; plain output gets a line for each; JSON an object for each."""
        if self.mode == "json":
            print(json.dumps(record, ensure_ascii=False, default=str), file=self._out, flush=True)
        elif self.mode == "plain":
            print(line, file=self._out, flush=True)
        elif always or not ok:
            self._print(Text(line, style="" if ok else "red"))

    def detail(self, line: str, *, ok: bool) -> None:
        """A line about an outcome already given, which JSON output carries inside its object."""
        if self.mode == "plain":
            print(line, file=self._out, flush=True)
        elif self.mode == "live":
            self._print(Text(line, style="" if ok else "red"))

    def note(self, line: str) -> None:
        """A line for the person watching (stderr with --json, so stdout stays parseable)."""
        if self.mode == "json":
            print(line, file=self._err, flush=True)
        elif self.mode == "plain":
            print(line, file=self._out, flush=True)
        else:
            self._print(Text(line, style="yellow"))

    def error(self, line: str) -> None:
        """A fatal error of the command, one line on stderr."""
        print(f"{PROG}: error: {line}", file=self._err, flush=True)

    def summary(self, line: str, *, ok: bool) -> None:
        """The last line of a command."""
        if self.mode == "live":
            self._print(Text(line, style="bold green" if ok else "bold red"))
        else:
            self.note(line)

    def _print(self, text: Text) -> None:
        console = self._bar.console if self._bar is not None else self._console
        console.print(text)

    # ------------------------------------------------------------------ live progress

    @contextmanager
    def _live(self, *columns: Any) -> Iterator[Bar | None]:
        if self.mode != "live":
            yield None
            return
        bar = Bar(
            *columns,
            console=self._console,
            refresh_per_second=_REFRESH_PER_SECOND,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._bar = bar
        try:
            with bar:
                yield bar
        finally:
            self._bar = None

    @contextmanager
    def transfer(self, verb: str, files_total: int, bytes_total: int | None) -> Iterator[TransferBoard]:
        """Files and bytes done, rate and time left, while a bulk transfer runs."""
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failed]}", style="red"),
        )
        with self._live(*columns) as bar:
            yield TransferBoard(bar, verb, files_total, bytes_total)

    @contextmanager
    def runs(self, verb: str, total: int) -> Iterator[RunBoard]:
        """Submitted, running, done and failed counts while runs (or waits) go on."""
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with self._live(*columns) as bar:
            yield RunBoard(bar, verb, total)


class TransferBoard:
    """Counts of a bulk transfer, shown live (if there is a live display)."""

    def __init__(self, bar: Bar | None, verb: str, files_total: int, bytes_total: int | None) -> None:
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.done = self.failed = self.bytes_done = 0
        self._bar = bar
        self._task: TaskID | None = None
        if bar is not None:
            self._task = bar.add_task(verb, total=bytes_total, files=f"0/{files_total}", failed="")

    def counts(self) -> str:
        """`12 of 48 files (1.2 MB), 1 failed`."""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done} of {self.files_total} files ({human_bytes(self.bytes_done)}){failed}"

    def update(self, progress: Progress) -> None:
        """A progress event of the bulk call."""
        self.done, self.failed, self.bytes_done = progress.done, progress.failed, progress.bytes_done
        if progress.bytes_total is not None:
            self.bytes_total = progress.bytes_total
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                total=self.bytes_total,
                completed=self.bytes_done,
                files=f"{self.done}/{self.files_total}",
                failed=f"{self.failed} failed" if self.failed else "",
            )


class RunBoard:
    """Counts of many runs or waits: submitted, running, done (finished), failed."""

    def __init__(self, bar: Bar | None, verb: str, total: int) -> None:
        self.total = total
        self.submitted = self.done = self.failed = 0
        self._bar = bar
        self._task: TaskID | None = None
        if bar is not None:
            self._task = bar.add_task(verb, total=total, counts=self.counts())

    @property
    def running(self) -> int:
        """Submitted and not yet finished."""
        return max(0, self.submitted - self.done)

    def counts(self) -> str:
        """`submitted 12 · running 4 · done 8 · failed 1`."""
        return (
            f"submitted {self.submitted} · running {self.running} · "
            f"done {self.done - self.failed} · failed {self.failed}"
        )

    def add_submitted(self, count: int = 1) -> None:
        """Submissions answered by the server (or resumed from a ledger)."""
        self.submitted += count
        self._refresh()

    def add_outcome(self, ok: bool) -> None:
        """One run (or wait) finished."""
        self.done += 1
        self.failed += not ok
        # A submission that failed before the server answered still counts as submitted once.
        self.submitted = max(self.submitted, self.done)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self.done, counts=self.counts())
