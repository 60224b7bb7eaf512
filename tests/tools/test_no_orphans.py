"""No orphans: after 200 concurrent tool calls mixed with timeouts, crashes, random cancellations
and deletes, every process belongs to a live installation and none is left a zombie."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.tools import InstallScope, installation_of
from tesserra_core.errors import TesserraError
from tesserra_core.facade import UseCases
from tesserra_core.usecases.installations import InstallRequest, ToolCall
from tests.tools.helpers import PROBE, SECRET, settled
from tests.unit.helpers import Team

CALLS = 200


def probe_processes() -> dict[int, str]:
    """pid -> state letter of every process running the probe server (any parent)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if cmdline.split(b"\0")[0].endswith(b"bwrap"):  # the sandbox around it, not the server
            continue
        if b"probe_server.py" in cmdline or b"tesserra-probe" in cmdline:
            found[int(entry.name)] = stat[stat.rfind(")") + 2]
    return found


def zombie_children() -> dict[int, str]:
    """This process's children that exited and were not reaped, with their command names."""
    me = str(os.getpid())
    zombies = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[1] == me and fields[0] == "Z":
            zombies[int(entry.name)] = stat[stat.find("(") + 1 : stat.rfind(")")]
    return zombies


async def test_concurrent_calls_cancellations_crashes_and_deletes_leave_no_orphans(uc: UseCases, team: Team) -> None:
    rng = random.Random(20261122)
    owner: Principal = team.owner
    # What other tests' servers still hold (a session's fixtures outlive their tests) is not this test's.
    earlier, other_probes = zombie_children(), probe_processes()
    request = InstallRequest(config={"PROBE_TOKEN": SECRET}, scope=InstallScope.TENANT)
    installations = [(await uc.installations.install(owner, PROBE, request)).id for _ in range(5)]
    for installation_id in installations:
        assert (await settled(uc, owner, installation_id)).status == "ready"
    doomed = set(installations[:2])

    async def one_call(n: int) -> str:
        installation_id = rng.choice(installations)
        roll = rng.random()
        await asyncio.sleep(rng.uniform(0, 0.8))  # spread out: later calls restart crashed servers
        if roll < 0.03:
            call = ToolCall(name="crash")
        elif roll < 0.15:
            call = ToolCall(name="slow", arguments={"seconds": 2}, timeout=0.2)
        elif roll < 0.6:
            call = ToolCall(name="slow", arguments={"seconds": rng.uniform(0, 0.3)})
        else:
            call = ToolCall(name="echo", arguments={"text": f"call {n}"})
        result = await uc.installations.call_tool(owner, installation_id, call)
        if call.name == "echo":
            assert result.content[0]["text"] == f"call {n}"
        return "ok"

    async def delete_later(installation_id: str, after: float) -> None:
        await asyncio.sleep(after)
        await uc.installations.remove(owner, installation_id)

    async def install_and_delete() -> None:
        # An install that is deleted while it is still starting.
        view = await uc.installations.install(owner, PROBE, request)
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        await uc.installations.remove(owner, view.id)

    tasks = [asyncio.create_task(one_call(n)) for n in range(CALLS)]
    chores = [
        *(asyncio.create_task(delete_later(i, rng.uniform(0.1, 0.8))) for i in doomed),
        asyncio.create_task(install_and_delete()),
        asyncio.create_task(install_and_delete()),
    ]
    for task in rng.sample(tasks, CALLS // 4):
        asyncio.get_running_loop().call_later(rng.uniform(0.0, 0.6), task.cancel)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*chores)

    unexpected = [o for o in outcomes if not (o == "ok" or isinstance(o, (TesserraError, asyncio.CancelledError)))]
    assert unexpected == []
    codes = {o.code for o in outcomes if isinstance(o, TesserraError)}
    assert codes <= {
        "tool_call_timeout",
        "tool_server_crashed",
        "tool_server_gone",
        "installation_not_found",
        "installation_installing",
        "installation_failed",
        "tool_server_unavailable",
    }, codes
    # Calls in flight on a server that crashes all fail; the others succeed.
    assert sum(o == "ok" for o in outcomes) >= CALLS // 5

    await uc.tool_servers.reconcile()
    await asyncio.sleep(0.5)  # let the runtime's reapers collect the last exits
    live = {
        i.id
        for i in (
            await uc.installations.list(owner, __import__("tesserra_core.domain.paging", fromlist=["x"]).PageRequest())
        ).items
    }
    assert live == set(installations) - doomed
    workloads = await uc.ports.runtime.list("installation:")
    owners = [installation_of(w.owner) for w in workloads]
    assert set(owners) <= live
    assert len(owners) == len(set(owners))  # at most one workload per installation
    running = [w for w in workloads if w.state == "running"]
    processes = {pid: state for pid, state in probe_processes().items() if pid not in other_probes}
    assert len(processes) == len(running), (processes, running)
    assert "Z" not in processes.values()
    for _ in range(50):  # a child that has just exited is reaped by the event loop's watcher soon after
        if not zombie_children().keys() - earlier.keys():
            break
        await asyncio.sleep(0.1)
    left = {pid: name for pid, name in zombie_children().items() if pid not in earlier}
    assert left == {}, left
    # Every surviving installation still answers.
    for installation_id in live:
        echoed = await uc.installations.call_tool(
            owner, installation_id, ToolCall(name="echo", arguments={"text": "!"})
        )
        assert echoed.content[0]["text"] == "!"
