"""A dead node's process workload, reached from another node on the same machine (issue 15): killed by
its recorded pid and start time only when no process of that node holds its lock (the node is truly
dead); while one does, or from another boot, it is left alone."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tesserra_adapters.runtime.foreign import SameMachineProcesses, hold_node_lock
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.process_children import boot_id, process_start
from tesserra_core.ports.nodes import Node
from tesserra_core.ports.runtime import WorkloadSpec


def _node(data_dir: Path, boot: str | None) -> Node:
    now = time.time()
    return Node(id="dead", name="here", started_at=now, beat_at=now, data_dir=str(data_dir), boot_id=boot)


async def test_a_dead_nodes_process_is_killed_only_once_no_process_of_it_is_alive(tmp_path: Path) -> None:
    dead_dir = tmp_path / "dead"
    dead_dir.mkdir()
    runtime = ProcessRuntime(dead_dir)  # the dead node's own runtime, unisolated (trusted ``sleep``)
    workload = await runtime.run(WorkloadSpec(owner="sandbox:x", tenant_id="t", command=("sleep", "60")))
    record = (dead_dir / "workloads" / workload.id / "workload.json").read_text()
    pid = int(record.split('"pid":')[1].split(",")[0])
    assert process_start(pid) is not None
    foreign = SameMachineProcesses(None)
    try:
        with hold_node_lock(dead_dir):  # a process of that node is alive (partitioned, not dead)
            assert not await foreign.remove(_node(dead_dir, boot_id()), workload.id)
        assert process_start(pid) is not None
        assert not await foreign.remove(_node(dead_dir, "another-boot"), workload.id)  # another machine or boot
        assert not await foreign.remove(_node(tmp_path / "elsewhere", boot_id()), workload.id)  # out of reach
        assert process_start(pid) is not None

        assert await foreign.remove(_node(dead_dir, boot_id()), workload.id)  # the lock is free: truly dead
        state = process_start(pid)
        assert state is None or state[0] == "Z", state
        assert not (dead_dir / "workloads" / workload.id).exists()
        assert await foreign.remove(_node(dead_dir, boot_id()), workload.id)  # already gone: no error
    finally:
        if process_start(pid) is not None:
            os.killpg(pid, 9)
        await runtime.aclose()
