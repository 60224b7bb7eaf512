"""`tesserra mcp` over stdio with an admin-tier key: TESSERRA_USER_ID names the person it acts for (as
X-User-Id does over HTTP); without it the Infra SSH tools refuse with user_id_required."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

import tesserra_http
from tesserra_adapters.bootstrap import running
from tesserra_core.usecases.infra_ssh_views import NewHost
from tests import support
from tests.servers.sshd import SshLab
from tests.support import database_url
from tests.unit.infra_ssh_support import operator_key

TESSERRA = str(Path(sys.executable).with_name("tesserra"))


async def _call(env: dict[str, str], errlog: Path, name: str, arguments: dict[str, Any]) -> CallToolResult:
    params = StdioServerParameters(command=TESSERRA, args=["mcp"], env=env)
    with errlog.open("a") as log:
        async with stdio_client(params, errlog=log) as (read, write), ClientSession(read, write) as session:
            await asyncio.wait_for(session.initialize(), 30)
            return await session.call_tool(name, arguments)


async def test_stdio_acts_for_tesserra_user_id(tmp_path: Path, ssh_lab: SshLab) -> None:
    async with database_url("sqlite", tmp_path) as url:
        settings = support.test_settings(tmp_path, url)
        async with running(settings) as uc:
            key = await operator_key(uc, "stdio-ops")
            ops = await uc.authenticate(key, "carol@example.com")
            dev = ssh_lab.dev
            host = await uc.infra_ssh.add_host(
                ops,
                NewHost(
                    name="dev",
                    address=dev.address,
                    port=dev.port,
                    login=dev.login,
                    host_key=dev.host_key,
                    private_key=dev.user_key.private.decode(),
                    actions=["echo"],
                ),
            )
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "PYTHONPATH": str(Path(tesserra_http.__file__).parents[1]),  # this checkout's code
            "TESSERRA_DATABASE_URL": url,
            "TESSERRA_DATA_DIR": str(settings.data_dir),
            "TESSERRA_SECRET_KEY": settings.secret_key or "",
            "TESSERRA_API_KEY": key,
        }
        errlog = tmp_path / "stdio-stderr.log"
        unnamed = await _call(env, errlog, "infra_ssh_list_hosts", {})
        arguments = {"action_id": "echo", "host_id": host.id, "parameters": {"message": "over stdio"}}
        ran = await _call({**env, "TESSERRA_USER_ID": "carol@example.com"}, errlog, "infra_ssh_run_action", arguments)
        audit = await _call(
            {**env, "TESSERRA_USER_ID": "carol@example.com"}, errlog, "infra_ssh_query_audit", {"event": "run"}
        )
    assert unnamed.structured_content is not None
    assert unnamed.structured_content["code"] == "user_id_required"
    assert not ran.is_error
    assert ran.structured_content is not None
    assert ran.structured_content["stdout"]["text"] == "over stdio\n"
    assert audit.structured_content is not None
    record = audit.structured_content["items"][0]
    assert (record["user_id"], record["via"], record["outcome"]) == ("carol@example.com", "mcp", "ok")
