"""The command line's grammar: every command, its options, its help and examples (argparse)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

__all__ = ["PROG", "UsageError", "build_parser", "parse"]

PROG = "instabase-async"

_N = TypeVar("_N", int, float)

_ENVIRONMENT = """\
The instance and token come from INSTABASE_URL and INSTABASE_TOKEN, or from --url and
--token-file FILE. A token is never taken on the command line (it would land in your shell
history) and is never printed. --url, --token-file and --json may come before or after the
command name.

Exit status: 0 everything succeeded, 1 something failed (the summary says what), 2 usage
error, 130 interrupted (Ctrl-C; with --ledger the same command carries on).
"""

_EXAMPLES = {
    "upload": """\
LOCAL_DIR/a/b.pdf is stored at REMOTE_DIR/a/b.pdf. Example:

  instabase-async upload ./invoices "me/repo/fs/Instabase Drive/invoices" --concurrency 16
""",
    "download": """\
A folder is downloaded recursively: REMOTE_PATH/a/b.pdf lands at LOCAL_PATH/a/b.pdf.
A file is written to LOCAL_PATH (or inside it, when LOCAL_PATH is a folder or ends in /). Example:

  instabase-async download "me/repo/fs/Instabase Drive/out" ./out
""",
    "run": """\
Runs the flow once per input folder, at most --max-running at once on the server. Examples:

  # three input folders:
  instabase-async run "me/repo/fs/Instabase Drive/flow/invoice.ibflow" \\
      "me/repo/fs/Instabase Drive/in/jan" "me/repo/fs/Instabase Drive/in/feb" \\
      "me/repo/fs/Instabase Drive/in/mar"

  # every folder under a path: each subfolder of .../in is one input
  instabase-async run "me/repo/fs/Instabase Drive/flow/invoice.ibflow" \\
      --each-subfolder-of "me/repo/fs/Instabase Drive/in" --max-running 16

  # the same, resumable: after Ctrl-C (or a crash) the same command carries on
  instabase-async run FLOW --each-subfolder-of IN --ledger runs.db --run nightly
""",
    "solutions run": """\
Runs a deployed solution once per input folder, at most --max-running at once. Example:

  instabase-async solutions run 0b8615d8-3666-4b77-af66-eba1913f61fd \\
      --each-subfolder-of "me/repo/fs/Instabase Drive/in" --max-running 8
""",
    "wait": """\
Waits on jobs until each ends. A job token (the JSON of Job.to_token()) carries its own type.
Example:

  instabase-async wait 894a5fbc-7d8a-4374-aff5-d2481587a689 --timeout 600
""",
    "status": """\
Shows what a ledger holds: its runs counted by state, or one run with its failures. Example:

  instabase-async status --ledger runs.db --run nightly
""",
    "ls": """\
Example:

  instabase-async ls "me/repo/fs/Instabase Drive/in"
""",
    "rm": """\
Deletes a file or folder and waits for the deletion to finish. Example:

  instabase-async rm "me/repo/fs/Instabase Drive/old"
""",
    "deploy": """\
Deploys an .ibsolution and prints the deployed solution's id. Example:

  instabase-async deploy "me/repo/fs/Instabase Drive/app.ibsolution"
""",
    "fake": """\
Serves an in-memory fake Instabase on 127.0.0.1 until Ctrl-C (needs the testing extra), and
prints its URL first. It accepts the token in --token-file, or fake-token without one. HTTP
endpoint handlers run Python code from its file store, so it never listens beyond loopback.
Example:

  instabase-async fake --port 8080 &
  INSTABASE_URL=http://127.0.0.1:8080 INSTABASE_TOKEN=fake-token instabase-async ls me
""",
}


class UsageError(Exception):
    """A usage error: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors as one line and no prefix matching (so `--token X` is never read as
    `--token-file X` and echoed back)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


class _RefuseToken(argparse.Action):
    """`--token`: refused without echoing its value anywhere."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        raise UsageError(
            "a token is never taken on the command line: set INSTABASE_TOKEN or pass --token-file FILE"
        )


def _common(suppress: bool) -> _Parser:
    """The options every command takes. On the subcommands their default is SUPPRESS, so a
    value given before the command name is not overwritten by the subcommand's default."""
    default = argparse.SUPPRESS if suppress else None
    common = _Parser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", default=default, help="the instance's root URL (default: $INSTABASE_URL)")
    group.add_argument(
        "--token-file",
        default=default,
        metavar="FILE",
        help="read the token from FILE (default: $INSTABASE_TOKEN)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print one JSON object per outcome, for scripts",
    )
    group.add_argument("--token", nargs="?", action=_RefuseToken, help=argparse.SUPPRESS)
    return common


def _number(text: str, convert: Callable[[str], _N], noun: str, fits: Callable[[_N], bool], bound: str) -> _N:
    """`text` as a number that `fits`; "expected {noun}" or "expected {bound}" if not."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
    if not fits(value):
        raise argparse.ArgumentTypeError(f"expected {bound}, got {text!r}")
    return value


def _seconds(text: str) -> float:
    return _number(text, float, "a number of seconds", lambda value: value > 0, "a number of seconds > 0")


def _count(text: str) -> int:
    return _number(text, int, "a whole number", lambda value: value >= 1, "a number >= 1")


def _port(text: str) -> int:
    port = "a port number 0-65535"
    return _number(text, int, port, lambda value: 0 <= value <= 65535, port)


def _command(
    subparsers: Any, name: str, help_text: str, parents: list[_Parser], key: str | None = None
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=help_text, epilog=_EXAMPLES[key or name], parents=parents
    )
    parser.set_defaults(command=key or name)
    return parser


def _ledger_options(parser: argparse.ArgumentParser, what: str, why: str) -> None:
    parser.add_argument(
        "--ledger",
        metavar="F",
        help=f"record {what} in this ledger (a SQLite file or postgresql:// URL): {why}",
    )
    parser.add_argument(
        "--run", metavar="NAME", default="default", help="the run's name in the ledger (default: default)"
    )


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "input_dirs",
        nargs="*",
        metavar="INPUT_DIR",
        help="an input folder on Instabase; give as many as you like",
    )
    parser.add_argument(
        "--each-subfolder-of",
        action="append",
        default=[],
        metavar="PATH",
        help="also run once per subfolder of this remote folder, except its 'out' (where runs write by "
        "default); repeatable",
    )
    parser.add_argument(
        "--max-running",
        type=_count,
        default=8,
        metavar="N",
        help="runs alive on the server at once (default 8)",
    )
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", help="give up waiting on a run after S seconds"
    )
    _poll_option(parser)
    _ledger_options(parser, "each run", "the same command carries on after Ctrl-C or a crash")


def _poll_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--poll-interval",
        type=_seconds,
        metavar="S",
        help="poll each job every S seconds (default: from 1 s, growing to 10 s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parents = [_common(suppress=True)]
    parser = _Parser(
        prog=PROG,
        description="Move files in and out of Instabase and run flows over many folders, with live progress.",
        epilog=_ENVIRONMENT,
        parents=[_common(suppress=False)],
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    _transfer_commands(sub, parents)
    _run_commands(sub, parents)
    _job_commands(sub, parents)
    _remote_commands(sub, parents)
    return parser


def _concurrency_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency", type=_count, default=8, metavar="N", help="files at once (default 8)"
    )


def _transfer_commands(sub: Any, parents: list[_Parser]) -> None:
    upload = _command(sub, "upload", "upload a local folder, mirrored under a remote folder", parents)
    upload.add_argument("local_dir", metavar="LOCAL_DIR")
    upload.add_argument("remote_dir", metavar="REMOTE_DIR")
    _concurrency_option(upload)
    _ledger_options(upload, "each uploaded file", "a re-run skips files uploaded unchanged")

    download = _command(sub, "download", "download a file, or a folder recursively", parents)
    download.add_argument("remote_path", metavar="REMOTE_PATH")
    download.add_argument("local_path", metavar="LOCAL_PATH")
    _concurrency_option(download)


def _run_commands(sub: Any, parents: list[_Parser]) -> None:
    run = _command(sub, "run", "run a flow over many input folders", parents)
    run.add_argument("flow_path", metavar="FLOW_PATH", help="the .ibflow on Instabase")
    _run_options(run)
    run.add_argument(
        "--output-has-run-id",
        action="store_const",
        const=True,
        help="give each run its own output folder (runs over sibling folders share ../out otherwise)",
    )
    run.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="with --ledger: submit again the runs a crash left unknown (sent or not, nobody can tell)",
    )

    solutions = sub.add_parser("solutions", help="deployed solutions: run", parents=parents)
    solutions_sub = solutions.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    solutions_run = _command(
        solutions_sub, "run", "run a deployed solution over many input folders", parents, "solutions run"
    )
    solutions_run.add_argument("solution_id", metavar="SOLUTION_ID")
    _run_options(solutions_run)


def _job_commands(sub: Any, parents: list[_Parser]) -> None:
    wait = _command(sub, "wait", "wait on jobs by id or job token", parents)
    wait.add_argument("jobs", nargs="+", metavar="JOB_ID_OR_TOKEN")
    wait.add_argument(
        "--type", default="flow", help="the job type of plain ids: flow, async, ... (default flow)"
    )
    _wait_options(wait, "give up on a job after S seconds")

    status = _command(sub, "status", "show a ledger's runs, or one run's progress and failures", parents)
    status.add_argument(
        "--ledger", metavar="F", required=True, help="the ledger: a SQLite file or postgresql:// URL"
    )
    status.add_argument("--run", metavar="NAME", help="one run of the ledger (default: every run)")


def _wait_options(parser: argparse.ArgumentParser, timeout_help: str) -> None:
    parser.add_argument("--timeout", type=_seconds, metavar="S", help=timeout_help)
    _poll_option(parser)


def _remote_commands(sub: Any, parents: list[_Parser]) -> None:
    ls = _command(sub, "ls", "list a remote folder", parents)
    ls.add_argument("remote_dir", metavar="REMOTE_DIR")

    rm = _command(sub, "rm", "delete a remote file or folder", parents)
    rm.add_argument("remote_path", metavar="REMOTE_PATH")
    _wait_options(rm, "give up waiting after S seconds")

    deploy = _command(sub, "deploy", "deploy a solution (.ibsolution)", parents)
    deploy.add_argument("solution_path", metavar="SOLUTION_PATH")
    _wait_options(deploy, "give up waiting after S seconds")

    fake = _command(sub, "fake", "serve the fake Instabase on 127.0.0.1 (for trying things out)", parents)
    fake.add_argument("--port", type=_port, default=0, help="port to listen on (default: any free port)")
    fake.add_argument(
        "--job-seconds", type=_seconds, metavar="S", help="jobs run this long (default: until their 3rd poll)"
    )


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line; `UsageError` for anything wrong with it."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if getattr(args, "command", None) is None:
        raise UsageError(f"name a command (see {PROG} --help)")
    return args
