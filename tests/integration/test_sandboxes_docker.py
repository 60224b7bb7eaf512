"""Sandboxes on the real Docker engine: the locally built busybox image serving httpd as a hardened
container (nobody, no capabilities, read-only root, no new privileges) that publishes no host port,
on its tenant's own internal network without traffic between containers, answering at its address
there; paused by the engine (no answer), resumed, stopped, started, and deleted with its container
(and the tenant's network with its last sandbox). A sandbox reaches neither another sandbox, of its
tenant or another's, nor the host's ports. A server restarted mid-create leaves no container behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import httpx
import msgspec
import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.runtime.docker import DockerRuntime
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.sandboxes import SandboxAction, SandboxState, owner_of
from tesserra_core.errors import ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState
from tesserra_core.usecases.sandbox_pool import POOL_OWNER
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxView
from tesserra_core.usecases.sessions import Credentials
from tesserra_core.usecases.tenants import NewTenant
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


async def _stranger(uc: UseCases, owner: Principal) -> Principal:
    """The owner of a second tenant (``owner`` is the platform's first owner, an admin)."""
    email = "stranger@sandbox.tesserra.test"
    await uc.tenants.create(owner, NewTenant(name="Strangers", owner_email=email, owner_password=PASSWORD))
    return await uc.authenticate((await uc.sessions.login(Credentials(email, PASSWORD))).access_token)


async def _page(address: str, port: int, wait: float = 3.0) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=wait, trust_env=False) as http:
            response = await http.get(f"http://{address}:{port}/index.html")
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
    address, port = workload.address, workload.ports[8080]
    assert port == 8080
    assert (await eventually(lambda: _page(address, port), within=20)).strip() == "tesserra test page"

    docker = aiodocker.Docker(url=DOCKER_HOST)
    try:
        info = await docker.containers.container(workload.id).show()
        host = info["HostConfig"]
        assert info["Config"]["User"] == "65534:65534"
        assert host["CapDrop"] == ["ALL"]
        assert host["ReadonlyRootfs"] is True
        assert "no-new-privileges" in " ".join(host["SecurityOpt"] or [])
        assert not host["PortBindings"]  # no host port: the proxy is the only way in
        assert not any(info["NetworkSettings"]["Ports"].values())
        [network] = info["NetworkSettings"]["Networks"]
        assert network == host["NetworkMode"] == f"tesserra-tenant-{owner.tenant_id}"
        assert info["NetworkSettings"]["Networks"][network]["IPAddress"] == address
        net = await (await docker.networks.get(network)).show()
        assert net["Options"]["com.docker.network.bridge.enable_icc"] == "false"
        assert net["Internal"] is True  # no route out: the template did not ask for the network
    finally:
        await docker.close()

    paused = await uc.sandboxes.action(owner, box.id, SandboxAction.PAUSE)
    assert paused.state is SandboxState.PAUSED
    assert (await uc.ports.runtime.list(owner_of(box.id)))[0].paused
    assert await _page(address, port, wait=0.5) is None
    assert (await uc.sandboxes.action(owner, box.id, SandboxAction.RESUME)).state is SandboxState.RUNNING
    assert await eventually(lambda: _page(address, port), within=10)
    await uc.sandboxes.action(owner, box.id, SandboxAction.PAUSE)
    assert (await uc.sandboxes.action(owner, box.id, SandboxAction.STOP)).state is SandboxState.STOPPED
    started = await uc.sandboxes.action(owner, box.id, SandboxAction.START)
    assert started.state is SandboxState.RUNNING
    started_workload = (await uc.ports.runtime.list(owner_of(box.id)))[0]
    assert await eventually(lambda: _page(started_workload.address, started_workload.ports[8080]), within=20)
    assert (await uc.sandboxes.delete(owner, box.id)).state is SandboxState.DELETED
    assert await uc.ports.runtime.list(owner_of(box.id)) == []
    assert not await _networks(f"tesserra-tenant-{owner.tenant_id}")  # its last sandbox took it along


async def _networks(name: str) -> list[str]:
    docker = aiodocker.Docker(url=DOCKER_HOST)
    try:
        return [n["Name"] for n in await docker.networks.list() if n["Name"].startswith(name)]
    finally:
        await docker.close()


async def _address(uc: UseCases, box: SandboxView) -> str:
    [workload] = await uc.ports.runtime.list(owner_of(box.id))
    return workload.address


PROBE_PORTS = (5432, 6379)
"""The host's PostgreSQL and Redis: a sandbox must reach neither."""


async def test_a_sandbox_reaches_no_other_sandbox_nor_the_host(docker_uc: UseCases) -> None:
    """From inside a sandbox (busybox nc), connections to a sandbox of its own tenant, one of another
    tenant, its network's gateway (the host: PostgreSQL, Redis, a listener on 0.0.0.0 that answers
    anyone else) and the host's loopback ports all fail, on an internal network and on an egress one,
    while the host (the proxy's side) reaches each sandbox at its address."""
    uc = docker_uc
    owner = await _owner(uc)
    stranger = await _stranger(uc, owner)
    mine = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
    theirs = await uc.sandboxes.create(stranger, msgspec.convert(HTTPD, NewSandbox))
    probe = msgspec.convert({**HTTPD, "name": "probe", "command": ["sleep", "600"]}, NewSandbox)
    prober = await uc.sandboxes.create(owner, probe)
    egress = await uc.sandboxes.create(owner, msgspec.structs.replace(probe, name="egress", network=True))
    for box in (mine, theirs, prober, egress):
        assert box.state is SandboxState.RUNNING, box.state_reason
    targets = {"mine": (await _address(uc, mine), 8080), "theirs": (await _address(uc, theirs), 8080)}
    for name, (address, port) in targets.items():
        assert await eventually(lambda a=address, p=port: _page(a, p), within=20), name  # type: ignore[misc]
    listener = await asyncio.start_server(lambda r, w: w.close(), "0.0.0.0", 0)  # a listener anyone may reach
    listener_port = listener.sockets[0].getsockname()[1]
    docker = aiodocker.Docker(url=DOCKER_HOST)
    try:
        for box in (prober, egress):
            [workload] = await uc.ports.runtime.list(owner_of(box.id))
            info = await docker.containers.container(workload.id).show()
            [attached] = info["NetworkSettings"]["Networks"].values()
            gateway = attached["Gateway"]
            attempts = {
                **targets,
                "a host listener on 0.0.0.0, through the gateway": (gateway, listener_port),
                **{f"gateway:{p}": (gateway, p) for p in (*PROBE_PORTS, 8080)},
                **{f"loopback:{p}": ("127.0.0.1", p) for p in PROBE_PORTS},
            }
            for name, (address, port) in attempts.items():
                said = await _connects(workload.id, address, port)
                assert said == "closed", f"{box.name} reached {name} {address}:{port} ({said!r})"
    finally:
        listener.close()
        await docker.close()
    for box, who in ((mine, owner), (theirs, stranger), (prober, owner), (egress, owner)):
        await uc.sandboxes.delete(who, box.id)
    assert not await _networks(f"tesserra-tenant-{owner.tenant_id}")
    assert not await _networks(f"tesserra-tenant-{stranger.tenant_id}")


async def _connects(container_id: str, address: str, port: int) -> str:
    """``OPEN`` or ``closed``: whether busybox nc inside the container connects to ``address:port``
    (the docker CLI: the engine API's exec stream now and then came back empty)."""
    probe = f"nc -w 2 {address} {port} </dev/null && echo OPEN || echo closed"
    process = await asyncio.create_subprocess_exec(
        "docker", "-H", DOCKER_HOST, "exec", container_id, "sh", "-c", probe, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return out.decode(errors="replace").strip()


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


async def test_a_pooled_container_is_made_on_its_tenants_network_and_claimed_by_that_tenant_only(
    tmp_path: Path,
) -> None:
    """On Docker the pool is per tenant: a tenant's create teaches it the template, and its pooled
    containers wait paused on that tenant's network, publishing nothing. Another tenant's create of the
    same template never gets one (it starts cold, on its own network); the tenant's next create claims
    it (renamed for its owner, as labels cannot change), it serves there and the other tenant's sandbox
    cannot reach it. The pool's containers end with it, their network with them."""
    await docker_image(BUSYBOX_IMAGE)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    settings = support.test_settings(tmp_path, url, runtime="docker", docker_host=DOCKER_HOST, sandbox_pool_size=1)
    docker = aiodocker.Docker(url=DOCKER_HOST)
    async with running(settings) as uc, uc.sandbox_pool.running():
        owner = await _owner(uc)
        stranger = await _stranger(uc, owner)
        cold = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))

        async def pooled() -> list[Any] | None:
            return [w for w in await uc.ports.runtime.list(POOL_OWNER) if w.paused] or None

        [waiting] = await eventually(pooled, within=30)
        assert waiting.tenant_id == owner.tenant_id
        info = await docker.containers.container(waiting.id).show()
        assert list(info["NetworkSettings"]["Networks"]) == [f"tesserra-tenant-{owner.tenant_id}"]
        assert not info["HostConfig"]["PortBindings"]
        # the other tenant's create of the same template does not get it
        theirs_box = await uc.sandboxes.create(stranger, msgspec.convert(HTTPD, NewSandbox))
        [theirs] = await uc.ports.runtime.list(owner_of(theirs_box.id))
        assert theirs.id != waiting.id
        shown = await docker.containers.container(theirs.id).show()
        assert list(shown["NetworkSettings"]["Networks"]) == [f"tesserra-tenant-{stranger.tenant_id}"]
        assert waiting.id in {w.id for w in await uc.ports.runtime.list(POOL_OWNER)}
        # nor can the runtime be made to hand it over
        with pytest.raises(ValidationFailed):
            await uc.ports.runtime.adopt(waiting.id, owner_of(theirs_box.id), stranger.tenant_id)
        claimed = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
        [mine] = await uc.ports.runtime.list(owner_of(claimed.id))
        assert mine.id == waiting.id
        assert mine.tenant_id == owner.tenant_id
        info = await docker.containers.container(mine.id).show()
        assert list(info["NetworkSettings"]["Networks"]) == [f"tesserra-tenant-{owner.tenant_id}"]
        assert mine.address == info["NetworkSettings"]["Networks"][f"tesserra-tenant-{owner.tenant_id}"]["IPAddress"]
        assert info["State"]["Status"] == "running"
        assert not any(info["NetworkSettings"]["Ports"].values())
        assert await _page(mine.address, 8080) == "tesserra test page\n"
        assert await _connects(theirs.id, mine.address, 8080) == "closed"
        await uc.sandboxes.delete(stranger, theirs_box.id)
        await uc.sandboxes.delete(owner, claimed.id)
        await uc.sandboxes.delete(owner, cold.id)
        # each tenant's network is held by its pool's containers alone now
        for tenant in (owner.tenant_id, stranger.tenant_id):
            on_it = await docker.containers.list(all=True, filters=f'{{"network": ["tesserra-tenant-{tenant}"]}}')
            assert on_it
            assert all(str(c["Labels"].get("tesserra.owner", "")).startswith(POOL_OWNER) for c in on_it)
            assert all(c["Labels"].get("tesserra.tenant") == tenant for c in on_it)
    for tenant in (owner.tenant_id, stranger.tenant_id):
        assert not await _networks(f"tesserra-tenant-{tenant}")  # gone with the pool's containers
    try:
        left = await docker.containers.list(all=True, filters='{"label": ["tesserra.managed=1"]}')
        assert not [c for c in left if str(c["Labels"].get("tesserra.owner", "")).startswith(POOL_OWNER)]
    finally:
        await docker.close()


async def test_two_deployments_on_one_engine_leave_each_others_containers_alone(tmp_path: Path) -> None:
    """Two servers of different databases sharing the engine (tests, staging): each one's reconcile,
    at start and on its rounds, took the other's sandbox containers for strays and removed them, so
    the other's sandboxes went to error ('the workload is gone'). A container is now its deployment's
    (a label); the other neither lists it, nor inspects or removes it by id. A container made before
    the label (no deployment) is still everyone's, as all were."""
    await docker_image(BUSYBOX_IMAGE)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"

    def settings(home: Path) -> Any:
        home.mkdir()
        url = f"sqlite+aiosqlite:///{home / 'db.sqlite'}"
        return support.test_settings(home, url, runtime="docker", docker_host=DOCKER_HOST)

    async with running(settings(ours)) as uc, running(settings(theirs)) as other:
        owner = await _owner(uc)
        box = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
        assert box.state is SandboxState.RUNNING, box.state_reason
        [workload] = await uc.ports.runtime.list(owner_of(box.id))
        try:
            assert await other.sandbox_reaper.reconcile() == 0  # the start-up pass of a server of its own
            assert await other.sandbox_reaper.remove_strays() == 0
            assert [w.id for w in await other.ports.runtime.list("sandbox:")] == []
            assert await other.ports.runtime.inspect(workload.id) is None
            await other.ports.runtime.remove(workload.id)  # not its own: NotFound, taken as gone

            await uc.sandbox_reaper.check()
            assert (await uc.sandboxes.get(owner, box.id)).state is SandboxState.RUNNING
            found = await uc.ports.runtime.inspect(workload.id)
            assert found is not None
            assert found.state is WorkloadState.RUNNING
        finally:
            await uc.sandboxes.delete(owner, box.id)

        legacy_runtime = DockerRuntime(DOCKER_HOST, pull=False)  # no deployment: as before the label
        spec = WorkloadSpec(owner="legacy-test:1", tenant_id="", image=BUSYBOX_IMAGE, command=("sleep", "60"))
        legacy = await legacy_runtime.run(spec)
        try:
            for either in (uc, other):
                assert [w.id for w in await either.ports.runtime.list("legacy-test:")] == [legacy.id]
        finally:
            await legacy_runtime.remove(legacy.id)
            await legacy_runtime.aclose()


async def test_a_sandbox_whose_container_was_removed_behind_its_back_says_so(docker_uc: UseCases) -> None:
    uc = docker_uc
    owner = await _owner(uc)
    box = await uc.sandboxes.create(owner, msgspec.convert(HTTPD, NewSandbox))
    [workload] = await uc.ports.runtime.list(owner_of(box.id))
    docker = aiodocker.Docker(url=DOCKER_HOST)
    try:
        await docker.containers.container(workload.id).delete(force=True)
    finally:
        await docker.close()
    await uc.sandbox_reaper.check()
    gone = await uc.sandboxes.get(owner, box.id)
    assert gone.state is SandboxState.ERROR
    assert workload.id in gone.state_reason, gone.state_reason
    assert "docker" in gone.state_reason, gone.state_reason
    await uc.sandboxes.delete(owner, box.id)
