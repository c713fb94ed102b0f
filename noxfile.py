"""Sessions: tests (3.11-3.13), lint (ruff), typing (mypy --strict), bench, soak, tests_aiohttp."""

from __future__ import annotations

import glob
import os

import nox

# pyenv installs 3.11-3.13 side by side but its shims expose only the global one: put each
# version's own bin folder on PATH so nox finds python3.12 and python3.13 too.
for _bin in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-3]*/bin")), reverse=True):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite with branch coverage (the README's test command)."""
    session.install("-e", ".[dev]")
    session.run(
        "python",
        "-m",
        "pytest",
        "--cov=instabase_async",
        "--cov-branch",
        "--cov-report=term",
        *session.posargs,
    )


@nox.session(python="3.11")
def tests_aiohttp(session: nox.Session) -> None:
    """The fake-backed tests again with the optional aiohttp transport installed (asyncio picks it)."""
    session.install("-e", ".[dev,aiohttp]")
    session.run("python", "-m", "pytest", "-m", "not slow", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typing(session: nox.Session) -> None:
    """mypy --strict over the package."""
    session.install("-e", ".[dev,aiohttp]")
    session.run("mypy", "--strict", "instabase_async")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmark suite (a few minutes; `nox -s bench -- --quick` for a smoke run, `-- --part bulk`
    for one part); prints the table and writes benchmarks/out/results.json."""
    session.install("-e", ".[dev,aiohttp]", "uvicorn[standard]", "psutil")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """Long fault soaks, beyond the bounded ones of the normal test run."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-m", "slow", *session.posargs)
