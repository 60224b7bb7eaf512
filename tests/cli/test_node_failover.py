"""Two nodes (two `tesserra serve` processes, each with its own data dir and port) on one PostgreSQL
and one Docker engine (issue 15): the first holds every runner lease; killed with SIGKILL while a Docker
sandbox it started runs, its leases move to the survivor within 5 s, and within the node timeout and a
few reaper rounds the survivor removes the dead node's container (asked of the Docker engine) and the
sandbox reads ``error`` with the reason, never ``running``; the survivor's /status shows each runner's
holder node, generation, last run and last error. A web app (a resource container) the dead node ran
is provisioned again by the survivor on a new container, the old one removed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import aiodocker
import httpx
import pytest

from tesserra_core.facade import NODE_DEAD_AFTER
from tests.cli.served import Server, healthy, start, stop
from tests.integration.test_sandboxes_docker import HTTPD
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, docker_image, free_port, postgres_database

pytestmark = pytest.mark.postgres

WEB = {"image": BUSYBOX_IMAGE, "port": 8080, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"]}
LEASES = {"reconciler", "provisioner", "housekeeping", "billing-retries"}


def _node(tmp: Path, url: str) -> Server:
    tmp.mkdir()
    return start(
        tmp,
        free_port(),
        TESSERRA_DATABASE_URL=url,
        TESSERRA_RUNTIME="docker",
        TESSERRA_DOCKER_HOST=DOCKER_HOST,
    )


async def _runners(http: httpx.AsyncClient, server: Server, bearer: dict[str, str]) -> dict[str, dict[str, Any]]:
    status = await http.get(f"{server.url}/status", headers=bearer)
    assert status.status_code == 200, status.text
    return {r["name"]: r for r in status.json()["runners"]}


async def _containers(docker: aiodocker.Docker, owner: str) -> list[dict[str, Any]]:
    found = await docker.containers.list(all=True, filters=json.dumps({"label": [f"tesserra.owner={owner}"]}))
    return [c._container for c in found]


async def test_a_dead_nodes_leases_move_within_5_s_and_its_docker_sandbox_is_reaped(tmp_path: Path) -> None:
    await docker_image(BUSYBOX_IMAGE)
    async with postgres_database() as url, httpx.AsyncClient(timeout=30, trust_env=False) as http:
        first = _node(tmp_path / "a", url)
        second: Server | None = None
        owner = site_owner = ""
        docker = aiodocker.Docker(url=DOCKER_HOST)
        try:
            await healthy(first, within=60)
            second = _node(tmp_path / "b", url)  # after the first migrated the database
            await healthy(second, within=60)
            first_node = (tmp_path / "a" / "data" / "node_id").read_text().strip()
            second_node = (tmp_path / "b" / "data" / "node_id").read_text().strip()
            assert first_node != second_node

            login = await http.post(
                f"{first.url}/api/auth/login",
                json={"email": "admin@tesserra.local", "password": "hardening-password-1"},
            )
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            created = await http.post(f"{first.url}/api/sandboxes", json=HTTPD, headers=bearer)
            assert created.status_code in (200, 201), created.text
            sandbox = created.json()
            assert sandbox["state"] == "running", sandbox
            owner = f"sandbox:{sandbox['id']}"
            [container] = await _containers(docker, owner)
            assert container["State"] == "running"

            project = await http.post(f"{first.url}/api/projetos", json={"name": "failover"}, headers=bearer)
            assert project.status_code == 201, project.text
            site = await http.post(
                f"{first.url}/api/projetos/{project.json()['id']}/recursos",
                json={"type": "web_app", "name": "site", "config": WEB},
                headers=bearer,
            )
            assert site.status_code == 202, site.text
            resource = f"/api/recursos/{site.json()['id']}"
            deadline = time.monotonic() + 30
            while (provisioned := (await http.get(f"{first.url}{resource}", headers=bearer)).json())[
                "status"
            ] != "running":
                assert time.monotonic() < deadline, provisioned
                await asyncio.sleep(0.1)
            site_owner = f"resource:{site.json()['id']}"
            [site_container] = await _containers(docker, site_owner)

            runners = await _runners(http, second, bearer)  # the survivor-to-be reads the leases too
            assert set(runners) >= LEASES
            for name in LEASES:
                runner = runners[name]
                assert (runner["node"], runner["held"]) == (first_node, True), runner
                assert runner["generation"] >= 1
                assert not runner["held_here"]
            assert runners["reconciler"]["last_run_at"] is not None
            assert runners["reconciler"]["last_error"] is None
            before = {name: runners[name]["generation"] for name in LEASES}

            os.killpg(first.process.pid, signal.SIGKILL)
            first.process.wait(10)
            killed = time.monotonic()
            moved: dict[str, float] = {}
            while len(moved) < len(LEASES):
                runners = await _runners(http, second, bearer)
                for name in LEASES - set(moved):
                    runner = runners[name]
                    if runner["node"] == second_node and runner["held"]:
                        assert runner["generation"] == before[name] + 1, runner  # one takeover, one new token
                        moved[name] = time.monotonic() - killed
                assert time.monotonic() - killed < 5.0, (moved, runners)
                await asyncio.sleep(0.05)
            print(f"leases moved after {moved}")

            deadline = killed + NODE_DEAD_AFTER + 20
            while await _containers(docker, owner):
                assert time.monotonic() < deadline, await _containers(docker, owner)
                await asyncio.sleep(0.2)
            reaped = time.monotonic() - killed
            while True:  # the sandbox is settled right after its container is removed
                seen = await http.get(f"{second.url}/api/sandboxes/{sandbox['id']}", headers=bearer)
                assert seen.status_code == 200, seen.text
                if seen.json()["state"] != "running":
                    break
                assert time.monotonic() < deadline, seen.json()
                await asyncio.sleep(0.1)
            print(f"the dead node's container was removed {reaped:.1f} s after the kill")
            assert seen.json()["state"] == "error", seen.json()
            assert first_node in seen.json()["state_reason"]
            while True:  # the dead node's web app is provisioned again by the survivor, on a new container
                replaced = (await http.get(f"{second.url}{resource}", headers=bearer)).json()
                containers = await _containers(docker, site_owner)
                ids = [c["Id"] for c in containers]
                if replaced["status"] == "running" and ids and site_container["Id"] not in ids:
                    break
                assert time.monotonic() < deadline, (replaced, ids)
                await asyncio.sleep(0.2)
            assert len(containers) == 1
            assert containers[0]["State"] == "running"
            runners = await _runners(http, second, bearer)
            assert runners["reconciler"]["held_here"]
            assert runners["reconciler"]["last_error"] is None
        finally:
            stop(first)
            if second is not None:
                stop(second)
            for leftover in [
                *(await _containers(docker, owner) if owner else []),
                *(await _containers(docker, site_owner) if site_owner else []),
            ]:
                await docker.containers.container(leftover["Id"]).delete(force=True)
            await docker.close()
