"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb in a temporary folder, a free
loopback port, its unix socket in that folder, stopped and removed at the end.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["find_bindir", "throwaway_cluster"]


def find_bindir() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), or None if not installed."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(found.stdout.strip())
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(initdb))
    # Debian puts the server programs under a versioned folder; pg_config may name another.
    candidates.extend(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _version(folder: str) -> tuple[int, ...]:
    name = Path(folder).parent.name
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[str]:
    """Start a cluster, yield its `postgresql://` URL, then stop it and remove every file."""
    root = Path(tempfile.mkdtemp(prefix="ib-ledger-pg-"))
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else None
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, user=user, timeout=120, cwd=root)

    started = False
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
        )
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            if started:
                run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
