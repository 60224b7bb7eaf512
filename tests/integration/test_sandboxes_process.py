"""Sandboxes on the real process runtime (bubblewrap and pasta) across a server that dies mid-create:
the workload it started outlives it, and the next server's reconciler settles the sandbox to error and
ends every process the crash left, before the sandbox is restarted and deleted without a trace."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import msgspec

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.http_probe import httpx_probe
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import UIDS_DIR, Sandbox
from tesserra_core.domain.sandboxes import Cause, SandboxAction, SandboxState, owner_of
from tesserra_core.facade import UseCases
from tesserra_core.ports.runtime import Workload
from tesserra_core.usecases.sandbox_pool import POOL_OWNER
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
        assert await _eventually_running(marker)  # the command may not have replaced bubblewrap yet
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
        assert await _eventually_running(marker)
        assert (await second.sandboxes.delete(owner, box.id)).state is SandboxState.DELETED
        assert await no_process_with(marker)


async def _eventually_running(marker: str) -> list[int]:
    async def found() -> list[int] | None:
        return processes_with(marker) or None

    return await support.eventually(found, within=15)


ECHO = Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py"


async def test_a_warm_pool_sandbox_is_handed_over_whole(tmp_path: Path) -> None:
    """With a pool, the second create of a template claims a paused echo server the pool started: it
    is now the sandbox's (its record, its uid), answers at once on its port, and leaves no process
    behind when deleted; the pool's own workloads end with the server."""
    store = MemoryUnitOfWorkFactory()
    async with AsyncExitStack() as stack:
        uc = await _server(tmp_path, store, stack)
        uc.sandbox_pool.size = 1
        uc.sandbox_pool.probe = await stack.enter_async_context(httpx_probe())
        await stack.enter_async_context(uc.sandbox_pool.running())
        assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
        owner = await uc.authenticate((await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token)
        marker = uuid.uuid4().hex
        template = {"name": "echo", "command": [str(ECHO)], "ports": [8000], "env": [{"name": "M", "value": marker}]}
        cold = await uc.sandboxes.create(owner, msgspec.convert(template, NewSandbox))
        runtime = uc.ports.runtime

        async def pooled() -> list[Workload] | None:
            ready = [w for w in await runtime.list(POOL_OWNER) if w.paused]
            return ready or None

        [waiting] = await support.eventually(pooled, within=30)
        warm = await uc.sandboxes.create(owner, msgspec.convert(template, NewSandbox))
        assert warm.state is SandboxState.RUNNING
        [mine] = await runtime.list(owner_of(warm.id))
        assert mine.id == waiting.id
        assert not mine.paused
        assert mine.tenant_id == owner.tenant_id
        uid_markers = {p.read_text() for p in UIDS_DIR.iterdir() if p.name.isdigit()}
        assert owner_of(warm.id) in uid_markers
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            answer = await client.get(f"http://{mine.address}:{mine.ports[8000]}/")
        assert answer.status_code == 200  # serving already: no start-up after the claim
        for box in (cold, warm):
            await uc.sandboxes.delete(owner, box.id)
        assert await runtime.list(owner_of(warm.id)) == []
    assert await no_process_with(marker)
