"""Fixtures for the MCP driver tests: one live server per backend for the run, a fresh tenant
(with its owner) per test, so that tests never see each other's keys or suspensions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tesserra_core.usecases.sessions import Credentials
from tests.drivers.mcp.helpers import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, Server, Site, new_site
from tests.support import database_url, live_server, test_settings


@pytest.fixture(scope="session", params=BACKENDS)
async def mcp_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp(f"mcp-{request.param}")
    async with database_url(request.param, tmp) as url:
        settings = test_settings(tmp, url)
        async with live_server(settings) as live:
            await live.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            pair = await live.uc.sessions.login(Credentials(ADMIN_EMAIL, ADMIN_PASSWORD))
            yield Server(live.url, live.uc, settings, await live.uc.authenticate(pair.access_token))


@pytest.fixture
async def site(mcp_server: Server) -> Site:
    return await new_site(mcp_server)
