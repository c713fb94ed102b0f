"""One invocation: configuration (URL, token), the client, Ctrl-C, and the exit status.

Ctrl-C once stops starting new work: a command that submits runs hands the session a `drain`
that holds back submissions not yet sent and waits for those already sent to be answered; then
the command is cancelled and the exit status is 130. Ctrl-C twice stops at once.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, Literal

import anyio
import httpx
from anyio.abc import TaskStatus

from instabase_async import (
    APIError,
    AsyncInstabase,
    InstabaseError,
    JobError,
    JobStatus,
    OperationError,
    PollPolicy,
    WaitTimeoutError,
)

from ._display import Display
from ._parse import UsageError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Session",
    "Submissions",
    "describe",
    "one_line",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130
EXIT_TERMINATED: Final = 143  # 128 + SIGTERM, as a shell reports it

# The client's own default: requests in the air at once.
_MAX_CONNECTIONS: Final = 64
_MAX_MESSAGE: Final = 300
# How long a submission held back after Ctrl-C may wait for the cancellation that ends it.
_HOLD_LIMIT: Final = 30.0


def one_line(text: str) -> str:
    """A message squeezed onto one line, and capped."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _describe_status(status: JobStatus) -> str:
    state = status.state.value
    return f"{state}: {status.message}" if status.message else state


def describe(error: BaseException | None, status: JobStatus | None = None) -> str:
    """What went wrong, in one line: a server error as its status code and message."""
    if isinstance(error, OperationError):  # the v1 API's errors come with HTTP 200: no code to show
        return one_line(error.message or type(error).__name__)
    if isinstance(error, APIError):
        return one_line(f"{error.status_code} {error.message or type(error).__name__}")
    if isinstance(error, WaitTimeoutError):
        last = f" (last state {error.status.state.value})" if error.status is not None else ""
        return f"timed out waiting{last}"
    if isinstance(error, JobError) and error.status is not None:
        return one_line(_describe_status(error.status))
    if error is not None:
        return one_line(str(error) or type(error).__name__)
    if status is not None:
        return one_line(_describe_status(status))
    return "no status"


class Submissions(httpx.AsyncBaseTransport):
    """The transport of the commands that submit runs: it counts submissions (POSTs) as the
    server answers them, for the live display, and after Ctrl-C holds back the ones not yet sent
    (they are never sent) while the ones already sent get their answers."""

    def __init__(self, on_answer: Callable[[], None]) -> None:
        limits = httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS)
        self._inner = httpx.AsyncHTTPTransport(limits=limits)
        self._on_answer = on_answer
        self._in_flight = 0
        self._holding = False
        self._idle: anyio.Event | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "POST":
            return await self._inner.handle_async_request(request)
        if self._holding:
            # Never sent: the command is cancelled once the answers in the air are in. Bounded all
            # the same, in case a caller ever shields its submissions from that cancellation.
            await anyio.sleep(_HOLD_LIMIT)
            raise httpx.ConnectError("not sent: the command was stopped", request=request)
        self._in_flight += 1
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()  # the whole answer, before the command may be stopped
        finally:
            self._in_flight -= 1
            if not self._in_flight and self._idle is not None:
                self._idle.set()
        if response.status_code != 429:  # a 429 is retried: the same submission, answered later
            self._on_answer()
        return response

    async def drain(self) -> None:
        """Send nothing more; return once every submission already sent has its answer."""
        self._holding = True
        if self._in_flight:
            self._idle = anyio.Event()
            await self._idle.wait()

    async def aclose(self) -> None:
        await self._inner.aclose()


class Session:
    """The parsed arguments, the display, and Ctrl-C handling of one invocation."""

    def __init__(self, args: argparse.Namespace, display: Display) -> None:
        self.args = args
        self.display = display
        self.interrupted: Literal["", "interrupted", "terminated"] = ""  # by Ctrl-C, or by SIGTERM
        self._scope: anyio.CancelScope | None = None  # the command's, made on the event loop
        # Set by a command that must let submissions already sent finish before it stops.
        self.drain: Callable[[], Awaitable[None]] | None = None
        # Set by a command with counts worth saying when interrupted.
        self.counts: Callable[[], str] | None = None

    # ------------------------------------------------------------------ configuration

    def _url(self) -> str:
        url = self.args.url or os.environ.get("INSTABASE_URL", "")
        if not url.strip():
            raise UsageError("no instance URL: set INSTABASE_URL or pass --url URL")
        return url.strip()

    def token_from_file(self) -> str | None:
        """The token in `--token-file`, if one was given."""
        if not self.args.token_file:
            return None
        # Messages here never name the file: a token pasted in place of a file name is still a token.
        try:
            token = Path(self.args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable text"
            raise UsageError(f"cannot read the --token-file: {reason}") from None
        if not token:
            raise UsageError("the --token-file is empty")
        return token

    def _token(self) -> str:
        from_file = self.token_from_file()
        if from_file is not None:
            return from_file
        token = os.environ.get("INSTABASE_TOKEN", "").strip()
        if not token:
            raise UsageError("no token: set INSTABASE_TOKEN or pass --token-file FILE")
        return token

    def poll(self) -> PollPolicy | None:
        """`--poll-interval S` as a fixed policy; else the client's default."""
        seconds = getattr(self.args, "poll_interval", None)
        return PollPolicy.fixed(seconds) if seconds else None

    def client(self, *, transport: httpx.AsyncBaseTransport | None = None) -> AsyncInstabase:
        """A client for the configured instance; `UsageError` for a bad URL or a missing token."""
        url, token = self._url(), self._token()
        try:
            return AsyncInstabase(url, token, poll=self.poll(), transport=transport)
        except ValueError as exc:
            # The library's way out of plain http is a Python keyword; a command's is an https URL.
            raise UsageError(str(exc).replace(", or pass allow_insecure_http=True", "")) from None

    # ------------------------------------------------------------------ running

    async def run(self, command: Callable[[Session], Awaitable[int]]) -> int:
        """Run `command` with Ctrl-C handled; its exit status (130 when interrupted)."""
        self._scope = anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            await tg.start(self._watch_signals)
            with self._scope:
                status = await self._guarded(command)
            tg.cancel_scope.cancel()
        if self.interrupted:
            counts = f": {self.counts()}" if self.counts is not None else ""
            self.display.summary(f"{self.interrupted}{counts}", ok=False)
            return EXIT_TERMINATED if self.interrupted == "terminated" else EXIT_INTERRUPTED
        return status

    async def _guarded(self, command: Callable[[Session], Awaitable[int]]) -> int:
        try:
            return await command(self)
        except UsageError as exc:
            self.display.error(str(exc))
            return EXIT_USAGE
        except BrokenPipeError:
            # The reader went away (`... | head`): stop quietly, and keep Python's final flush of
            # stdout from complaining about the closed pipe.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED
        except ValueError as exc:  # the library refuses bad arguments before sending anything
            self.display.error(one_line(str(exc)))
            return EXIT_USAGE
        except (InstabaseError, OSError) as exc:  # a server error, a local file: one line each
            self.display.error(describe(exc) if isinstance(exc, InstabaseError) else one_line(str(exc)))
            return EXIT_FAILED

    def _stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    async def _watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        # SIGTERM (a stopped container, a killed job) stops at once, but through cancellation, so
        # that nothing is left half-written.
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async with anyio.create_task_group() as tg:
                async for signum in signals:
                    if signum == signal.SIGTERM:
                        self.interrupted = "terminated"
                        self._stop()
                        continue
                    if self.interrupted:
                        self._stop()
                        continue
                    self.interrupted = "interrupted"
                    if self.drain is None:
                        self._stop()
                    else:
                        self.display.note(
                            "stopping: waiting for submissions already sent (Ctrl-C again to stop now)"
                        )
                        tg.start_soon(self._drain_then_stop, self.drain)

    async def _drain_then_stop(self, drain: Callable[[], Awaitable[None]]) -> None:
        await drain()
        self._stop()
