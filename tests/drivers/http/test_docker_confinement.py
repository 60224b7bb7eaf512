"""A tenant's web app on the Docker runtime attacks the host through the real server (uvicorn on
loopback, REST): it looks for the Docker socket, the server's database and secret key, writes to its
root file system, runs setuid-root programs and forks past the pid limit. Each attempt fails, and the
server's own files are its user's alone (0700 / 0600) from the first start."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesserra_adapters.runtime.docker_config import PIDS_LIMIT
from tesserra_adapters.settings import Settings
from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Account, Accounts, fresh_address
from tests.support import DOCKER_HOST, PYTHON_MCP_IMAGE, LiveServer, docker_image, eventually, live_server

SETUID_ROOT = ("passwd", "su", "chfn")
"""Programs installed setuid root in the python-mcp image; each waits on stdin, so its uids can be read."""


def attack(database: Path, secret_key: Path) -> str:
    """The web app's shell script: each attempt writes a line to a report it then serves over HTTP."""
    setuid = " ".join(SETUID_ROOT)
    return f"""
mkdir -p /tmp/www; r=/tmp/www/report.txt
{{
echo uid=$(id -u)
for s in /var/run/docker.sock /run/docker.sock; do [ -e $s ] && echo socket=present:$s; done
echo socket-checked
touch /rootfs-write 2>/dev/null && echo rootfs=written || echo rootfs=refused
cat {database} {secret_key} >/dev/null 2>&1 && echo host-files=read || echo host-files=absent
echo found=$(find / \\( -path /proc -o -path /sys \\) -prune -o \\( -name secret_key -o -name '*.db' \\) -print \\
  2>/dev/null)
grep -E '^(CapEff|NoNewPrivs):' /proc/self/status | tr -d '\\t'
for b in {setuid}; do
  (sleep 3 | $b >/dev/null 2>&1) & sleep 1
  for p in /proc/[0-9]*; do
    [ "$(cat $p/comm 2>/dev/null)" = "$b" ] && echo "setuid-$b=$(grep Uid $p/status | tr -s '\\t' ' ' | cut -d' ' -f3)"
  done
  wait
done
}} > $r 2>&1
(for i in $(seq {PIDS_LIMIT + 200}); do sleep 300 & echo $! >> /tmp/pids; done) 2>/dev/null
n=0; while read p; do n=$((n+1)); kill $p; done < /tmp/pids; echo forked=$n >> $r
echo END >> $r
exec python3 -m http.server 8080 --bind 0.0.0.0 --directory /tmp/www
"""


@dataclass
class DockerServer:
    server: LiveServer
    data_dir: Path


@pytest.fixture
async def docker_server(tmp_path: Path) -> AsyncIterator[DockerServer]:
    await docker_image(PYTHON_MCP_IMAGE)
    data_dir = tmp_path / "data"  # made by the server, with the database and the key inside
    settings = Settings(
        data_dir=data_dir,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'tesserra.db'}",
        runtime="docker",
        docker_host=DOCKER_HOST,
    )
    async with live_server(settings) as server:
        assert await server.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield DockerServer(server, data_dir)
        # A resource's container outlives its server by design (a restarted server finds it), and no
        # other server removes this one's: what the test started goes with it (the attacker's web app
        # was left running after every run).
        runtime = server.uc.ports.runtime
        for workload in await runtime.list():
            await runtime.remove(workload.id)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_dir_database_and_key_are_private_from_the_first_start(docker_server: DockerServer) -> None:
    root = docker_server.data_dir
    assert mode(root) == 0o700
    for name in ("tesserra.db", "tesserra.db-wal", "secret_key"):
        assert mode(root / name) == 0o600, name


async def test_a_tenants_web_app_cannot_reach_the_host_escalate_or_exhaust_it(docker_server: DockerServer) -> None:
    server, data_dir = docker_server.server, docker_server.data_dir
    owner: Account = await Accounts(server.uc).tenant_owner("Attacker")
    transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20) as client:
        project = await client.post("/api/projetos", json={"name": "attack"}, headers=owner.bearer)
        assert project.status_code == 201, project.text
        script = attack(data_dir / "tesserra.db", data_dir / "secret_key")
        config = {"image": PYTHON_MCP_IMAGE, "port": 8080, "command": ["sh", "-c", script]}
        created = await client.post(
            f"/api/projetos/{project.json()['id']}/recursos",
            json={"type": "web_app", "name": "attacker", "config": config},
            headers=owner.bearer,
        )
        assert created.status_code == 202, created.text
        rid = created.json()["id"]

        async def running() -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"/api/recursos/{rid}", headers=owner.bearer)).json()
            assert body["status"] != "failed", body
            return body if body["status"] == "running" else None

        endpoint = (await eventually(running, within=60))["endpoint"]

    async with httpx.AsyncClient(timeout=5, trust_env=False) as direct:

        async def report() -> str | None:
            try:
                answer = await direct.get(f"{endpoint}/report.txt")
            except httpx.HTTPError:
                return None
            return answer.text if answer.status_code == 200 and "END" in answer.text else None

        lines = (await eventually(report, within=90)).split()
    facts = dict(line.split("=", 1) for line in lines if "=" in line)
    assert facts["uid"] == "65534", lines
    assert "socket-checked" in lines
    assert not any(line.startswith("socket=present") for line in lines), lines
    assert facts["rootfs"] == "refused"
    assert facts["host-files"] == "absent"
    assert facts["found"] == "", lines
    assert "CapEff:0000000000000000" in lines
    assert "NoNewPrivs:1" in lines
    for program in SETUID_ROOT:  # each ran, and kept the workload's effective uid
        assert facts[f"setuid-{program}"] == "65534", lines
    assert 0 < int(facts["forked"]) < PIDS_LIMIT, lines
