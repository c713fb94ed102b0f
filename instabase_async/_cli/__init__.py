"""The `instabase-async` command (the `cli` extra): upload, download, run flows and solutions over
many folders, wait on jobs, with live progress on a terminal.

`main()` is the console script's entry point. Everything it runs uses the public API only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_NEEDS_RICH = "instabase-async: the command line needs rich: pip install 'instabase-async[cli]'"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status (0 ok, 1 something failed, 2 usage, 130 interrupted)."""
    try:
        # Imported here, not at the top: rich is optional (the `cli` extra), and without it the
        # command must say so in one line instead of a traceback.
        from ._main import run
    except ModuleNotFoundError as exc:
        if exc.name != "rich" and not (exc.name or "").startswith("rich."):
            raise
        print(_NEEDS_RICH, file=sys.stderr)
        return 2
    return run(argv)
