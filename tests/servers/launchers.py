"""Executables the package resolver finds (its script directories): the probe server, a server that
exits at once, and this virtualenv's own ``mcp-server-time``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support import missing

SERVERS = Path(__file__).resolve().parent
CATALOG = SERVERS / "catalog.json"
VENV_BIN = str(Path(sys.executable).parent)


def write_launchers(directory: Path) -> tuple[str, ...]:
    """Write the launchers into ``directory``; returns the script directories to configure."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / "tesserra-probe"
    probe.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_path({str(SERVERS / 'probe_server.py')!r}, run_name='__main__')\n"
    )
    exits = directory / "tesserra-exits"
    exits.write_text("#!/bin/sh\necho 'no server here' >&2\nexit 1\n")
    for script in (probe, exits):
        script.chmod(0o755)
    return (str(directory), VENV_BIN)


def has_time_server() -> bool:
    return (Path(VENV_BIN) / "mcp-server-time").exists()


@pytest.fixture
def time_server() -> str:
    """mcp-server-time's script (it comes with the test extra); a skip, or a failure under
    TESSERRA_TEST_REQUIRE_ALL=1, when it is missing."""
    if not has_time_server():
        missing("mcp-server-time", "install the test extra: pip install -e '.[test]'")
    return str(Path(VENV_BIN) / "mcp-server-time")
