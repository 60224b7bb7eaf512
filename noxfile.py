"""nox sessions: ``nox`` runs lint and tests (the README's test command)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy (strict) and the import-linter contracts of the hexagon."""
    session.install("-c", "requirements.lock", "-e", ".[test]")
    session.run("ruff", "check", "src", "tests", "bench", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "bench", "noxfile.py")
    session.run("mypy")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Every test this machine can run: unit, contract (memory, SQLite, PostgreSQL), drivers, CLI."""
    session.install("-c", "requirements.lock", "-e", ".[test]")
    session.run("pytest", *session.posargs)
