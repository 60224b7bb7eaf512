"""A dead node's process workloads, reached from another node on the same machine.

Every process of a node holds a shared ``flock`` on ``<data_dir>/node.lock`` for its life
(``hold_node_lock``); the kernel lets it go when the process dies, SIGKILL included. A node on the same
machine (the same boot id) that takes the lock exclusively, without waiting, knows no process of the
dead node is alive: only then does it remove the workload as the dead node's own process runtime
would (its record in the dead node's data dir; its process group signalled only if the pid still has
the recorded start time, so a reused pid is never hit). Otherwise (the node lives on, partitioned from
the database; another machine; a data dir out of reach) nothing is touched and the workload is left
for lost."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.process_children import boot_id
from tesserra_core.ports.nodes import Node
from tesserra_core.ports.secrets_at_rest import SecretBox

log = logging.getLogger("tesserra.nodes")

LOCK = "node.lock"


@contextlib.contextmanager
def hold_node_lock(data_dir: Path) -> Iterator[None]:
    """This process is one of its node's live processes for the life of the block."""
    fd = os.open(data_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


class SameMachineProcesses:
    def __init__(self, box: SecretBox | None, boot: str | None = None) -> None:
        """``boot``: this node's boot id as it advertises it (TESSERRA_BOOT_ID); the kernel's by default."""
        self._box = box
        self._boot = boot or boot_id()

    async def remove(self, node: Node, workload_id: str) -> bool:
        if not node.data_dir or node.boot_id is None or node.boot_id != self._boot:
            return False
        data_dir = Path(node.data_dir)
        try:
            fd = os.open(data_dir / LOCK, os.O_RDWR)
        except OSError:
            return False
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning(
                    "node %s is not dead (a process of it holds its lock): workload %s left", node.id, workload_id
                )
                return False
            await ProcessRuntime(data_dir, box=self._box).remove(workload_id)
            log.info("removed workload %s of dead node %s from its data dir %s", workload_id, node.id, data_dir)
            return True
        finally:
            os.close(fd)
