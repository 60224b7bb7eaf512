"""Sandboxes on the real process runtime (bubblewrap and pasta) across a server that dies mid-create:
the workload it started outlives it, and the next server's reconciler settles the sandbox to error and
ends every process the crash left, before the sandbox is restarted and deleted without a trace."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import msgspec

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_core.domain.sandboxes import Cause, SandboxAction, SandboxState, owner_of
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sandbox_views import NewSandbox
from tesserra_core.usecases.sessions import Credentials
from tests import support
from tests.drivers.http.test_sandboxes import no_process_with, processes_with

EMAIL, PASSWORD = "owner@process.tesserra.test", "process-password-1"


async def _server(tmp_path: Path, store: MemoryUnitOfWorkFactory, stack: AsyncExitStack) -> UseCases:
    """A server over the shared store with a fresh process runtime (what a restart starts with)."""
    sandbox = Sandbox()
    if sandbox.problem is not None:
        support.missing("the process sandbox", sandbox.problem)
    settings = support.test_settings(tmp_path, "sqlite+aiosqlite://")
    runtime = ProcessRuntime(tmp_path, sandbox=sandbox)
    return await build(memory_ports(settings, stack, uow=store, runtime=runtime), settings)


async def test_a_crash_mid_create_leaves_no_process_after_the_next_start(tmp_path: Path) -> None:
    store = MemoryUnitOfWorkFactory()
    marker = uuid.uuid4().hex
    async with AsyncExitStack() as stack:
        first = await _server(tmp_path, store, stack)
        assert await first.operators.ensure_first_owner(EMAIL, PASSWORD)
        owner = await first.authenticate((await first.sessions.login(Credentials(EMAIL, PASSWORD))).access_token)
        cmd = {"name": "crash", "command": ["sleep", "300"], "env": [{"name": "MARKER", "value": marker}]}
        box = await first.sandboxes.create(owner, msgspec.convert(cmd, NewSandbox))
        assert box.state is SandboxState.RUNNING, box.state_reason
        assert processes_with(marker) != []
        async with store() as uow:  # the row as a server killed between the run and the settle leaves it
            stored = await uow.sandboxes.find(box.id)
            assert stored is not None
            await uow.sandboxes.update(msgspec.structs.replace(stored, state=SandboxState.CREATING, workload_id=None))
            await uow.commit()

        second = await _server(tmp_path, store, stack)
        assert await second.sandbox_reaper.reconcile() == 1
        repaired = await second.sandboxes.get(owner, box.id)
        assert repaired.state is SandboxState.ERROR
        assert repaired.events[-1].cause is Cause.RECONCILE
        assert await no_process_with(marker)
        assert await second.ports.runtime.list(owner_of(box.id)) == []
        restarted = await second.sandboxes.action(owner, box.id, SandboxAction.RESTART)
        assert restarted.state is SandboxState.RUNNING
        assert processes_with(marker) != []
        assert (await second.sandboxes.delete(owner, box.id)).state is SandboxState.DELETED
        assert await no_process_with(marker)
