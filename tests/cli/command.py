"""The `tesserra` command run as a subprocess, with only the environment it is given."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import tesserra_http
from tests.cli.served import TESSERRA

SECRET = "c" * 48
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SCHEMA = {"alembic_version", "tenants", "users", "memberships", "api_keys", "sessions", "refresh_tokens", "revocations"}


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def command_env(**variables: str) -> dict[str, str]:
    """Only what the command needs: no TESSERRA_* of the developer's leaks in (tests/conftest.py); the
    code under test, wherever the installed entry point's package lives."""
    return {
        "PYTHONPATH": str(Path(tesserra_http.__file__).parents[1]),
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        **variables,
    }


async def tesserra(*args: str, env: dict[str, str], cwd: Path | None = None, within: float = 60.0) -> Done:
    process = await asyncio.create_subprocess_exec(
        TESSERRA,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())
