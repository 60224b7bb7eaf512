"""Helpers for tool-platform tests."""

from __future__ import annotations

import asyncio

from tesserra_core.domain.identity import Principal
from tesserra_core.facade import UseCases
from tesserra_core.usecases.tool_views import InstallationView

TIME = "io.github.modelcontextprotocol-time"
PROBE = "test.tesserra-probe"
DRIVE = "test.tesserra-drive"
BROKEN = "test.tesserra-broken"
REMOTE = "test.tesserra-remote-only"
SECRET = "s3cr3t-probe-token-0123456789"


async def settled(uc: UseCases, actor: Principal, installation_id: str, within: float = 60.0) -> InstallationView:
    """The installation once it has left ``installing``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        view = await uc.installations.get(actor, installation_id)
        if view.status != "installing":
            return view
        if loop.time() > deadline:
            raise AssertionError(f"still installing after {within}s")
        await asyncio.sleep(0.05)
