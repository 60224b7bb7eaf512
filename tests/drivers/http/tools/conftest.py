"""The tool platform's live server (real MCP servers behind it), its accounts, and installing a tool:
shared by the tool tests of this folder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests import support
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, BACKENDS, Account, Accounts
from tests.servers.launchers import CATALOG, time_server, write_launchers  # noqa: F401 (time_server: a fixture)
from tests.support import LiveServer, database_url, live_server

TIME = "io.github.modelcontextprotocol-time"
PROBE = "test.tesserra-probe"
SECRET = "tok-HTTP-9f8e7d6c5b4a-never-shown"


@pytest.fixture(scope="module", params=BACKENDS)
async def tools_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"tools-{request.param}")
    scripts = write_launchers(tmp / "bin")
    async with database_url(request.param, tmp) as url:
        settings = support.test_settings(tmp, url, catalog_source=str(CATALOG), tool_script_dirs=scripts)
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


@pytest.fixture
async def http(tools_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=tools_server.url, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def team_accounts(tools_server: LiveServer) -> Accounts:
    return Accounts(tools_server.uc)


async def settle(http: httpx.AsyncClient, account: Account, installation_id: str) -> dict[str, Any]:
    for _ in range(600):
        response = await http.get(f"/api/installations/{installation_id}", headers=account.bearer)
        assert response.status_code == 200, response.text
        if response.json()["status"] != "installing":
            return dict(response.json())
        await asyncio.sleep(0.05)
    raise AssertionError("still installing")


async def install(http: httpx.AsyncClient, account: Account, tool: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await http.post(f"/api/marketplace/tools/{tool}/install", json=body, headers=account.bearer)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "installing"
    return await settle(http, account, response.json()["id"])
