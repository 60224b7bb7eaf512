"""What only the process runtime promises: surviving a server restart, pid-reuse safety, no orphans,
no zombies, a private environment, bounded logs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest

from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.process_children import process_start
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState
from tests.support import eventually


def spec(*command: str, **fields: object) -> WorkloadSpec:
    return WorkloadSpec(owner=f"test:{uuid.uuid4().hex[:8]}", tenant_id="t1", command=command, **fields)  # type: ignore[arg-type]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


async def gone(pgid: int) -> None:
    """No live member is left in the group (SIGKILL is sent; a sandbox's pid namespace takes a moment to end)."""
    await eventually(lambda: asyncio.sleep(0, group_members(pgid) == [] or None), within=5)


def workload_processes(pgid: int) -> list[int]:
    """The group's members but the sandbox's own (bubblewrap outside, and its init)."""
    return [pid for pid in group_members(pgid) if Path(f"/proc/{pid}/comm").read_text().strip() != "bwrap"]


def zombies_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if fields[0] == "Z" and int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


@pytest.fixture(params=["bubblewrap", "none-trusted-single-tenant"])
def sandbox(request: pytest.FixtureRequest) -> Sandbox | None:
    """Every promise holds with and without the sandbox."""
    return Sandbox() if request.param == "bubblewrap" else None


@pytest.fixture
async def runtime(tmp_path: Path, sandbox: Sandbox | None) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path, sandbox=sandbox)
    yield rt
    for workload in await rt.list():
        await rt.remove(workload.id)
    await rt.aclose()


def pid_of(tmp_path: Path, workload_id: str) -> int:
    return int(json.loads((tmp_path / "workloads" / workload_id / "workload.json").read_text())["pid"])


async def test_workloads_survive_a_server_restart_and_can_be_removed_after_it(
    tmp_path: Path, sandbox: Sandbox | None
) -> None:
    before = ProcessRuntime(tmp_path, sandbox=sandbox)
    workload = await before.run(spec("sh", "-c", "sleep 300 & sleep 300 & wait"))
    pid = pid_of(tmp_path, workload.id)
    await eventually(lambda: asyncio.sleep(0, len(workload_processes(pid)) == 3 or None))
    await before.aclose()  # the server stops; its workloads do not

    after = ProcessRuntime(tmp_path, sandbox=sandbox)  # a new server on the same data directory
    [found] = await after.list("test:")
    assert found.id == workload.id
    assert found.state is WorkloadState.RUNNING
    assert found.owner == workload.owner
    await after.remove(workload.id)
    await gone(pid)  # the leader and everything it started
    assert await after.list() == []


async def test_a_sandbox_whose_server_died_mid_launch_is_removed_with_its_unrecorded_processes(tmp_path: Path) -> None:
    """A server killed while bubblewrap waited for pasta leaves a record with no pid (CREATED) while
    bubblewrap goes on at its block pipe's end of file and pasta runs: removing the record (what the
    next start's reconciler does) ends both, found by the workload folder they name."""
    sandbox = Sandbox()
    if sandbox.problem is not None:
        pytest.skip(sandbox.problem)
    before = ProcessRuntime(tmp_path, sandbox=sandbox)
    workload = await before.run(spec("sleep", "300", ports=(8000,)))
    pid = pid_of(tmp_path, workload.id)
    record = tmp_path / "workloads" / workload.id / "workload.json"
    stored = json.loads(record.read_text())
    assert stored["pasta_pid"] is not None
    record.write_text(json.dumps({**stored, "pid": None, "start_ticks": None, "state": "created", "pasta_pid": None}))
    await before.aclose()

    after = ProcessRuntime(tmp_path, sandbox=sandbox)
    await after.remove(workload.id)
    await gone(pid)
    await eventually(lambda: asyncio.sleep(0, process_start(stored["pasta_pid"]) is None or None), within=5)
    assert await after.list() == []


async def test_a_survivor_stops_on_sigterm_and_is_killed_when_it_ignores_it(
    tmp_path: Path, sandbox: Sandbox | None
) -> None:
    before = ProcessRuntime(tmp_path, sandbox=sandbox)
    polite = await before.run(spec("sleep", "300"))
    stubborn = await before.run(spec("sh", "-c", "trap '' TERM; sleep 300"))
    await asyncio.sleep(0.2)
    await before.aclose()
    after = ProcessRuntime(tmp_path, sandbox=sandbox)
    assert (await after.stop(polite.id, grace=5)).state is WorkloadState.EXITED
    async with asyncio.timeout(5):
        assert (await after.stop(stubborn.id, grace=0.5)).state is WorkloadState.EXITED
    await gone(pid_of(tmp_path, stubborn.id))
    assert (await after.start(stubborn.id)).state is WorkloadState.RUNNING  # and it can be started again
    await after.remove(stubborn.id)
    await after.remove(polite.id)


async def test_a_reused_pid_is_never_taken_for_the_workload(tmp_path: Path, sandbox: Sandbox | None) -> None:
    before = ProcessRuntime(tmp_path, sandbox=sandbox)
    workload = await before.run(spec("sleep", "300"))
    await before.aclose()
    pid = pid_of(tmp_path, workload.id)
    # The workload dies while the server is away, and its pid now names another process (simulated by
    # pointing the record at a live process that is not the workload: same pid, other start time;
    # start times count clock ticks, so the bystander starts a few ticks later).
    await asyncio.sleep(0.1)
    bystander = await asyncio.to_thread(subprocess.Popen, ["sleep", "300"], start_new_session=True)
    try:
        os.killpg(pid, signal.SIGKILL)
        await eventually(lambda: asyncio.sleep(0, not group_members(pid) or None))
        path = tmp_path / "workloads" / workload.id / "workload.json"
        record = json.loads(path.read_text())
        record["pid"] = bystander.pid
        path.write_text(json.dumps(record))

        after = ProcessRuntime(tmp_path, sandbox=sandbox)
        found = await after.inspect(workload.id)
        assert found is not None
        assert found.state is WorkloadState.EXITED
        await after.remove(workload.id)
        assert bystander.poll() is None  # untouched
    finally:
        bystander.kill()
        bystander.wait()


async def test_remove_leaves_no_orphan_and_exits_leave_no_zombie(runtime: ProcessRuntime, tmp_path: Path) -> None:
    workload = await runtime.run(spec("sh", "-c", "sleep 300 & sleep 300 & exec sleep 300"))
    pid = pid_of(tmp_path, workload.id)
    await eventually(lambda: asyncio.sleep(0, len(workload_processes(pid)) == 3 or None))
    await runtime.remove(workload.id)
    await gone(pid)
    assert not (tmp_path / "workloads" / workload.id).exists()

    quick = [await runtime.run(spec("sh", "-c", f"exit {n}")) for n in range(5)]
    pids = {pid_of(tmp_path, w.id) for w in quick}

    async def all_exited() -> bool | None:
        found = [await runtime.inspect(w.id) for w in quick]
        return all(w is not None and w.state is WorkloadState.EXITED for w in found) or None

    await eventually(all_exited)
    assert [w.exit_code for w in await runtime.list() if w.id in {q.id for q in quick}] == [
        n for n in sorted(range(5), key=lambda n: quick[n].id)
    ]
    assert pids.isdisjoint(zombies_of(os.getpid()))


async def test_a_child_that_exits_by_itself_leaves_nothing_behind(runtime: ProcessRuntime, tmp_path: Path) -> None:
    workload = await runtime.run(spec("sh", "-c", "sleep 300 & exit 4"))
    pid = pid_of(tmp_path, workload.id)

    async def exited() -> bool | None:
        found = await runtime.inspect(workload.id)
        return True if found is not None and found.state is WorkloadState.EXITED else None

    await eventually(exited)
    seen = await runtime.inspect(workload.id)
    assert seen is not None, workload.id
    assert seen.exit_code == 4
    await eventually(lambda: asyncio.sleep(0, not group_members(pid) or None))
    assert pid not in zombies_of(os.getpid())


async def test_the_environment_is_private_and_carries_the_ports(
    runtime: ProcessRuntime, sandbox: Sandbox | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TESSERRA_SECRET_KEY", "server-secret-value")
    script = "import os, json; print(json.dumps(dict(os.environ)), flush=True); import time; time.sleep(300)"
    workload = await runtime.run(spec(sys.executable, "-c", script, env={"GREETING": "hi"}, ports=(8080, 9090)))

    async def printed() -> dict[str, str] | None:
        logs = await runtime.logs(workload.id)
        return json.loads(logs) if logs.strip() else None

    env = await eventually(printed)
    assert "TESSERRA_SECRET_KEY" not in env
    assert "server-secret-value" not in json.dumps(env)
    assert env["GREETING"] == "hi"
    # Sandboxed, a workload listens on its declared ports in its own network namespace (as in a
    # container); unsandboxed, on the host ports it was given.
    listen = {8080: 8080, 9090: 9090} if sandbox is not None else workload.ports
    assert env["PORT"] == str(listen[8080])
    assert env["PORT_8080"] == str(listen[8080])
    assert env["PORT_9090"] == str(listen[9090])
    assert workload.ports[8080] != workload.ports[9090]
    assert env["HOME"].endswith("/home")


async def test_a_server_listening_on_port_answers_on_its_host_port(
    runtime: ProcessRuntime, sandbox: Sandbox | None
) -> None:
    script = (
        "import http.server, os\n"
        "class Hello(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = os.environ['PORT'].encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
        "        self.wfile.write(body)\n"
        "http.server.HTTPServer(('', int(os.environ['PORT'])), Hello).serve_forever()\n"
    )
    workload = await runtime.run(spec(sys.executable, "-c", script, ports=(8080,)))

    async def answered() -> str | None:
        try:
            async with httpx.AsyncClient(timeout=2) as client:
                response = await client.get(f"http://127.0.0.1:{workload.ports[8080]}/")
        except httpx.TransportError:
            return None
        return response.text if response.status_code == 200 else None

    # sandboxed it listened on its declared port, which pasta forwards the host port to
    assert await eventually(answered) == ("8080" if sandbox is not None else str(workload.ports[8080]))


async def test_networked_sandboxes_started_together_all_start(tmp_path: Path) -> None:
    """Sandboxes with ports, six at a time: pasta joining a namespace while bubblewrap still set up its
    loopback made bubblewrap exit now and then (a broken pipe at start, 3 in 60 here), and a host port
    found free could be taken before pasta bound it."""
    runtime = ProcessRuntime(tmp_path, sandbox=Sandbox())
    try:
        for _ in range(4):
            started = await asyncio.gather(*(runtime.run(spec("sleep", "60", ports=(8000, 8001))) for _ in range(6)))
            assert all(w.state is WorkloadState.RUNNING for w in started)
            for workload in started:
                await runtime.remove(workload.id)
    finally:
        await runtime.aclose()


async def test_the_state_file_is_private(runtime: ProcessRuntime, tmp_path: Path) -> None:
    workload = await runtime.run(spec("sleep", "300", env={"API_TOKEN": "s3cr3t"}))
    folder = tmp_path / "workloads" / workload.id
    assert folder.stat().st_mode & 0o077 == 0
    assert (folder / "workload.json").stat().st_mode & 0o077 == 0
    assert (folder / "output.log").stat().st_mode & 0o077 == 0


async def test_logs_stay_bounded(tmp_path: Path, sandbox: Sandbox | None) -> None:
    rt = ProcessRuntime(tmp_path, sandbox=sandbox, log_bytes=64 * 1024)
    workload = await rt.run(spec("sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done"))

    async def done() -> bool | None:
        found = await rt.inspect(workload.id)
        return True if found is not None and found.state is WorkloadState.EXITED else None

    await eventually(done, within=30)
    tail = await rt.logs(workload.id, tail=3)
    assert tail == "line-19997\nline-19998\nline-19999\n"
    assert (tmp_path / "workloads" / workload.id / "output.log").stat().st_size <= 64 * 1024
    await rt.remove(workload.id)


async def test_bad_commands_and_workdirs_are_refused(runtime: ProcessRuntime, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed):
        await runtime.run(spec("/no/such/program"))
    with pytest.raises(ValidationFailed):
        await runtime.run(spec("sleep", "1", workdir=str(tmp_path / "missing")))
    with pytest.raises(ValidationFailed):
        await runtime.run(spec())
    assert await runtime.list() == []  # nothing half-made is left behind


async def test_one_attachment_at_a_time(runtime: ProcessRuntime) -> None:
    workload = await runtime.run(spec("cat", stdio=True))
    first = await runtime.attach(workload.id)
    with pytest.raises(Conflict):
        await runtime.attach(workload.id)
    await first.aclose()
    second = await runtime.attach(workload.id)
    await second.aclose()


async def test_stdio_is_lost_when_the_server_restarts(tmp_path: Path, sandbox: Sandbox | None) -> None:
    before = ProcessRuntime(tmp_path, sandbox=sandbox)
    workload = await before.run(spec("sh", "-c", "trap '' PIPE; cat; exec sleep 300", stdio=True))
    await before.aclose()
    after = ProcessRuntime(tmp_path, sandbox=sandbox)
    found = await after.inspect(workload.id)
    assert found is not None
    assert found.state is WorkloadState.RUNNING
    with pytest.raises(Conflict) as lost:
        await after.attach(workload.id)
    assert lost.value.code == "stdio_lost"
    await after.remove(workload.id)


async def test_without_a_usable_sandbox_every_workload_is_refused(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path, sandbox=Sandbox(bwrap=str(tmp_path / "no-bwrap")))
    with pytest.raises(Unprocessable) as refused:
        runtime.admit(spec("true"))
    assert refused.value.code == "isolation_unavailable"
    for fix in ("bubblewrap", "TESSERRA_RUNTIME=docker", "TESSERRA_PROCESS_ISOLATION=none-trusted-single-tenant"):
        assert fix in refused.value.message
    with pytest.raises(Unprocessable):
        await runtime.run(spec("sh", "-c", "touch ran"))
    assert await runtime.list() == []
    assert not (tmp_path / "ran").exists()


async def test_opted_out_workloads_run_as_the_server(tmp_path: Path) -> None:
    """``none-trusted-single-tenant``: no sandbox, no refusal, the server's own uid."""
    runtime = ProcessRuntime(tmp_path, sandbox=None)
    runtime.admit(spec("true"))
    workload = await runtime.run(spec("sh", "-c", "id -u"))
    await eventually(
        lambda: asyncio.sleep(0, (tmp_path / "workloads" / workload.id / "output.log").read_text() or None)
    )
    assert (await runtime.logs(workload.id)).strip() == str(os.geteuid())
    await runtime.remove(workload.id)


async def test_sandboxed_workloads_run_as_their_own_uid_in_their_own_home(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path, sandbox=Sandbox())
    script = 'id -u; pwd; touch "$HOME/mine" && echo home=rw; touch /usr/x 2>/dev/null || echo usr=ro; '
    script += 'ls "$HOME/../.." | wc -l'
    first, second = spec("sh", "-c", script), spec("sh", "-c", script)
    runs = [await runtime.run(first), await runtime.run(second)]
    logs = []
    for workload in runs:
        home = tmp_path / "workloads" / workload.id / "home"

        async def done(home: Path = home) -> bool | None:
            return (home / "mine").exists() or None

        await eventually(done)
        await asyncio.sleep(0.2)  # the last line follows the file
        logs.append((await runtime.logs(workload.id)).split())
        assert logs[-1][1:] == [str(home), "home=rw", "usr=ro", "1"], logs[-1]  # of the workloads, its own
    uids = {int(log[0]) for log in logs}
    assert len(uids) == 2  # one uid per owner
    assert all(uid >= 1_900_000_000 for uid in uids)  # never root's
    for workload in runs:
        await runtime.remove(workload.id)


async def test_a_workload_that_requires_isolation_is_refused_where_isolation_is_opted_out(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path, sandbox=None)
    runtime.admit(spec("true"))
    strict = msgspec.structs.replace(spec("sh", "-c", "touch ran"), require_isolation=True)
    with pytest.raises(Unprocessable) as refused:
        runtime.admit(strict)
    assert refused.value.code == "isolation_unavailable"
    assert "TESSERRA_PROCESS_ISOLATION=bubblewrap" in refused.value.message
    with pytest.raises(Unprocessable):
        await runtime.run(strict)
    assert await runtime.list() == []
