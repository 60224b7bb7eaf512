"""ContainerRuntime contract: the same suite on the in-memory fake, local processes and real Docker.

Each runtime gets the same behaviours (serve HTTP, echo stdin, print and exit, run for a while) as
the spec that produces them there: a shell command for processes, busybox for Docker, a scripted
``main`` for the memory runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from tesserra_adapters.runtime.docker import DockerRuntime
from tesserra_adapters.runtime.memory import MemoryIO, MemoryRuntime
from tesserra_adapters.runtime.mounts import CONTAINER_USER
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_core.errors import Conflict, NotFound, ValidationFailed
from tesserra_core.ports.runtime import (
    ContainerRuntime,
    Mount,
    Workload,
    WorkloadSpec,
    WorkloadState,
    WorkloadStatus,
)
from tests.support import BUSYBOX_IMAGE, DOCKER_HOST, docker_image, eventually

RUNTIMES = ["memory", "process", "docker"]
REAL = ["process", "docker"]
HTTP_PORT = 8080


async def scripted(io: MemoryIO) -> int | None:
    """The memory runtime's stand-in for the shell: ``("exit", code)``, ``("say", text, ...)``, else ``cat``."""
    command = io.spec.command
    if command[:1] == ("say",):
        for text in command[1:]:
            io.log(text)
        await asyncio.Event().wait()
    if command[:1] == ("mount",):  # the shell's "cat hello.txt; echo from-workload > made.txt" in the workdir
        assert io.spec.workdir is not None
        here = Path(io.spec.host_path(io.spec.workdir) or io.spec.workdir)
        io.log(await asyncio.to_thread((here / "hello.txt").read_text))
        await asyncio.to_thread((here / "made.txt").write_text, "from-workload\n")
        io.log("END")
        await asyncio.Event().wait()
    if command[:1] == ("exit",):
        io.log("bye")
        return int(command[1])
    while True:
        try:
            await io.stdio.send(await io.stdio.receive())
        except EOFError:
            return 0


@dataclass
class Harness:
    """A runtime under test, the specs of each behaviour on it, and the owner prefix this test owns."""

    runtime: ContainerRuntime
    kind: str
    prefix: str

    def spec(self, command: tuple[str, ...], *, name: str = "w", **fields: object) -> WorkloadSpec:
        image = BUSYBOX_IMAGE if self.kind == "docker" else None
        return WorkloadSpec(owner=f"{self.prefix}{name}", tenant_id="t1", command=command, image=image, **fields)  # type: ignore[arg-type]

    def sleeper(self, name: str = "w") -> WorkloadSpec:
        return self.spec(("cat",) if self.kind == "memory" else ("sleep", "300"), name=name)

    def cat(self, name: str = "w") -> WorkloadSpec:
        return self.spec(("cat",), name=name, stdio=True)

    def say(self, *lines: str) -> WorkloadSpec:
        if self.kind == "memory":
            return self.spec(("say", *lines))
        out, err = lines
        return self.spec(("sh", "-c", f"echo {out}; echo {err} >&2; exec sleep 300"))

    def exit_with(self, code: int) -> WorkloadSpec:
        if self.kind == "memory":
            return self.spec(("exit", str(code)))
        return self.spec(("sh", "-c", f"echo bye; exit {code}"))

    def in_mount(self, source: Path) -> WorkloadSpec:
        """Runs in ``/data``, a mount of ``source``: prints ``hello.txt`` and writes ``made.txt`` there."""
        mounts = (Mount(source=str(source), target="/data"),)
        if self.kind == "memory":
            return self.spec(("mount",), workdir="/data", mounts=mounts)
        script = "cat hello.txt; echo from-workload > made.txt; echo END; exec sleep 300"
        return self.spec(("sh", "-c", script), workdir="/data", mounts=mounts)

    def http(self) -> WorkloadSpec:
        if self.kind == "docker":
            return self.spec(("httpd", "-f", "-p", str(HTTP_PORT), "-h", "/www"), ports=(HTTP_PORT,))
        server = (
            "import http.server, os; http.server.test(http.server.SimpleHTTPRequestHandler,"
            " port=int(os.environ['PORT']), bind='127.0.0.1')"
        )
        return self.spec((sys.executable, "-c", server), ports=(HTTP_PORT,))

    async def until_exited(self, workload: Workload) -> Workload:
        async def exited() -> Workload | None:
            found = await self.runtime.inspect(workload.id)
            assert found is not None
            return found if found.state is WorkloadState.EXITED else None

        return await eventually(exited, within=15)


async def served(workload: Workload) -> httpx.Response | None:
    """The answer of the workload's HTTP port on the host, or None while it does not answer."""
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            return await client.get(f"http://127.0.0.1:{workload.ports[HTTP_PORT]}/")
    except httpx.TransportError:
        return None


@contextlib.asynccontextmanager
async def open_harness(kind: str, tmp_path: Path) -> AsyncIterator[Harness]:
    """A runtime of ``kind``; at the end, what the test left on it is removed."""
    runtime: MemoryRuntime | ProcessRuntime | DockerRuntime
    if kind == "memory":
        runtime = MemoryRuntime(scripted, images={BUSYBOX_IMAGE})
    elif kind == "process":
        runtime = ProcessRuntime(tmp_path)
    else:
        await docker_image(BUSYBOX_IMAGE)
        runtime = DockerRuntime(DOCKER_HOST, pull=False, mount_root=tmp_path)
    harness = Harness(runtime, kind, f"test-{uuid.uuid4().hex[:10]}:")
    try:
        yield harness
    finally:
        for workload in await runtime.list(harness.prefix):
            await runtime.remove(workload.id)
        await runtime.aclose()


@pytest.fixture(params=RUNTIMES)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(request.param, tmp_path) as opened:
        yield opened


async def test_run_reports_a_running_workload_with_its_owner(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.sleeper())
    assert workload.state is WorkloadState.RUNNING
    assert workload.owner == f"{harness.prefix}w"
    assert workload.tenant_id == "t1"
    assert workload.runtime == harness.kind
    assert workload.started_at is not None
    assert await harness.runtime.inspect(workload.id) == workload


async def test_stop_start_restart_and_remove(harness: Harness) -> None:
    rt = harness.runtime
    workload = await rt.run(harness.sleeper())
    stopped = await rt.stop(workload.id, grace=2)
    assert stopped.state is WorkloadState.EXITED
    assert (await rt.inspect(workload.id)) == stopped
    started = await rt.start(workload.id)
    assert started.state is WorkloadState.RUNNING
    assert started.started_at is not None
    assert workload.started_at is not None
    assert started.started_at >= workload.started_at
    assert (await rt.start(workload.id)).state is WorkloadState.RUNNING  # starting a running one is a no-op
    restarted = await rt.restart(workload.id)
    assert restarted.state is WorkloadState.RUNNING
    assert restarted.started_at is not None
    assert restarted.started_at >= started.started_at
    await rt.remove(workload.id)
    assert await rt.inspect(workload.id) is None
    assert await rt.list(harness.prefix) == []


async def test_remove_is_idempotent_and_unknown_ids_are_not_found(harness: Harness) -> None:
    rt = harness.runtime
    workload = await rt.run(harness.sleeper())
    await rt.remove(workload.id)
    await rt.remove(workload.id)
    unknown = uuid.uuid4().hex
    await rt.remove(unknown)
    assert await rt.inspect(unknown) is None
    for call in (rt.start(unknown), rt.stop(unknown), rt.restart(unknown), rt.logs(unknown), rt.attach(unknown)):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(NotFound):
        await rt.start(workload.id)
    for odd in ("../../etc", "a/b", "", "x" * 300, "ÿ"):
        assert await rt.inspect(odd) is None
        await rt.remove(odd)
        with pytest.raises(NotFound):
            await rt.stop(odd)


async def test_list_filters_by_owner_prefix(harness: Harness) -> None:
    rt = harness.runtime
    a = await rt.run(harness.sleeper("resource:1"))
    b = await rt.run(harness.sleeper("resource:2"))
    c = await rt.run(harness.sleeper("installation:1"))
    assert {w.id for w in await rt.list(harness.prefix)} == {a.id, b.id, c.id}
    assert {w.id for w in await rt.list(f"{harness.prefix}resource:")} == {a.id, b.id}
    assert [w.id for w in await rt.list(f"{harness.prefix}installation:")] == [c.id]
    assert await rt.list(f"{harness.prefix}sandbox:") == []
    listed = {w.id: w for w in await rt.list(harness.prefix)}
    assert listed[c.id].owner == f"{harness.prefix}installation:1"
    assert listed[a.id].state is WorkloadState.RUNNING


async def test_statuses_filter_by_owner_prefix_as_list_does(harness: Harness) -> None:
    """The same prefixes as ``list``'s, an adopted workload's by its new owner (on Docker: its name's)."""
    rt = harness.runtime
    a = await rt.run(harness.sleeper("resource:1"))
    b = await rt.run(harness.sleeper("resource:2"))
    c = await rt.run(harness.sleeper("installation:1"))
    pooled = await rt.run(msgspec.structs.replace(harness.sleeper("pool:1"), tenant_id=""))
    adopted = await rt.adopt(pooled.id, f"{harness.prefix}sandbox:1", "t2")
    for prefix, expected in (
        (harness.prefix, {a.id, b.id, c.id, adopted.id}),
        (f"{harness.prefix}resource:", {a.id, b.id}),
        (f"{harness.prefix}resource:2", {b.id}),
        (f"{harness.prefix}installation:", {c.id}),
        (f"{harness.prefix}sandbox:", {adopted.id}),
        (f"{harness.prefix}pool:", set()),
    ):
        statuses = await rt.statuses(prefix)
        assert set(statuses) == {w.id for w in await rt.list(prefix)} == expected, prefix
        assert all(s.owner.startswith(prefix) for s in statuses.values())
    assert (await rt.statuses(f"{harness.prefix}installation:"))[c.id] == WorkloadStatus(
        owner=f"{harness.prefix}installation:1", state=WorkloadState.RUNNING, tenant_id=c.tenant_id
    )
    assert set(await rt.statuses(harness.prefix)) <= set(await rt.statuses())  # no prefix: every workload


async def test_statuses_say_what_list_and_inspect_say(harness: Harness) -> None:
    """Running, paused, stopped, exited by itself (with its code), adopted: the cheap answer is the full one's."""
    rt = harness.runtime
    running = await rt.run(harness.sleeper("running"))
    paused = await rt.pause((await rt.run(harness.sleeper("paused"))).id)
    stopped = await rt.stop((await rt.run(harness.sleeper("stopped"))).id, grace=2)
    exited = await harness.until_exited(await rt.run(harness.exit_with(3)))
    pooled = await rt.run(msgspec.structs.replace(harness.sleeper("pool:1"), tenant_id=""))
    adopted = await rt.adopt(pooled.id, f"{harness.prefix}sandbox:1", "t2")  # on Docker, its owner in its name
    statuses = {i: s for i, s in (await rt.statuses()).items() if s.owner.startswith(harness.prefix)}
    listed = {w.id: w for w in await rt.list(harness.prefix)}
    assert set(statuses) == set(listed) == {running.id, paused.id, stopped.id, exited.id, adopted.id}
    for workload_id, workload in listed.items():
        assert await rt.inspect(workload_id) == workload
        assert statuses[workload_id] == WorkloadStatus.of(workload)
    tenant = running.tenant_id
    assert tenant
    assert statuses[running.id] == WorkloadStatus(owner=running.owner, state=WorkloadState.RUNNING, tenant_id=tenant)
    assert statuses[paused.id] == WorkloadStatus(
        owner=paused.owner, state=WorkloadState.RUNNING, paused=True, tenant_id=tenant
    )
    assert (statuses[stopped.id].state, statuses[stopped.id].exit_code) == (WorkloadState.EXITED, stopped.exit_code)
    assert stopped.exit_code is not None
    assert statuses[exited.id] == WorkloadStatus(
        owner=exited.owner, state=WorkloadState.EXITED, exit_code=3, tenant_id=tenant
    )
    assert (statuses[adopted.id].owner, statuses[adopted.id].tenant_id) == (f"{harness.prefix}sandbox:1", "t2")


async def test_adopt_hands_a_paused_workload_to_a_new_owner_and_tenant(harness: Harness) -> None:
    rt = harness.runtime
    pooled = await rt.run(msgspec.structs.replace(harness.sleeper("pool:1"), tenant_id=""))  # made for no tenant
    await rt.pause(pooled.id)
    adopted = await rt.adopt(pooled.id, f"{harness.prefix}sandbox:1", "t2")
    assert adopted.id == pooled.id
    assert (adopted.owner, adopted.tenant_id) == (f"{harness.prefix}sandbox:1", "t2")
    assert adopted.paused
    assert await rt.list(f"{harness.prefix}pool:") == []
    [listed] = await rt.list(f"{harness.prefix}sandbox:")
    assert (listed.id, listed.owner, listed.tenant_id) == (pooled.id, adopted.owner, "t2")
    assert await rt.inspect(pooled.id) == listed
    resumed = await rt.resume(pooled.id)
    assert resumed.state is WorkloadState.RUNNING
    assert not resumed.paused
    await rt.remove(pooled.id)
    assert await rt.list(harness.prefix) == []
    with pytest.raises(NotFound):
        await rt.adopt(pooled.id, f"{harness.prefix}sandbox:2", "t2")


async def test_a_workload_made_for_a_tenant_is_adopted_by_that_tenant_only(harness: Harness) -> None:
    """A per-tenant pool's workload (made with its tenant; on Docker, on that tenant's network) is
    never handed to another tenant; its own tenant adopts it."""
    rt = harness.runtime
    made = await rt.run(msgspec.structs.replace(harness.sleeper("pool:t1"), tenant_id="t1"))
    await rt.pause(made.id)
    with pytest.raises(ValidationFailed):
        await rt.adopt(made.id, f"{harness.prefix}sandbox:1", "t2")
    [still] = await rt.list(f"{harness.prefix}pool:")
    assert (still.owner, still.tenant_id) == (f"{harness.prefix}pool:t1", "t1")
    adopted = await rt.adopt(made.id, f"{harness.prefix}sandbox:1", "t1", resume=True)  # and let it run
    assert (adopted.owner, adopted.tenant_id, adopted.paused) == (f"{harness.prefix}sandbox:1", "t1", False)
    assert adopted.state is WorkloadState.RUNNING
    assert await rt.inspect(made.id) == adopted
    await rt.remove(made.id)


async def test_concurrent_runs_and_removals(harness: Harness) -> None:
    rt = harness.runtime
    workloads = await asyncio.gather(*(rt.run(harness.sleeper(f"n{i}")) for i in range(6)))
    assert len({w.id for w in workloads}) == 6
    assert {w.owner for w in await rt.list(harness.prefix)} == {f"{harness.prefix}n{i}" for i in range(6)}
    await asyncio.gather(*(rt.remove(w.id) for w in workloads), *(rt.remove(w.id) for w in workloads[:3]))
    assert await rt.list(harness.prefix) == []


async def test_exit_codes_are_reported(harness: Harness) -> None:
    exited = await harness.until_exited(await harness.runtime.run(harness.exit_with(3)))
    assert exited.exit_code == 3
    assert "bye" in await harness.runtime.logs(exited.id)
    assert (await harness.runtime.stop(exited.id, grace=1)).exit_code == 3  # stopping an exited one changes nothing
    ok = await harness.until_exited(await harness.runtime.run(harness.exit_with(0)))
    assert ok.exit_code == 0
    again = await harness.until_exited(await harness.runtime.start(exited.id))  # an exited one starts again
    assert again.exit_code == 3
    assert (await harness.runtime.logs(exited.id)).count("bye") == 2


async def test_logs_hold_stdout_and_stderr_and_honour_tail(harness: Harness) -> None:
    rt = harness.runtime
    workload = await rt.run(harness.say("to-stdout", "to-stderr"))

    async def both() -> str | None:
        logs = await rt.logs(workload.id)
        return logs if "to-stdout" in logs and "to-stderr" in logs else None

    await eventually(both)
    assert (await rt.logs(workload.id, tail=1)).count("\n") == 1
    assert await rt.logs(workload.id, tail=0) == ""


async def test_stdio_round_trip(harness: Harness) -> None:
    rt = harness.runtime
    workload = await rt.run(harness.cat())
    channel = await rt.attach(workload.id)
    try:
        for message in (b'{"jsonrpc":"2.0","id":1,"method":"ping"}', b"second line", b"x" * 100_000):
            await channel.send(message)
            async with asyncio.timeout(10):
                assert await channel.receive() == message
    finally:
        await channel.aclose()
    again = await rt.attach(workload.id)  # detaching leaves the workload running, attachable
    try:
        await again.send(b"still there")
        async with asyncio.timeout(10):
            assert await again.receive() == b"still there"
    finally:
        await again.aclose()
    await rt.stop(workload.id, grace=1)
    with pytest.raises(Conflict):
        await rt.attach(workload.id)


async def test_receive_raises_eof_when_the_workload_ends(harness: Harness) -> None:
    rt = harness.runtime
    workload = await rt.run(harness.cat())
    channel = await rt.attach(workload.id)
    try:
        await rt.stop(workload.id, grace=1)
        with pytest.raises(EOFError):
            async with asyncio.timeout(10):
                await channel.receive()
    finally:
        await channel.aclose()


async def test_attach_needs_a_stdio_workload(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.sleeper())
    with pytest.raises(Conflict):
        await harness.runtime.attach(workload.id)


async def test_declared_ports_are_mapped(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.http())
    assert set(workload.ports) == {HTTP_PORT}
    assert 0 < workload.ports[HTTP_PORT] < 65536


async def test_a_mount_shows_host_files_and_keeps_what_the_workload_writes(harness: Harness, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello.txt").write_text("from the host\n")
    if harness.kind == "docker":  # a workspace belongs to the user containers run as
        os.chown(shared, *CONTAINER_USER)
    workload = await harness.runtime.run(harness.in_mount(shared))

    async def printed(times: int) -> str:
        async def check() -> str | None:
            logs = await harness.runtime.logs(workload.id)
            return logs if logs.count("END") >= times else None

        return await eventually(check, within=15)

    assert "from the host" in await printed(1)
    assert (shared / "made.txt").read_text() == "from-workload\n"
    (shared / "made.txt").unlink()
    restarted = await harness.runtime.restart(workload.id)  # the mount stays with the workload
    assert restarted.state is WorkloadState.RUNNING
    assert (await printed(2)).count("from the host") == 2
    assert (shared / "made.txt").read_text() == "from-workload\n"


async def test_bad_mounts_are_refused(harness: Harness, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed):
        await harness.runtime.run(harness.spec(("cat",), mounts=(Mount(source=str(tmp_path / "absent"), target="/d"),)))
    assert await harness.runtime.list(harness.prefix) == []
    for source, target in (
        (str(tmp_path), "data"),
        (str(tmp_path), "/data/../etc"),
        ("relative", "/d"),
        (str(tmp_path), "/"),
    ):
        with pytest.raises(ValidationFailed):
            Mount(source=source, target=target)
    with pytest.raises(ValidationFailed):
        harness.spec(("cat",), mounts=(Mount(source=str(tmp_path), target="/d"), Mount(source="/tmp", target="/d")))


@pytest.mark.parametrize("harness", REAL, indirect=True)
async def test_ports_are_reachable_on_loopback(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.http())
    response = await eventually(lambda: served(workload), within=20)
    assert response.status_code == 200
    assert "tesserra test page" in response.text or harness.kind == "process"
    restarted = await harness.runtime.restart(workload.id)
    assert set(restarted.ports) == {HTTP_PORT}


@pytest.mark.parametrize("harness", REAL, indirect=True)
async def test_stop_kills_what_ignores_sigterm_after_the_grace(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.spec(("sh", "-c", "trap '' TERM; sleep 300 & wait; sleep 300")))
    await asyncio.sleep(0.3)
    async with asyncio.timeout(8):
        stopped = await harness.runtime.stop(workload.id, grace=1)
    assert stopped.state is WorkloadState.EXITED
    assert stopped.exit_code == 137


# -- wiring: TESSERRA_RUNTIME picks the adapter; its resources end with the app ----------------------


async def test_the_process_runtime_is_the_default(tmp_path: Path) -> None:
    from tesserra_adapters.bootstrap import running
    from tests.support import test_settings

    settings = test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    assert settings.runtime == "process"
    async with running(settings) as uc:
        runtime = uc.ports.runtime
        assert runtime.name == "process"
        workload = await runtime.run(WorkloadSpec(owner="wiring:1", tenant_id="t", command=("sleep", "300")))
        assert (tmp_path / "workloads" / workload.id / "workload.json").exists()
        await runtime.remove(workload.id)
    async with running(settings, memory=True) as uc:
        assert uc.ports.runtime.name == "memory"


async def test_the_docker_runtime_is_chosen_by_setting_and_closed_at_shutdown(tmp_path: Path) -> None:
    from tesserra_adapters.bootstrap import running
    from tesserra_adapters.settings import Settings
    from tests.support import test_settings

    await docker_image(BUSYBOX_IMAGE)
    env = {"TESSERRA_RUNTIME": "docker", "TESSERRA_DOCKER_HOST": DOCKER_HOST}
    assert Settings.from_env(env).runtime == "docker"
    settings = test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", runtime="docker")
    async with running(settings) as uc:
        recorded = uc.ports.runtime  # each workload recorded as this node's (NodeRecordedRuntime)
        runtime = getattr(recorded, "inner", recorded)
        assert isinstance(runtime, DockerRuntime)
        assert recorded.name == runtime.name == "docker"
        await runtime.list("wiring:")
        assert runtime._client is not None
    assert runtime._client is None  # the aiohttp session behind aiodocker is closed

    with pytest.raises(ValueError, match="TESSERRA_RUNTIME"):
        async with running(test_settings(tmp_path, settings.database_url, runtime="kubernetes")):
            pass
