"""`tesserra mcp`: MCP over stdio as the key in TESSERRA_API_KEY, in a real subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

import tesserra_mcp
from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials
from tesserra_core.usecases.views import NewApiKeyView
from tests import support
from tests.drivers.mcp.helpers import BACKENDS, ERROR_FIELDS, texts
from tests.support import database_url

TESSERRA = str(Path(sys.executable).with_name("tesserra"))
EMAIL = "stdio-owner@tesserra.test"
PASSWORD = "stdio-password-1"


@dataclass
class Prepared:
    settings: Settings
    uc: UseCases
    owner: Principal
    key: NewApiKeyView

    def env(self, api_key: str | None) -> dict[str, str]:
        env = {
            "PYTHONPATH": str(Path(tesserra_mcp.__file__).parents[1]),  # the code under test, not the installed one
            "TESSERRA_DATABASE_URL": self.settings.database_url,
            "TESSERRA_DATA_DIR": str(self.settings.data_dir),
            "TESSERRA_SECRET_KEY": self.settings.secret_key or "",
        }
        if api_key is not None:
            env["TESSERRA_API_KEY"] = api_key
        return env


@asynccontextmanager
async def prepared(kind: str, tmp: Path) -> AsyncIterator[Prepared]:
    """A database with a first owner and a profile:read key, minted under the secret the
    subprocess will use (the key digest depends on it); the facade stays open for the test."""
    async with database_url(kind, tmp) as url:
        settings = support.test_settings(tmp, url)
        async with running(settings) as uc:
            await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
            pair = await uc.sessions.login(Credentials(EMAIL, PASSWORD))
            owner = await uc.authenticate(pair.access_token)
            key = await uc.api_keys.generate(
                owner, NewApiKey(name="stdio", scopes=[Scope.PROFILE_READ], tier=Tier.BASIC)
            )
            yield Prepared(settings, uc, owner, key)


async def _run_cli(env: dict[str, str], within: float = 30.0) -> tuple[int, str]:
    """`tesserra mcp` with stdin closed: its exit code and stderr."""
    process = await asyncio.create_subprocess_exec(
        TESSERRA,
        "mcp",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **env},
    )
    try:
        _, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.mark.parametrize("kind", BACKENDS)
async def test_stdio_serves_the_keys_tools_and_notices_its_revocation(kind: str, tmp_path: Path) -> None:
    async with prepared(kind, tmp_path) as p:
        expected_me = msgspec.to_builtins(await p.uc.sessions.me(await p.uc.authenticate(p.key.key)))
        params = StdioServerParameters(command=TESSERRA, args=["mcp"], env=p.env(p.key.key))
        with (tmp_path / "stdio-stderr.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await asyncio.wait_for(session.initialize(), 30)
                tools = {tool.name for tool in (await session.list_tools()).tools}
                me = await session.call_tool("whoami", {})
                hidden = await session.call_tool("list_api_keys", {})

                await p.uc.api_keys.revoke(p.owner, p.key.api_key.id)
                refused = None
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 5.0
                while loop.time() < deadline:
                    result = await session.call_tool("whoami", {})
                    if result.is_error:
                        refused = result
                        break
                    await asyncio.sleep(0.1)
        stderr = (tmp_path / "stdio-stderr.log").read_text()

    assert tools == {"whoami"}
    assert not me.is_error
    assert me.structured_content == expected_me
    assert me.structured_content["auth_method"] == "api_key"
    assert hidden.is_error
    assert texts(hidden) == ["Unknown tool: list_api_keys"]
    assert refused is not None, "the stdio server still honoured the key 5 s after its revocation"
    assert set(refused.structured_content) == ERROR_FIELDS
    assert refused.structured_content["code"] == "api_key_revoked"
    assert texts(refused) == ["this API key was revoked"]
    assert "Traceback" not in stderr


REFUSALS = {
    "missing": "tesserra mcp: set TESSERRA_API_KEY",
    "not-a-key": "tesserra: invalid credentials (invalid_credentials)",
    "wrong-secret": "tesserra: invalid API key (invalid_api_key)",
    "revoked": "tesserra: this API key was revoked (api_key_revoked)",
    "other-server-secret": "tesserra: invalid API key (invalid_api_key)",
}


@pytest.fixture(scope="module")
async def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """Every refused start, run concurrently (each is a cold interpreter start): exit code, stderr."""
    async with prepared("sqlite", tmp_path_factory.mktemp("stdio-refusals")) as p:
        revoked = await p.uc.api_keys.generate(p.owner, NewApiKey(name="revoked", scopes=[Scope.PROFILE_READ]))
        await p.uc.api_keys.revoke(p.owner, revoked.api_key.id)
        envs = {
            "missing": p.env(None),
            "not-a-key": p.env("not-a-key"),
            "wrong-secret": p.env(p.key.key.rsplit("_", 1)[0] + "_" + "x" * 43),
            "revoked": p.env(revoked.key),
            # The key digest depends on TESSERRA_SECRET_KEY: a valid key under another secret is invalid.
            "other-server-secret": {**p.env(p.key.key), "TESSERRA_SECRET_KEY": "s" * 48},
        }
        results = await asyncio.gather(*(_run_cli(env) for env in envs.values()))
    return dict(zip(envs, results, strict=True))


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_stdio_without_a_usable_key_exits_non_zero_with_one_clear_line(
    refusals: dict[str, tuple[int, str]], case: str
) -> None:
    code, stderr = refusals[case]
    assert code != 0
    assert REFUSALS[case] in stderr
    assert "Traceback" not in stderr
