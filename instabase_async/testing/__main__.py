"""``python -m instabase_async.testing``: serve a fake Instabase on a port, for any HTTP client."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from ._app import FakeInstabase
from ._jobs import Outcome
from ._serve import serve_forever

__all__ = ["main"]

_DESCRIPTION = """\
Serve an in-memory fake Instabase (flows, job status, deployed solutions, files v2, HTTP
endpoints) until interrupted. The base URL is printed on one line once it listens.

Security: HTTP endpoint handlers execute the Python scripts stored in the fake's file store,
and anyone who can reach the port with the token can store one. The fake therefore binds
127.0.0.1 unless --host says otherwise: do not expose it.
"""


def _seconds(text: str) -> float | tuple[float, float]:
    """``"5"`` or ``"2:12"`` (a range drawn per job)."""
    try:
        if ":" in text:
            low, high = (float(part) for part in text.split(":", 1))
            if not 0 <= low <= high:
                raise ValueError
            return (low, high)
        value = float(text)
        if value < 0:
            raise ValueError
        return value
    except ValueError:
        raise argparse.ArgumentTypeError("expected SECONDS or LOW:HIGH, e.g. 5 or 2:12") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m instabase_async.testing``."""
    parser = argparse.ArgumentParser(
        prog="python -m instabase_async.testing",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: loopback only)"
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--token", default="fake-token", help="bearer token to accept (default fake-token)")
    parser.add_argument("--username", default="fakeuser", help="user the fake acts as (default fakeuser)")
    parser.add_argument(
        "--job-polls", type=int, default=2, help="status polls a job stays running for (default 2)"
    )
    parser.add_argument(
        "--job-seconds", type=_seconds, default=None, help="jobs run this long instead: SECONDS or LOW:HIGH"
    )
    parser.add_argument(
        "--outcome",
        default="OK",
        choices=["OK", "ERROR", "CANCELLED", "STOPPED_AT_CHECKPOINT"],
        help="how jobs end (default OK)",
    )
    parser.add_argument(
        "--progress",
        default="linear",
        choices=["linear", "steps", "late", "none", "mixed"],
        help="how running jobs report curProgress (default linear; mixed: each shape in turn)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for ids, durations and fault draws")
    parser.add_argument("--page-size", type=int, default=100, help="nodes per folder-listing page")
    parser.add_argument("--path-prefix", default="", help="serve the APIs under this prefix, e.g. /ib")
    parser.add_argument(
        "--log-requests", action="store_true", help="keep a request log (off by default: it grows)"
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the served fake until SIGINT/SIGTERM."""
    args = build_parser().parse_args(argv)
    fake = FakeInstabase(
        token=args.token,
        username=args.username,
        job_polls=args.job_polls,
        job_seconds=args.job_seconds,
        outcome=Outcome.coerce(args.outcome),
        progress=args.progress,
        seed=args.seed,
        page_size=args.page_size,
        path_prefix=args.path_prefix,
        log_requests=args.log_requests,
    )

    def announce(url: str) -> None:
        print(url + args.path_prefix, flush=True)

    try:
        asyncio.run(
            serve_forever(fake.app, args.host, args.port, on_started=announce, log_level=args.log_level)
        )
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
