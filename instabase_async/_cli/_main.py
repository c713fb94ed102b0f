"""Parse, pick the display, run the command on an event loop, map the result to an exit status."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import anyio

from ._commands import COMMANDS
from ._display import Display
from ._parse import PROG, UsageError, parse
from ._session import EXIT_INTERRUPTED, EXIT_USAGE, Session

__all__ = ["run"]


def run(argv: Sequence[str] | None = None) -> int:
    """One invocation of the command line."""
    try:
        args = parse(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    session = Session(args, Display.for_stdout(json_lines=args.json))
    try:
        return anyio.run(session.run, COMMANDS[args.command])
    except KeyboardInterrupt:  # Ctrl-C before the command's own handler was in place
        return EXIT_INTERRUPTED
