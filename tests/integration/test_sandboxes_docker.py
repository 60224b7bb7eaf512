"""Sandboxes on the real Docker engine: the locally built busybox image serving httpd as a hardened
container (nobody, no capabilities, read-only root, no new privileges, no network beyond its
published port), answering on 127.0.0.1; paused by the engine (no answer), resumed, stopped,
started, and deleted with its container. A server restarted mid-create leaves no container behind."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiodocker
import httpx
import msgspec
import pytest

from tesserra_adapters.bootstrap import running
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.sandboxes import SandboxAction, SandboxState, owner_of
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sandbox_views import NewSandbox
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, docker_image, eventually

EMAIL = "owner@sandbox.tesserra.test"
PASSWORD = "docker-password-1"
HTTPD = {
    "name": "httpd",
    "image": BUSYBOX_IMAGE,
    "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
    "ports": [8080],
}


@pytest.fixture
async def docker_uc(tmp_path: Path) -> AsyncIterator[UseCases]:
    await docker_image(BUSYBOX_IMAGE)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    settings = support.test_settings(tmp_path, url, runtime="docker", docker_host=DOCKER_HOST)
    async with running(settings) as uc:
        yield uc


async def _owner(uc: UseCases) -> Principal:
    assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
    pair = await uc.sessions.login(Credentials(EMAIL, PASSWORD))
    return await uc.authenticate(pair.access_token)


async def _page(port: int, wait: float = 3.0) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=wait, trust_env=False) as http:
            response = await http.get(f"http://127.0.0.1:{port}/index.html")
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


async def test_a_sandbox_is_a_hardened_container_that_pauses_resumes_and_is_removed(docker_uc: UseCases) -> None:
    uc = docker_uc
    owner = await _owner(uc)
    box = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
    assert box.state is SandboxState.RUNNING, box.state_reason
    [workload] = await uc.ports.runtime.list(owner_of(box.id))
    assert workload.runtime == "docker"
    port = workload.ports[8080]
    assert (await eventually(lambda: _page(port), within=20)).strip() == "tesserra test page"

    docker = aiodocker.Docker(url=DOCKER_HOST)
    try:
        info = await docker.containers.container(workload.id).show()
    finally:
        await docker.close()
    host = info["HostConfig"]
    assert info["Config"]["User"] == "65534:65534"
    assert host["CapDrop"] == ["ALL"]
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in " ".join(host["SecurityOpt"] or [])
    assert all(b["HostIp"] == "127.0.0.1" for bindings in host["PortBindings"].values() for b in bindings)

    paused = await uc.sandboxes.action(owner, box.id, SandboxAction.PAUSE)
    assert paused.state is SandboxState.PAUSED
    assert (await uc.ports.runtime.list(owner_of(box.id)))[0].paused
    assert await _page(port, wait=0.5) is None
    assert (await uc.sandboxes.action(owner, box.id, SandboxAction.RESUME)).state is SandboxState.RUNNING
    assert await eventually(lambda: _page(port), within=10)
    await uc.sandboxes.action(owner, box.id, SandboxAction.PAUSE)
    assert (await uc.sandboxes.action(owner, box.id, SandboxAction.STOP)).state is SandboxState.STOPPED
    started = await uc.sandboxes.action(owner, box.id, SandboxAction.START)
    assert started.state is SandboxState.RUNNING
    port = (await uc.ports.runtime.list(owner_of(box.id)))[0].ports[8080]
    assert await eventually(lambda: _page(port), within=20)
    assert (await uc.sandboxes.delete(owner, box.id)).state is SandboxState.DELETED
    assert await uc.ports.runtime.list(owner_of(box.id)) == []


async def test_a_restart_after_a_crash_mid_create_leaves_no_container(docker_uc: UseCases) -> None:
    uc = docker_uc
    owner = await _owner(uc)
    box = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
    async with uc.ports.uow() as uow:  # what a server killed between run and settle leaves
        stored = await uow.sandboxes.find(box.id)
        assert stored is not None
        await uow.sandboxes.update(msgspec.structs.replace(stored, state=SandboxState.CREATING, workload_id=None))
        await uow.commit()
    assert await uc.sandbox_reaper.reconcile() == 1
    repaired = await uc.sandboxes.get(owner, box.id)
    assert repaired.state is SandboxState.ERROR
    assert repaired.events[-1].cause == "reconcile"
    assert await uc.ports.runtime.list(owner_of(box.id)) == []
    assert (await uc.sandboxes.action(owner, box.id, SandboxAction.RESTART)).state is SandboxState.RUNNING
    await uc.sandboxes.delete(owner, box.id)
    assert await uc.ports.runtime.list(owner_of(box.id)) == []
