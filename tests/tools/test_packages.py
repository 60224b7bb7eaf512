"""The package resolver prepares a virtualenv per package version (pip install) when no script
directory holds the server: mcp-server-time from the package index, for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesserra_adapters.packages import SECRETS_FROM_STDIN, LocalPackages
from tesserra_core.domain.tools import Package
from tesserra_core.errors import Unprocessable
from tests.support import missing

TIME = Package(registry_type="pypi", identifier="mcp-server-time", version="2026.10.19")


async def test_a_virtualenv_is_prepared_once_per_package_version(tmp_path: Path) -> None:
    resolver = LocalPackages(tmp_path)
    try:
        plan = await resolver.plan(TIME, "process")
    except Unprocessable as exc:
        missing("the package index", f"pip could not install mcp-server-time: {exc.message}")
        raise
    script = Path(plan.command[0])
    assert script == tmp_path / "packages" / "pypi" / "mcp-server-time-2026.10.19" / "bin" / "mcp-server-time"
    assert script.is_file()  # noqa: ASYNC240
    marker = script.parent.parent / ".ready"
    before = marker.stat().st_mtime_ns
    again = await resolver.plan(TIME, "process")
    assert again == plan
    assert marker.stat().st_mtime_ns == before


async def test_what_cannot_run_is_refused_with_a_reason(tmp_path: Path) -> None:
    resolver = LocalPackages(tmp_path)
    with pytest.raises(Unprocessable) as caught:
        await resolver.plan(Package(registry_type="oci", identifier="ghcr.io/x/y", version="1"), "process")
    assert "Docker" in caught.value.message
    with pytest.raises(Unprocessable):
        await resolver.plan(
            Package(registry_type="pypi", identifier="x", version="1", command="../../bin/sh"), "process"
        )
    with pytest.raises(Unprocessable):
        await resolver.plan(Package(registry_type="pypi", identifier="ok", version="1; rm -rf /"), "process")
    docker = await resolver.plan(TIME, "docker")
    assert docker.command == ("/opt/mcp/bin/python", "-c", SECRETS_FROM_STDIN, "/opt/mcp/bin/mcp-server-time")
    assert docker.secrets_on_stdin
    assert docker.image == "tesserra-test/python-mcp:latest"
    assert docker.in_workspace  # a Python server runs in its mounted workspace
    image = await resolver.plan(Package(registry_type="oci", identifier="ghcr.io/x/y", version="1.2"), "docker")
    assert image.image == "ghcr.io/x/y:1.2"
    assert not image.in_workspace  # an image keeps its own working directory (the workspace is still mounted)
