"""Servers installed and called inside containers on the real Docker engine: mcp-server-time, and
the probe server reading files uploaded into its installation's workspace (mounted at /workspace)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import aiodocker
import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.runtime.docker import DockerRuntime
from tesserra_adapters.settings import Settings
from tesserra_adapters.workspaces import workspaces_root
from tesserra_core.domain.paging import PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.installations import InstallRequest, ToolCall, Upload
from tests.servers.launchers import CATALOG, probe_image
from tests.support import DOCKER_HOST
from tests.tools.helpers import PROBE, SECRET, TIME, settled
from tests.unit.conftest import make_team
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, sign_in


@pytest.fixture
async def image() -> str:
    """The python-mcp test image with the probe server added (it holds mcp-server-time too)."""
    return await probe_image()


@pytest.fixture
async def docker_uc(tmp_path: Path, image: str, exit_stack: AsyncExitStack) -> AsyncIterator[UseCases]:
    settings = Settings(
        data_dir=tmp_path, secret_key="x" * 48, catalog_source=str(CATALOG), tool_python_image=image, runtime="docker"
    )
    runtime = DockerRuntime(DOCKER_HOST, pull=False, mount_root=workspaces_root(tmp_path))
    uc = await build(memory_ports(settings, exit_stack, runtime=runtime), settings)
    try:
        yield uc
    finally:
        await uc.tool_servers.close()
        for workload in await runtime.list("installation:"):
            await runtime.remove(workload.id)
        await runtime.aclose()


async def test_mcp_server_time_in_a_container(docker_uc: UseCases, image: str) -> None:
    uc = docker_uc
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    team = await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])
    view = await uc.installations.install(team.owner, TIME, InstallRequest(config={"TZ": "Asia/Tokyo"}))
    ready = await settled(uc, team.owner, view.id, within=120)
    assert ready.status == "ready", ready.status_reason
    result = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="get_current_time", arguments={"timezone": "Europe/Berlin"})
    )
    assert result.structured_content is not None
    assert result.structured_content["timezone"] == "Europe/Berlin"
    [container] = (await uc.containers.list(team.owner, PageRequest())).items
    assert container.runtime == "docker"
    assert container.image == image
    assert container.installation_id == ready.id
    await uc.installations.remove(team.owner, ready.id)
    assert await uc.ports.runtime.list(f"installation:{ready.id}") == []


async def test_files_uploaded_to_the_workspace_reach_the_server_in_its_container(docker_uc: UseCases) -> None:
    uc = docker_uc
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    team = await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])
    view = await uc.installations.install(team.owner, PROBE, InstallRequest(config={"PROBE_TOKEN": SECRET}))
    ready = await settled(uc, team.owner, view.id, within=120)
    assert ready.status == "ready", ready.status_reason
    # Uploaded while the server runs: the container sees the host directory itself, not a copy.
    await uc.installations.upload_files(team.owner, ready.id, [Upload("notes.txt", b"written on the host\n")])
    listed = await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="workspace"))
    assert listed.structured_content == {"result": ["notes.txt"]}
    read = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="read_file", arguments={"name": "notes.txt"})
    )
    assert read.structured_content == {"result": "written on the host\n"}
    [workload] = await uc.ports.runtime.list(f"installation:{ready.id}")
    assert workload.runtime == "docker"
    other = await uc.installations.install(team.owner, PROBE, InstallRequest(config={"PROBE_TOKEN": SECRET}))
    other_ready = await settled(uc, team.owner, other.id, within=120)
    assert other_ready.status == "ready", other_ready.status_reason
    # Each installation's container sees its own workspace only.
    empty = await uc.installations.call_tool(team.owner, other.id, ToolCall(name="workspace"))
    assert empty.structured_content == {"result": []}
    await uc.installations.remove(team.owner, ready.id)
    await uc.installations.remove(team.owner, other.id)


async def test_secrets_reach_the_server_over_stdin_and_never_show_in_docker_inspect(docker_uc: UseCases) -> None:
    uc = docker_uc
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    team = await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])
    config = {"PROBE_TOKEN": SECRET, "PROBE_MODE": "careful"}
    view = await uc.installations.install(team.owner, PROBE, InstallRequest(config=config))
    ready = await settled(uc, team.owner, view.id, within=120)
    assert ready.status == "ready", ready.status_reason
    for name, value in config.items():
        digest = await uc.installations.call_tool(
            team.owner, ready.id, ToolCall(name="env_digest", arguments={"name": name})
        )
        assert digest.structured_content == {"result": hashlib.sha256(value.encode()).hexdigest()}
    [workload] = await uc.ports.runtime.list(f"installation:{ready.id}")
    engine = aiodocker.Docker(url=DOCKER_HOST)
    try:
        inspected = await engine.containers.container(workload.id).show()
    finally:
        await engine.close()
    assert "PROBE_MODE=careful" in inspected["Config"]["Env"]  # plain settings stay in the environment
    assert SECRET not in json.dumps(inspected)
    assert not any(v.startswith("PROBE_TOKEN=") for v in inspected["Config"]["Env"])
    await uc.installations.remove(team.owner, ready.id)
