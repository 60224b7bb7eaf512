"""Use cases of the tool platform on the in-memory stores, with real processes: the process runtime
runs real MCP servers (mcp-server-time, the suite's probe server) over stdio, sandboxed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import build, memory_ports, secret_box_from
from tesserra_adapters.plans import FixedEntitlements
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.facade import UseCases
from tests.servers.launchers import CATALOG, write_launchers
from tests.unit.conftest import make_team
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, FakeClock, Team, sign_in

__all__ = ["FakeClock", "Team"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    scripts = write_launchers(tmp_path / "bin")
    return Settings(
        data_dir=tmp_path / "data",
        secret_key="x" * 48,
        catalog_source=str(CATALOG),
        tool_script_dirs=scripts,
    )


@pytest.fixture
async def uc(settings: Settings, exit_stack: AsyncExitStack) -> AsyncIterator[UseCases]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = secret_box_from(settings)
    runtime = ProcessRuntime(settings.data_dir, box=box, sandbox=Sandbox())
    entitlements = FixedEntitlements(PlanLimits(installations=50))
    ports = memory_ports(settings, exit_stack, secret_box=box, runtime=runtime, entitlements=entitlements)
    facade = await build(ports, settings)
    try:
        yield facade
    finally:
        await facade.tool_servers.close()
        for workload in await runtime.list():
            await runtime.remove(workload.id)
        await runtime.aclose()


@pytest.fixture
async def admin(uc: UseCases) -> Principal:
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    return (await sign_in(uc, ADMIN_EMAIL))[1]


@pytest.fixture
async def team(uc: UseCases, admin: Principal) -> Team:
    return await make_team(uc, admin)
