"""nox sessions: ``nox`` runs lint and tests (the README's test command)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    model_venv = start_model_build()
    session.env["TESSERRA_TEST_MODEL_VENV"] = model_venv
    session.install("-c", "requirements.lock", "-e", ".[test]")
    session.run("pytest", *session.posargs)


def start_model_build() -> str:
    """Build (or reuse) the real model's own virtualenv in the background, at the lowest priority, so the
    compile overlaps the suite; tests/real_model waits for it (tests/servers/real_model.py). Its pins are
    in scripts/build-model-env.sh; llama-cpp-python stays out of the project's lock and venv."""
    venv = os.environ.get("TESSERRA_TEST_MODEL_VENV") or str(Path(".nox/model").resolve())
    Path(venv).parent.mkdir(parents=True, exist_ok=True)
    Path(f"{venv}.rc").unlink(missing_ok=True)
    with open(f"{venv}.log", "wb") as log:
        subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            ["nice", "-n", "19", "bash", "scripts/build-model-env.sh", venv],  # noqa: S607
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return venv
