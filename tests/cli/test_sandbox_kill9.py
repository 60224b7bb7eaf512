"""`tesserra serve` on Docker killed with SIGKILL while sandboxes run and one is being created (issue
11): after a restart on the same data dir and database, the reconciler (once it holds its lease, within
the dead process's lease ttl) makes the API truthful and leaks no container. The rule: a sandbox whose
container still runs is re-adopted (running, on the same container, answering through the proxy's
stored address); one caught mid-create moves to error with its container removed, or, if it had
settled, is re-adopted like the others; never a transient state, never a container no sandbox owns.

Other servers may share the engine meanwhile (other tests, other checkouts): this server's containers
are told by its deployment's label, and theirs must be left alone by it as its own are by them (a
server of another database once took this one's re-adopted container for a stray of its own and
removed it, and the sandbox read error)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiodocker
import httpx

from tests import workloads_left
from tests.cli.served import Server, healthy, start, stop
from tests.integration.test_sandboxes_docker import HTTPD
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, docker_image, free_port

ENV = {"TESSERRA_RUNTIME": "docker", "TESSERRA_DOCKER_HOST": DOCKER_HOST}
TRANSIENT = {"creating", "pausing", "stopping", "starting", "deleting"}


def _deployment(tmp_path: Path) -> str:
    """The id the server's database gives its deployment (the label of its containers)."""
    with contextlib.closing(sqlite3.connect(tmp_path / "tesserra.db")) as db:
        [(found,)] = db.execute("SELECT id FROM deployment").fetchall()
    return str(found)


async def _sandbox_containers(docker: aiodocker.Docker, deployment: str) -> dict[str, list[dict[str, Any]]]:
    """The deployment's sandboxes' containers on the engine, by owner."""
    labels = ["tesserra.managed=1", f"tesserra.deployment={deployment}"]
    found = await docker.containers.list(all=True, filters=json.dumps({"label": labels}))
    owners: dict[str, list[dict[str, Any]]] = {}
    for container in found:
        owner = (container._container.get("Labels") or {}).get("tesserra.owner", "")
        if owner.startswith("sandbox:"):
            owners.setdefault(owner, []).append(container._container)
    return owners


async def _bearer(http: httpx.AsyncClient, server: Server) -> dict[str, str]:
    login = await http.post(
        f"{server.url}/api/auth/login", json={"email": "admin@tesserra.local", "password": "hardening-password-1"}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_server_killed_with_sigkill_reconciles_its_docker_sandboxes_after_a_restart(tmp_path: Path) -> None:
    await docker_image(BUSYBOX_IMAGE)
    docker = aiodocker.Docker(url=DOCKER_HOST)
    port = free_port()
    server = start(tmp_path, port, **ENV)
    ids: list[str] = []
    deployment = "-"
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            await healthy(server, within=60)
            deployment = _deployment(tmp_path)
            bearer = await _bearer(http, server)
            settled = (await http.post(f"{server.url}/api/sandboxes", json=HTTPD, headers=bearer)).json()
            assert settled["state"] == "running", settled
            ids.append(settled["id"])
            [old_container] = (await _sandbox_containers(docker, deployment))[f"sandbox:{settled['id']}"]

            # a create in flight: the server is killed as soon as its container exists
            creating = asyncio.create_task(
                http.post(f"{server.url}/api/sandboxes", json={**HTTPD, "name": "in-flight"}, headers=bearer)
            )
            deadline = time.monotonic() + 30
            while len(await _sandbox_containers(docker, deployment)) < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            await asyncio.gather(creating, return_exceptions=True)  # its answer may or may not have come
            leaked = await _sandbox_containers(docker, deployment)
            assert len(leaked) == 2  # the containers outlived the server

            server = start(tmp_path, port, **ENV)
            await healthy(server, within=60)
            bearer = await _bearer(http, server)
            listed = await http.get(f"{server.url}/api/sandboxes", headers=bearer)
            assert listed.status_code == 200, listed.text
            ids = [s["id"] for s in listed.json()["items"]]
            assert settled["id"] in ids
            assert len(ids) == 2  # the in-flight create was recorded before its container was made

            deadline = time.monotonic() + 30  # the dead process's lease runs out, then the reconciler acts
            while True:
                states = {}
                for sandbox_id in ids:
                    got = (await http.get(f"{server.url}/api/sandboxes/{sandbox_id}", headers=bearer)).json()
                    states[sandbox_id] = got
                containers = await _sandbox_containers(docker, deployment)
                truthful = all(s["state"] not in TRANSIENT for s in states.values()) and set(containers) == {
                    f"sandbox:{i}" for i, s in states.items() if s["state"] == "running"
                }
                if truthful:
                    break
                assert time.monotonic() < deadline, (states, containers)
                await asyncio.sleep(0.2)

            kept = states[settled["id"]]
            assert kept["state"] == "running", kept  # its container still ran: re-adopted (else: its reason, events)
            [adopted] = containers[f"sandbox:{settled['id']}"]
            assert adopted["Id"] == old_container["Id"]
            assert adopted["State"] == "running"
            for sandbox_id, sandbox in states.items():  # one container per running sandbox, none for the rest
                owned = containers.get(f"sandbox:{sandbox_id}", [])
                assert len(owned) == (1 if sandbox["state"] == "running" else 0), (sandbox, owned)
                if sandbox["state"] == "error":
                    assert sandbox["state_reason"], sandbox
            print({i: (s["state"], s["state_reason"]) for i, s in states.items()})

            for sandbox_id in ids:  # deleting after the restart leaves nothing behind
                deleted = await http.delete(f"{server.url}/api/sandboxes/{sandbox_id}", headers=bearer)
                assert deleted.status_code == 200, deleted.text
            assert not await _sandbox_containers(docker, deployment)
    finally:
        stop(server)
        for found in (await _sandbox_containers(docker, deployment)).values():
            for container in found:
                await docker.containers.container(container["Id"]).delete(force=True)
        await docker.close()


ECHO = Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py"
ECHO_BOX = {"name": "echo", "command": [str(ECHO)], "ports": [8000, 8001]}


def _workload_folders(data: Path) -> set[str]:
    return {p.name for p in (data / "workloads").glob("*") if (p / "workload.json").exists()}


def _running_folders(data: Path) -> set[str]:
    """The workload folders some live sandbox process (bubblewrap, pasta) of ``data`` names."""
    return {description.rpartition("/")[2] for description in workloads_left.processes_under(data).values()}


async def test_a_server_killed_with_sigkill_leaves_no_process_workload_after_a_restart(tmp_path: Path) -> None:
    """The same on the process runtime (bubblewrap and pasta): the running sandbox keeps its processes,
    the one caught mid-create (its processes maybe not yet recorded) leaves none once the restarted
    server's reconciler has acted, and deleting leaves nothing at all."""
    data = tmp_path / "data"
    port = free_port()
    server = start(tmp_path, port)
    try:
        async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
            await healthy(server, within=60)
            bearer = await _bearer(http, server)
            settled = (await http.post(f"{server.url}/api/sandboxes", json=ECHO_BOX, headers=bearer)).json()
            assert settled["state"] == "running", settled
            [kept_folder] = _workload_folders(data)

            creating = asyncio.create_task(
                http.post(f"{server.url}/api/sandboxes", json={**ECHO_BOX, "name": "in-flight"}, headers=bearer)
            )
            deadline = time.monotonic() + 30
            while len(_workload_folders(data)) < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.002)
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(10)
            await asyncio.gather(creating, return_exceptions=True)
            await asyncio.sleep(0.5)  # a sandbox whose server died mid-launch may still come up meanwhile

            server = start(tmp_path, port)
            await healthy(server, within=60)
            bearer = await _bearer(http, server)
            listed = (await http.get(f"{server.url}/api/sandboxes", headers=bearer)).json()["items"]
            assert len(listed) == 2
            deadline = time.monotonic() + 30
            while True:
                states = {
                    s["id"]: (await http.get(f"{server.url}/api/sandboxes/{s['id']}", headers=bearer)).json()
                    for s in listed
                }
                running = {i for i, s in states.items() if s["state"] == "running"}
                settled_now = all(s["state"] not in TRANSIENT for s in states.values())
                if (
                    settled_now
                    and len(_workload_folders(data)) == len(running)
                    and _running_folders(data) == _workload_folders(data)
                ):
                    break
                assert time.monotonic() < deadline, (
                    states,
                    _workload_folders(data),
                    workloads_left.processes_under(data),
                )
                await asyncio.sleep(0.2)
            assert states[settled["id"]]["state"] == "running", states[settled["id"]]
            assert kept_folder in _running_folders(data)

            for sandbox_id in states:
                deleted = await http.delete(f"{server.url}/api/sandboxes/{sandbox_id}", headers=bearer)
                assert deleted.status_code == 200, deleted.text
            assert _workload_folders(data) == set()
            assert await _none_left(data)
    finally:
        stop(server)


async def _none_left(data: Path) -> bool:
    for _ in range(50):
        if not workloads_left.processes_under(data):
            return True
        await asyncio.sleep(0.1)
    return False
