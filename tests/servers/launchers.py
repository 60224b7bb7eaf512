"""Executables the package resolver finds (its script directories): the probe server, a server that
exits at once, and this virtualenv's own ``mcp-server-time``."""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support import DOCKER_HOST, PYTHON_MCP_IMAGE, docker_image, missing

SERVERS = Path(__file__).resolve().parent
CATALOG = SERVERS / "catalog.json"
VENV_BIN = str(Path(sys.executable).parent)


def write_launchers(directory: Path) -> tuple[str, ...]:
    """Write the launchers into ``directory``; returns the script directories to configure."""
    directory.mkdir(parents=True, exist_ok=True)
    probe = directory / "tesserra-probe"
    # Self-contained (the server's source inside): a sandboxed workload sees its program and its
    # virtualenv, not this repository.
    probe.write_text(f"#!{sys.executable}\n" + (SERVERS / "probe_server.py").read_text())
    exits = directory / "tesserra-exits"
    exits.write_text("#!/bin/sh\necho 'no server here' >&2\nexit 1\n")
    for script in (probe, exits):
        script.chmod(0o755)
    return (str(directory), VENV_BIN)


PROBE_IMAGE = "tesserra-test/python-mcp-probe"


async def probe_image(host: str = DOCKER_HOST) -> str:
    """The python-mcp test image plus the probe server as ``/opt/mcp/bin/tesserra-probe`` (what the
    package resolver runs for the probe entry on Docker), derived locally: a container of the base
    image gets the files and is committed. Tagged by the probe's digest, so a changed probe rebuilds."""
    import aiodocker
    from aiodocker.exceptions import DockerError

    await docker_image(PYTHON_MCP_IMAGE, host)
    source = (SERVERS / "probe_server.py").read_bytes()
    tag = hashlib.sha256(source).hexdigest()[:12]
    image = f"{PROBE_IMAGE}:{tag}"
    client = aiodocker.Docker(url=host)
    try:
        try:
            await client.images.inspect(image)
            return image
        except DockerError as exc:
            if exc.status != 404:
                raise
        launcher = (
            b"#!/opt/mcp/bin/python\nimport runpy\nrunpy.run_path('/opt/mcp/probe_server.py', run_name='__main__')\n"
        )
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for name, data, mode in (("probe_server.py", source, 0o644), ("bin/tesserra-probe", launcher, 0o755)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
        container = await client.containers.create({"Image": PYTHON_MCP_IMAGE, "Cmd": ["true"]})
        try:
            await container.put_archive("/opt/mcp", archive.getvalue())
            await container.commit(repository=PROBE_IMAGE, tag=tag, message="tesserra test probe server")
        finally:
            await container.delete(force=True)
    finally:
        await client.close()
    return image


def has_time_server() -> bool:
    return (Path(VENV_BIN) / "mcp-server-time").exists()


@pytest.fixture
def time_server() -> str:
    """mcp-server-time's script (it comes with the test extra); a skip, or a failure under
    TESSERRA_TEST_REQUIRE_ALL=1, when it is missing."""
    if not has_time_server():
        missing("mcp-server-time", "install the test extra: pip install -e '.[test]'")
    return str(Path(VENV_BIN) / "mcp-server-time")
