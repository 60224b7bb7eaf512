"""`tesserra serve` as a real process on loopback, for the tests that attack it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import tesserra_http
from tests.support import free_port

TESSERRA = str(Path(sys.executable).with_name("tesserra"))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve_env(tmp: Path) -> dict[str, str]:
    """The settings of a server on its own database and data dir, running the code under test."""
    return {
        "PYTHONPATH": str(Path(tesserra_http.__file__).parents[1]),
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TESSERRA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'tesserra.db'}",
        "TESSERRA_DATA_DIR": str(tmp / "data"),
        "TESSERRA_SECRET_KEY": "h" * 48,
        "TESSERRA_BOOTSTRAP_PASSWORD": "hardening-password-1",
    }


def start(tmp: Path, port: int, *extra: str, log_name: str = "serve.log", **env: str) -> Server:
    """`tesserra serve` in a session (and so a process group) of its own; ``env``: more TESSERRA_* settings."""
    log = tmp / log_name
    with log.open("ab") as out:
        process = subprocess.Popen(
            [TESSERRA, "serve", "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**serve_env(tmp), **env},
            cwd=tmp,
            start_new_session=True,
        )
    return Server(process, port, log)


async def healthy(server: Server, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"tesserra serve exited with {server.process.returncode}:\n{server.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{server.url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    pytest.fail(f"/health did not answer within {within} s:\n{server.log.read_text()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(5)


@asynccontextmanager
async def serving(tmp: Path, *extra: str, **env: str) -> AsyncIterator[Server]:
    server = start(tmp, free_port(), *extra, **env)
    try:
        await healthy(server)
        yield server
    finally:
        stop(server)
