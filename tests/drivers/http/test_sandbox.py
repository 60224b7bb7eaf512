"""Tenants' workloads on the default process runtime attack the host through the real server (uvicorn
on loopback, REST): a web app and a cron job look for the database and the secret key, another
tenant's workspace, /etc/shadow, the server's process and environment, and PostgreSQL, Redis, the server and
another tenant's web app on 127.0.0.1. Each attempt fails; the web app's declared port still answers
from the host. With ``process_isolation`` opted out, the same attack succeeds (the way it did on every
server before the sandbox)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_adapters.settings import Settings
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Account, Accounts, fresh_address
from tests.drivers.mcp.helpers import mcp_session
from tests.support import LiveServer, eventually, live_server

CANARY = "TESSERRA_SANDBOX_CANARY"
"""A variable of the server's own environment that no workload may see."""
PROBES = {"redis": 6379, "postgres": 5432}


def attack(data_dir: Path, victim_file: Path, ports: dict[str, int], report: str) -> str:
    """A shell script: one ``name=value`` line per attempt into ``report``, then ``END``."""
    connects = " ".join(f"{name}:{port}" for name, port in ports.items())
    return f"""
r={report}; mkdir -p $(dirname $r)
{{
echo uid=$(id -u)
cat {data_dir / "tesserra.db"} >/dev/null 2>&1 && echo database=read || echo database=refused
cat {data_dir / "secret_key"} >/dev/null 2>&1 && echo secret_key=read || echo secret_key=refused
cat {victim_file} >/dev/null 2>&1 && echo neighbour=read || echo neighbour=refused
cat /etc/shadow >/dev/null 2>&1 && echo shadow=read || echo shadow=refused
own=$(env | grep -c {CANARY}); any=$(cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c {CANARY})
echo canary=$own$any
cat /proc/{os.getpid()}/cmdline >/dev/null 2>&1 && echo server-process=seen || echo server-process=hidden
for target in {connects}; do
  python3 -c "import socket, sys; s = socket.socket(); s.settimeout(3)
sys.exit(0 if s.connect_ex(('127.0.0.1', int(sys.argv[1]))) == 0 else 1)" ${{target#*:}} \\
    && echo connect-${{target%%:*}}=open || echo connect-${{target%%:*}}=refused
done
}} > $r.tmp 2>&1
echo END >> $r.tmp; mv $r.tmp $r
"""


@dataclass
class Sandboxed:
    server: LiveServer
    data_dir: Path


async def serve(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandboxed]:
    monkeypatch.setenv(CANARY, "the server's own secret")
    try:
        async with live_server(settings) as server:
            assert await server.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield Sandboxed(server, settings.data_dir)
    finally:  # workloads outlive their server: end them
        runtime = ProcessRuntime(settings.data_dir, sandbox=Sandbox())
        for workload in await runtime.list():
            await runtime.remove(workload.id)


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    data_dir = tmp_path / "data"
    return Settings(data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{data_dir / 'tesserra.db'}", **overrides)


@pytest.fixture
async def sandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandboxed]:
    async for server in serve(settings_for(tmp_path), monkeypatch):
        yield server


@pytest.fixture
async def unsandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandboxed]:
    settings = settings_for(tmp_path, process_isolation="none-trusted-single-tenant")
    async for server in serve(settings, monkeypatch):
        yield server


async def create(client: httpx.AsyncClient, who: Account, rtype: str, config: dict[str, Any]) -> str:
    project = await client.post("/api/projetos", json={"name": f"p-{rtype}"}, headers=who.bearer)
    assert project.status_code == 201, project.text
    created = await client.post(
        f"/api/projetos/{project.json()['id']}/recursos",
        json={"type": rtype, "name": rtype.replace("_", "-"), "config": config},
        headers=who.bearer,
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


async def running(client: httpx.AsyncClient, who: Account, rid: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(f"/api/recursos/{rid}", headers=who.bearer)).json()
        assert body["status"] != "failed", body
        return body if body["status"] == "running" else None

    return await eventually(check, within=30)


def workload_home(data_dir: Path, rid: str) -> Path:
    """The host folder of the resource's workload (the test reads the runtime's state, as root)."""
    for state in (data_dir / "workloads").glob("*/workload.json"):
        if json.loads(state.read_text())["spec"]["owner"] == f"resource:{rid}":
            return state.parent / "home"
    raise AssertionError(f"no workload for resource {rid}")


async def attack_through(target: Sandboxed) -> tuple[dict[str, str], dict[str, str]]:
    """A victim tenant's web app, then an attacker's web app and cron job; their two reports."""
    server, data_dir = target.server, target.data_dir
    accounts = Accounts(server.uc)
    victim, attacker = await accounts.tenant_owner("Victim"), await accounts.tenant_owner("Attacker")
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20) as client:
        keep = 'mkdir -p "$HOME/www"; echo private > "$HOME/www/secret.txt"; '
        keep += 'exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$HOME/www"'
        victim_id = await create(client, victim, "web_app", {"image": "i", "port": 8080, "command": ["sh", "-c", keep]})
        victim_endpoint = (await running(client, victim, victim_id))["endpoint"]
        victim_file = workload_home(data_dir, victim_id) / "www" / "secret.txt"
        ports = {**PROBES, "server": server.port, "neighbour-app": int(victim_endpoint.rsplit(":", 1)[1])}

        web = attack(data_dir, victim_file, ports, "$HOME/www/report.txt")
        web += 'exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$HOME/www"\n'
        web_id = await create(client, attacker, "web_app", {"image": "i", "port": 8080, "command": ["sh", "-c", web]})
        endpoint = (await running(client, attacker, web_id))["endpoint"]
        cron = attack(data_dir, victim_file, ports, "$HOME/report.txt") + "exec sleep 600\n"
        config = {"image": "i", "schedule": "@hourly", "command": ["sh", "-c", cron]}
        cron_id = await create(client, attacker, "cron_job", config)
        await running(client, attacker, cron_id)

    async with httpx.AsyncClient(timeout=5, trust_env=False) as direct:

        async def served() -> str | None:
            try:
                answer = await direct.get(f"{endpoint}/report.txt")
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 and "END" in answer.text else None

        async def victim_serves() -> str | None:
            try:
                answer = await direct.get(f"{victim_endpoint}/secret.txt")
            except httpx.HTTPError:  # its pasta accepts and closes until the app has bound its port
                return None
            return answer.text.strip() if answer.status_code == 200 else None

        web_report = await eventually(served, within=60)
        assert await eventually(victim_serves, within=30) == "private"

    cron_file = workload_home(data_dir, cron_id) / "report.txt"

    async def written() -> str | None:
        return cron_file.read_text() if cron_file.exists() else None

    cron_report = await eventually(written, within=60)
    return facts(web_report), facts(cron_report)


def facts(report: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in report.split() if "=" in line)


async def test_tenant_workloads_see_nothing_of_the_server_nor_of_each_other(sandboxed: Sandboxed) -> None:
    for found in await attack_through(sandboxed):
        assert int(found["uid"]) not in (0, os.geteuid()), found
        for name in ("database", "secret_key", "neighbour", "shadow"):
            assert found[name] == "refused", (name, found)
        assert found["canary"] == "00", found
        assert found["server-process"] == "hidden", found
        for name in (*PROBES, "server", "neighbour-app"):
            assert found[f"connect-{name}"] == "refused", (name, found)


async def test_without_the_sandbox_the_same_attack_succeeds(unsandboxed: Sandboxed) -> None:
    """What the opt-out means, and proof the attack above is not vacuous."""
    for found in await attack_through(unsandboxed):
        assert found["uid"] == str(os.geteuid()), found
        assert found["database"] == found["secret_key"] == found["neighbour"] == "read", found
        assert found["server-process"] == "seen", found
        assert found["connect-server"] == found["connect-neighbour-app"] == "open", found


async def test_where_the_sandbox_cannot_run_tenant_commands_are_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, bwrap_path=str(tmp_path / "no-bwrap"))
    async for target in serve(settings, monkeypatch):
        owner = await Accounts(target.server.uc).tenant_owner("Refused")
        async with httpx.AsyncClient(base_url=target.server.url, timeout=20) as client:
            project = await client.post("/api/projetos", json={"name": "p"}, headers=owner.bearer)
            config = {"image": "i", "port": 8080, "command": ["sh", "-c", "touch /tmp/ran; sleep 60"]}
            refused = await client.post(
                f"/api/projetos/{project.json()['id']}/recursos",
                json={"type": "web_app", "name": "app", "config": config},
                headers=owner.bearer,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "isolation_unavailable"
            assert "TESSERRA_PROCESS_ISOLATION=none-trusted-single-tenant" in refused.json()["detail"]
            async with mcp_session(f"{target.server.url}/mcp", owner.bearer) as session:
                arguments = {"project_id": project.json()["id"], "type": "cron_job", "name": "job"}
                config = {"image": "i", "schedule": "@hourly", "command": ["sh", "-c", "touch /tmp/ran"]}
                tool = await session.call_tool("create_resource", {**arguments, "config": config})
            assert tool.is_error
            assert tool.structured_content is not None
            assert tool.structured_content["code"] == "isolation_unavailable"
            listed = await client.get(f"/api/projetos/{project.json()['id']}/recursos", headers=owner.bearer)
            assert listed.json()["items"] == []
        assert not (target.data_dir / "workloads").exists() or not any((target.data_dir / "workloads").iterdir())
