"""What only the Docker runtime promises, checked on the real engine: isolation, limits, labels,
loopback-only ports, clear errors, and the python-mcp test image speaking MCP over attached stdio."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import msgspec
import pytest

from tesserra_adapters.runtime import docker as docker_module
from tesserra_adapters.runtime import docker_config
from tesserra_adapters.runtime.docker import DockerRuntime
from tesserra_adapters.runtime.docker_config import (
    DEFAULT_CPUS,
    DEFAULT_MEMORY_BYTES,
    EGRESS_NETWORK,
    ISOLATED_NETWORK,
    PIDS_LIMIT,
    tenant_network,
)
from tesserra_adapters.runtime.mounts import CONTAINER_USER
from tesserra_adapters.workspaces import LocalWorkspaces
from tesserra_core.errors import NotFound, Unavailable, Unprocessable, ValidationFailed
from tesserra_core.ports.runtime import Mount, WorkloadSpec, WorkloadState
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, PYTHON_MCP_IMAGE, docker_image, eventually


@pytest.fixture
async def engine() -> AsyncIterator[aiodocker.Docker]:
    await docker_image(BUSYBOX_IMAGE)
    client = aiodocker.Docker(url=DOCKER_HOST)
    yield client
    await client.close()


class PrefixedRuntime(DockerRuntime):
    """The runtime under test, with the owner prefix of this test's workloads (removed at teardown)."""

    def __init__(self, test_prefix: str, mount_root: Path) -> None:
        super().__init__(DOCKER_HOST, pull=False, mount_root=mount_root)
        self.test_prefix = test_prefix


@pytest.fixture
async def runtime(engine: aiodocker.Docker, tmp_path: Path) -> AsyncIterator[PrefixedRuntime]:
    owner_prefix = f"dtest-{uuid.uuid4().hex[:8]}:"
    rt = PrefixedRuntime(owner_prefix, mount_root=tmp_path / "workspaces")
    yield rt
    for workload in await rt.list(owner_prefix):
        await rt.remove(workload.id)
    await rt.aclose()


def busybox(rt: PrefixedRuntime, *command: str, **fields: Any) -> WorkloadSpec:
    owner = f"{rt.test_prefix}{uuid.uuid4().hex[:6]}"
    return WorkloadSpec(owner=owner, tenant_id="tenant-a", command=command, image=BUSYBOX_IMAGE, **fields)


async def logged(rt: DockerRuntime, workload_id: str, marker: str) -> str:
    async def found() -> str | None:
        logs = await rt.logs(workload_id)
        return logs if marker in logs else None

    return await eventually(found)


async def exited_within(check: Any) -> Any:
    return await eventually(check, within=15)


def interfaces(proc_net_dev: str) -> set[str]:
    return {line.split(":")[0].strip() for line in proc_net_dev.splitlines() if ":" in line}


async def test_no_network_unless_asked(runtime: PrefixedRuntime) -> None:
    show = "cat /proc/net/dev; echo END; exec sleep 300"
    closed = await runtime.run(busybox(runtime, "sh", "-c", show))
    assert interfaces(await logged(runtime, closed.id, "END")) == {"lo"}
    opened = await runtime.run(busybox(runtime, "sh", "-c", show, network=True))
    assert "eth0" in interfaces(await logged(runtime, opened.id, "END"))


async def test_published_ports_are_bound_to_loopback_on_an_isolated_network(
    runtime: PrefixedRuntime, engine: aiodocker.Docker
) -> None:
    server = await runtime.run(busybox(runtime, "httpd", "-f", "-p", "8080", "-h", "/www", ports=(8080,)))
    info = await engine.containers.container(server.id).show()
    assert info["HostConfig"]["NetworkMode"] == ISOLATED_NETWORK
    bindings = info["NetworkSettings"]["Ports"]["8080/tcp"]
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}
    assert server.ports == {8080: int(bindings[0]["HostPort"])}
    # Containers on the isolated network cannot reach one another.
    address = info["NetworkSettings"]["Networks"][ISOLATED_NETWORK]["IPAddress"]
    probe = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {address} 8080; echo rc=$?; exec sleep 300"
    neighbour = await runtime.run(busybox(runtime, "sh", "-c", probe, ports=(9090,)))
    logs = await logged(runtime, neighbour.id, "rc=")
    assert "tesserra test page" not in logs
    assert "rc=0" not in logs


async def test_memory_and_cpu_limits_are_applied(runtime: PrefixedRuntime, engine: aiodocker.Docker) -> None:
    limit = 64 * 1024 * 1024
    show = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max 2>/dev/null; echo END; sleep 300"
    workload = await runtime.run(busybox(runtime, "sh", "-c", show, memory_bytes=limit, cpus=0.5))
    info = await engine.containers.container(workload.id).show()
    assert info["HostConfig"]["Memory"] == limit
    assert info["HostConfig"]["NanoCpus"] == 500_000_000
    assert str(limit) in await logged(runtime, workload.id, "END")  # what the kernel enforces, seen inside


async def test_containers_carry_the_managed_labels(runtime: PrefixedRuntime, engine: aiodocker.Docker) -> None:
    spec = busybox(runtime, "sleep", "300")
    workload = await runtime.run(spec)
    labels = (await engine.containers.container(workload.id).show())["Config"]["Labels"]
    assert labels["tesserra.managed"] == "1"
    assert labels["tesserra.owner"] == spec.owner
    assert labels["tesserra.tenant"] == "tenant-a"
    assert workload.image == BUSYBOX_IMAGE


async def test_containers_it_does_not_manage_are_invisible_and_untouchable(
    runtime: PrefixedRuntime, engine: aiodocker.Docker
) -> None:
    foreign = await engine.containers.run({"Image": BUSYBOX_IMAGE, "Cmd": ["sleep", "300"], "Labels": {"other": "x"}})
    try:
        assert foreign.id not in {w.id for w in await runtime.list()}
        assert await runtime.inspect(foreign.id) is None
        for call in (runtime.stop(foreign.id), runtime.restart(foreign.id), runtime.logs(foreign.id)):
            with pytest.raises(NotFound):
                await call
        await runtime.remove(foreign.id)  # "gone" as far as the runtime knows: a no-op
        for odd in ("../info", "a/../../b", "", "x" * 300):
            assert await runtime.inspect(odd) is None
            await runtime.remove(odd)
        assert (await foreign.show())["State"]["Status"] == "running"
    finally:
        await foreign.delete(force=True)


async def test_a_missing_image_is_a_clear_error(runtime: PrefixedRuntime) -> None:
    spec = WorkloadSpec(
        owner=f"{runtime.test_prefix}x", tenant_id="t", command=("true",), image="tesserra-test/absent:1"
    )
    with pytest.raises(Unavailable) as missing_image:
        await runtime.run(spec)
    assert missing_image.value.code == "image_missing"
    assert "tesserra-test/absent:1" in missing_image.value.message
    pulling = DockerRuntime(DOCKER_HOST, pull=True)  # no registry has it either
    try:
        with pytest.raises(Unavailable) as not_pulled:
            await pulling.run(spec)
        assert not_pulled.value.code == "image_missing"
    finally:
        await pulling.aclose()
    with pytest.raises(ValidationFailed):
        await runtime.run(WorkloadSpec(owner="o", tenant_id="t", command=("true",)))


async def test_a_command_the_image_lacks_exits_127_with_the_reason_in_its_logs(runtime: PrefixedRuntime) -> None:
    workload = await runtime.run(busybox(runtime, "/no/such/program"))

    async def exited() -> Any:
        found = await runtime.inspect(workload.id)
        return found if found is not None and found.state is WorkloadState.EXITED else None

    assert (await exited_within(exited)).exit_code == 127
    assert "/no/such/program" in await runtime.logs(workload.id)


async def test_an_unreachable_engine_is_unavailable(tmp_path: Any) -> None:
    rt = DockerRuntime(f"unix://{tmp_path}/no-docker.sock")
    try:
        with pytest.raises(Unavailable) as down:
            await rt.list()
        assert down.value.code == "docker_unreachable"
        with pytest.raises(Unavailable):
            await rt.run(WorkloadSpec(owner="o", tenant_id="t", command=("true",), image=BUSYBOX_IMAGE))
    finally:
        await rt.aclose()


async def test_a_read_only_mount_is_a_bind_mount_the_container_cannot_write(
    runtime: PrefixedRuntime, engine: aiodocker.Docker, tmp_path: Path
) -> None:
    workspace = LocalWorkspaces(tmp_path, CONTAINER_USER)
    source = Path(workspace.path("given"))
    (source / "given.txt").write_text("read me\n")
    script = "cat /in/given.txt; touch /in/new.txt; echo rc=$?; exec sleep 300"
    mounts = (Mount(source=str(source), target="/in", read_only=True),)
    workload = await runtime.run(busybox(runtime, "sh", "-c", script, mounts=mounts))
    logs = await logged(runtime, workload.id, "rc=")
    assert "read me" in logs
    assert "rc=0" not in logs
    assert not (source / "new.txt").exists()
    [mount] = (await engine.containers.container(workload.id).show())["Mounts"]
    assert (mount["Type"], mount["Source"], mount["Destination"], mount["RW"]) == ("bind", str(source), "/in", False)


async def test_the_workload_sees_its_declared_port(runtime: PrefixedRuntime) -> None:
    workload = await runtime.run(busybox(runtime, "sh", "-c", 'echo "port=$PORT $PORT_8080"; sleep 300', ports=(8080,)))
    assert "port=8080 8080" in await logged(runtime, workload.id, "port=")


async def test_the_python_mcp_image_serves_mcp_over_attached_stdio(runtime: PrefixedRuntime) -> None:
    await docker_image(PYTHON_MCP_IMAGE)
    spec = WorkloadSpec(
        owner=f"{runtime.test_prefix}installation:time",
        tenant_id="t",
        image=PYTHON_MCP_IMAGE,
        command=("/opt/mcp/bin/mcp-server-time", "--local-timezone", "UTC"),
        stdio=True,
        memory_bytes=256 * 1024 * 1024,
    )
    workload = await runtime.run(spec)
    channel = await runtime.attach(workload.id)
    try:
        hello = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        await channel.send(json.dumps(hello).encode())
        async with asyncio.timeout(30):
            reply = json.loads(await channel.receive())
        assert reply["id"] == 1
        assert reply["result"]["serverInfo"]["name"] == "mcp-time"
        await channel.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}).encode())
        await channel.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).encode())
        async with asyncio.timeout(30):
            tools = json.loads(await channel.receive())
        assert "get_current_time" in {t["name"] for t in tools["result"]["tools"]}
    finally:
        await channel.aclose()
    seen = await runtime.inspect(workload.id)
    assert seen is not None, workload.id
    assert seen.state is WorkloadState.RUNNING


async def test_a_workload_runs_as_nobody_without_capabilities_on_a_read_only_root(
    runtime: PrefixedRuntime, engine: aiodocker.Docker
) -> None:
    """What the engine was told (its own inspection) and what the workload finds inside."""
    script = (
        "id -u; id -g; grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status;"
        " touch /rootfs-write 2>/dev/null; echo root-write=$?; touch /tmp/scratch; echo tmp-write=$?;"
        " echo home=$HOME; echo END; exec sleep 300"
    )
    workload = await runtime.run(busybox(runtime, "sh", "-c", script))
    info = await engine.containers.container(workload.id).show()
    config, host = info["Config"], info["HostConfig"]
    assert config["User"] == "65534:65534"
    assert host["CapDrop"] == ["ALL"]
    assert not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True
    assert set(host["Tmpfs"]) == {"/tmp"}
    assert host["PidsLimit"] == PIDS_LIMIT
    assert host["Memory"] == DEFAULT_MEMORY_BYTES == host["MemorySwap"]  # limits even when the spec sets none
    assert host["NanoCpus"] == int(DEFAULT_CPUS * 1e9)
    assert not host.get("Binds")
    assert not host.get("Mounts")
    assert info["Mounts"] == []
    assert host["NetworkMode"] == "none"
    assert not host.get("PortBindings")
    lines = (await logged(runtime, workload.id, "END")).split()
    assert lines[:2] == ["65534", "65534"]
    status = dict(zip(lines[2:8:2], lines[3:8:2], strict=True))
    assert status == {"CapEff:": "0000000000000000", "CapBnd:": "0000000000000000", "NoNewPrivs:": "1"}
    assert "root-write=0" not in lines
    assert "tmp-write=0" in lines
    assert "home=/tmp" in lines


async def test_the_pid_limit_stops_a_fork_bomb(runtime: PrefixedRuntime) -> None:
    bomb = (
        f"(for i in $(seq {PIDS_LIMIT + 100}); do sleep 300 & echo $! >> /tmp/pids; done) 2>/dev/null;"
        " n=0; while read p; do n=$((n+1)); kill $p; done < /tmp/pids; echo forked=$n; exec sleep 300"
    )
    workload = await runtime.run(busybox(runtime, "sh", "-c", bomb))
    logs = await eventually(lambda: logged(runtime, workload.id, "forked="), within=30)
    forked = int(logs.split("forked=")[1].split()[0])
    assert 0 < forked < PIDS_LIMIT


async def test_only_directories_inside_the_workspaces_may_be_mounted(tmp_path: Path) -> None:
    """The Docker socket, the data dir (database, secret key), the workspaces' root itself, a link
    out of it, and any mount at all on a runtime given no workspaces: refused before the engine."""
    await docker_image(BUSYBOX_IMAGE)
    data_dir = tmp_path / "data"
    workspaces = LocalWorkspaces(data_dir, CONTAINER_USER)
    workspaces.path("mine")
    (data_dir / "secret_key").write_text("secret")
    root = data_dir / "workspaces"
    (root / "escape").symlink_to(data_dir)
    rt = DockerRuntime(DOCKER_HOST, pull=False, mount_root=root)
    bare = DockerRuntime(DOCKER_HOST, pull=False)
    owner = f"dtest-{uuid.uuid4().hex[:8]}:mounts"
    try:
        for runtime, source in (
            (rt, "/var/run"),
            (rt, str(data_dir)),
            (rt, str(root)),
            (rt, str(root / "escape")),
            (rt, "/var"),
            (bare, str(root / "mine")),
        ):
            spec = WorkloadSpec(
                owner=owner,
                tenant_id="t",
                command=("cat", "/m/secret_key"),
                image=BUSYBOX_IMAGE,
                mounts=(Mount(source=source, target="/m"),),
            )
            with pytest.raises(ValidationFailed) as refused:
                await runtime.run(spec)
            assert refused.value.code == "invalid_mount"
        assert await rt.list(owner) == []
    finally:
        for workload in await rt.list(owner):
            await rt.remove(workload.id)
        await rt.aclose()
        await bare.aclose()


async def test_a_workload_writes_its_own_workspace_as_nobody(runtime: PrefixedRuntime, tmp_path: Path) -> None:
    workspaces = LocalWorkspaces(tmp_path, CONTAINER_USER)
    await workspaces.save("ws", "given.txt", b"uploaded\n", max_total=1024)
    source = workspaces.path("ws")
    script = "cat given.txt; echo made > made.txt; echo rc=$?; exec sleep 300"
    spec = busybox(
        runtime, "sh", "-c", script, workdir="/workspace", mounts=(Mount(source=source, target="/workspace"),)
    )
    workload = await runtime.run(spec)
    logs = await logged(runtime, workload.id, "rc=")
    assert "uploaded" in logs
    assert "rc=0" in logs
    made = Path(source) / "made.txt"
    assert made.read_text() == "made\n"
    assert (made.stat().st_uid, made.stat().st_gid) == CONTAINER_USER


async def test_workloads_with_the_network_cannot_reach_one_another(
    runtime: PrefixedRuntime, engine: aiodocker.Docker
) -> None:
    """Two network workloads (any tenants) share a bridge without traffic between its containers."""
    server = await runtime.run(busybox(runtime, "httpd", "-f", "-p", "8080", "-h", "/www", network=True))
    info = await engine.containers.container(server.id).show()
    assert info["HostConfig"]["NetworkMode"] == EGRESS_NETWORK
    options = (await (await engine.networks.get(EGRESS_NETWORK)).show())["Options"]
    assert options["com.docker.network.bridge.enable_icc"] == "false"
    address = info["NetworkSettings"]["Networks"][EGRESS_NETWORK]["IPAddress"]
    probe = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {address} 8080; echo rc=$?; exec sleep 300"
    for tenant in ("tenant-a", "tenant-b"):
        spec = busybox(runtime, "sh", "-c", probe, network=True)
        neighbour = await runtime.run(msgspec.structs.replace(spec, tenant_id=tenant))
        logs = await logged(runtime, neighbour.id, "rc=")
        assert "tesserra test page" not in logs
        assert "rc=0" not in logs


async def test_without_the_host_guard_an_unpublished_workload_is_refused() -> None:
    """No iptables (or no root): a workload that publishes nothing (a sandbox) would reach the host's
    ports through its gateway, so it is refused, naming the fix; published workloads are unaffected,
    and an operator who keeps the rule elsewhere says so."""
    spec = WorkloadSpec(owner="o", tenant_id="t", command=("true",), image=BUSYBOX_IMAGE, publish=False)
    rt = DockerRuntime(DOCKER_HOST, pull=False, iptables="/no/such/iptables")
    try:
        with pytest.raises(Unprocessable) as refused:
            rt.admit(spec)
        assert refused.value.code == "isolation_unavailable"
        assert "TESSERRA_DOCKER_HOST_GUARD=external" in str(refused.value)
        with pytest.raises(Unprocessable):
            await rt.run(spec)
        rt.admit(msgspec.structs.replace(spec, publish=True))
    finally:
        await rt.aclose()
    DockerRuntime(DOCKER_HOST, host_guard="external", iptables="/no/such/iptables").admit(spec)


async def test_unpublished_workloads_share_their_tenants_network_until_the_last_goes(
    runtime: PrefixedRuntime, engine: aiodocker.Docker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No host port; the tenant's internal network is made on demand and removed with the last
    container naming it, not while a stopped one still does (it must find it again on start); a
    network removed under a run is made again."""
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    name = tenant_network(tenant, egress=False)

    def httpd() -> WorkloadSpec:
        spec = busybox(runtime, "httpd", "-f", "-p", "8080", "-h", "/www", ports=(8080,), publish=False)
        return msgspec.structs.replace(spec, tenant_id=tenant)

    async def exists() -> bool:
        return name in {n["Name"] for n in await engine.networks.list()}

    first, second = await runtime.run(httpd()), await runtime.run(httpd())
    for workload in (first, second):
        info = await engine.containers.container(workload.id).show()
        assert not info["HostConfig"]["PortBindings"]
        assert workload.ports == {8080: 8080}
        assert workload.address == info["NetworkSettings"]["Networks"][name]["IPAddress"]
    shown = await (await engine.networks.get(name)).show()
    assert shown["Internal"] is True
    assert shown["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    await runtime.stop(first.id, grace=0)
    await runtime.remove(second.id)
    assert await exists()  # the stopped one still names it
    restarted = await runtime.start(first.id)
    assert restarted.address
    await runtime.remove(first.id)
    assert not await exists()
    # made again on the next run, even when another worker removes it between the check and the create
    made = docker_config.network
    removals = 0

    async def removed_meanwhile(docker: aiodocker.Docker, spec: WorkloadSpec) -> str:
        nonlocal removals
        chosen = await made(docker, spec)
        if removals == 0:
            removals += 1
            await (await docker.networks.get(chosen)).delete()
        return chosen

    monkeypatch.setattr(docker_module, "network", removed_meanwhile)
    third = await runtime.run(httpd())
    assert removals == 1
    assert third.address
    await runtime.remove(third.id)
    assert not await exists()


async def test_tidy_removes_the_private_networks_no_container_is_on(
    runtime: PrefixedRuntime, engine: aiodocker.Docker
) -> None:
    """A container removed behind the runtime's back (another server's reconciler, an operator) leaves
    its tenant's network; the reconciler's tidy removes it, and keeps one a stopped container is on."""
    gone_tenant, kept_tenant = f"tenant-{uuid.uuid4().hex[:8]}", f"tenant-{uuid.uuid4().hex[:8]}"

    def httpd(tenant: str) -> WorkloadSpec:
        spec = busybox(runtime, "httpd", "-f", "-p", "8080", "-h", "/www", ports=(8080,), publish=False)
        return msgspec.structs.replace(spec, tenant_id=tenant)

    removed_behind = await runtime.run(httpd(gone_tenant))
    stopped = await runtime.run(httpd(kept_tenant))
    await runtime.stop(stopped.id, grace=0)
    await engine.containers.container(removed_behind.id).delete(force=True)

    async def names() -> set[str]:
        return {n["Name"] for n in await engine.networks.list()}

    gone, kept = tenant_network(gone_tenant, egress=False), tenant_network(kept_tenant, egress=False)
    assert {gone, kept} <= await names()
    assert await runtime.tidy() >= 1
    assert gone not in await names()
    assert kept in await names()
    await runtime.remove(stopped.id)
    assert kept not in await names()
