"""Carrying sandboxes through their transitions on the container runtime.

An action is three steps, each a short unit of work around the runtime call: record the transient
state the action passes through (compare-and-set on ``updated_at``: of two writers, one wins and the
other reads again), act on the runtime, then settle the final state, or ``error`` with the reason,
only if the row is still the one this action wrote. One sandbox is acted on by one task at a time
in this process (a per-sandbox lock); across processes the compare-and-set decides. Whatever a crash
leaves in a transient state, ``repair`` settles against what the runtime says.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from tesserra_core.domain.sandboxes import (
    TRANSIENT,
    Cause,
    Sandbox,
    SandboxAction,
    SandboxState,
    Step,
    owner_of,
    step,
)
from tesserra_core.errors import Conflict, describe, found
from tesserra_core.ports.nodes import Nodes, NoNodes
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadSpec, WorkloadState
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.sandbox_pool import Reserved, SandboxPool
from tesserra_core.usecases.sandbox_reads import SandboxReads
from tesserra_core.usecases.sandbox_upstream import DEAD_AFTER, UpstreamPorts
from tesserra_core.usecases.single_flight import KeyedLocks

log = logging.getLogger("tesserra.sandboxes")

ATTEMPTS = 5
"""How often an action re-reads a sandbox that changed under it before giving up (409 ``sandbox_busy``)."""
OOM_EXIT = 137
_DELETE = Step(SandboxState.DELETING, SandboxState.DELETED)
_STOP = Step(SandboxState.STOPPING, SandboxState.STOPPED)
_RENEWING = (SandboxAction.START, SandboxAction.RESTART, SandboxAction.DELETE)
"""Actions after which the sandbox's earlier connections and proxy tokens must not work: the generation moves on."""


def workload_spec(sandbox: Sandbox) -> WorkloadSpec:
    """What the runtime runs for a sandbox: isolated, its declared ports only and none published on the
    host (the proxy is the only way in), egress if the template asks."""
    t = sandbox.template
    return WorkloadSpec(
        owner=owner_of(sandbox.id),
        tenant_id=sandbox.tenant_id,
        image=t.image,
        command=t.command,
        env=dict(t.env),
        ports=t.ports,
        publish=False,
        network=t.network,
        memory_bytes=t.memory_mb * 1024 * 1024 if t.memory_mb is not None else None,
        cpus=t.cpus,
        require_isolation=True,
    )


class SandboxLifecycle:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        runtime: ContainerRuntime,
        clock: Clock,
        pool: SandboxPool | None = None,
        *,
        nodes: Nodes | None = None,
        node_id: str = "",
        node_dead_after: float = DEAD_AFTER,
    ) -> None:
        self.uow = uow
        self.runtime = runtime
        self.clock = clock
        self.pool = pool
        self.nodes = nodes or NoNodes()
        """Where a workload this node's runtime cannot see is looked up: another live node's is left to it."""
        self.node_id = node_id
        """Warm workloads a create claims when its template matches (off without one)."""
        self.reads = SandboxReads(uow, clock)
        """What the proxy checks requests against; told of every change this worker commits."""
        self.upstream = UpstreamPorts(
            runtime,
            self.nodes,
            node_id,
            now=lambda: clock.now().timestamp(),
            monotonic=clock.monotonic,
            dead_after=node_dead_after,
        )
        """Where the proxy forwards to; told where each sandbox this worker starts answers."""
        self._locks = KeyedLocks()

    def admit(self, sandbox: Sandbox) -> None:
        """Refuse now (422 ``isolation_unavailable``) a sandbox the runtime could not run isolated."""
        self.runtime.admit(workload_spec(sandbox))

    def reserve(self, sandbox: Sandbox) -> Reserved | None:
        """A warm pool's workload for ``sandbox``, resuming while the sandbox is recorded (``launch``
        claims it; ``release`` it if the sandbox is not recorded after all)."""
        return self.pool.reserve(workload_spec(sandbox)) if self.pool is not None else None

    def release(self, reserved: Reserved | None) -> None:
        if self.pool is not None:
            self.pool.release(reserved)

    async def launch(self, sandbox: Sandbox, reserved: Reserved | None = None) -> Sandbox:
        """Run a sandbox just recorded as ``creating``: ``running``, or ``error`` with the reason. A
        warm pool's workload of the same template is claimed when one is ready (``reserved`` first)."""
        async with self._locks.hold(sandbox.id):
            try:
                spec = workload_spec(sandbox)
                workload = await self.pool.claim(sandbox, spec, reserved) if self.pool is not None else None
                if workload is None:
                    workload = await self.runtime.run(spec)
            except Exception as exc:
                log.warning("creating sandbox %s failed: %s", sandbox.id, describe(exc))
                return await self._settle(sandbox, SandboxState.ERROR, Cause.ERROR, detail=describe(exc))
            settled = await self._settle(sandbox, SandboxState.RUNNING, Cause.REQUEST, workload_id=workload.id)
            if settled.workload_id != workload.id:  # deleted meanwhile: this workload belongs to nobody
                await self._remove_workloads(sandbox.id)
            elif settled.state is SandboxState.RUNNING:
                self.upstream.learn(settled, workload)
            return settled

    async def act(
        self,
        tenant_id: str,
        sandbox_id: str,
        action: SandboxAction,
        cause: Cause = Cause.REQUEST,
        *,
        only_if_due: bool = False,
    ) -> Sandbox:
        """Carry out ``action``; the sandbox as it then is. With ``only_if_due`` (the reaper), act only if
        the clocks, read again under the lock, still ask for this action."""
        async with self._locks.hold(sandbox_id):
            for _ in range(ATTEMPTS):
                async with self.uow(read_only=True) as uow:
                    current = found(
                        await uow.sandboxes.get(tenant_id, sandbox_id), "no such sandbox", code="sandbox_not_found"
                    )
                now = self.clock.now()
                if only_if_due and current.due(now) != (action, cause):
                    return current
                move = step(current.state, action)
                if action in (SandboxAction.START, SandboxAction.RESTART) and move is not None and current.expired(now):
                    raise Conflict(
                        "the sandbox's ttl has passed: PATCH a new ttl_seconds to start it again",
                        code="sandbox_expired",
                    )
                if move is None:  # a no-op; a caller's action still counts as activity
                    if cause is not Cause.REQUEST or current.state is SandboxState.DELETED:
                        return current
                    begun = current.touched(now)
                else:
                    begun = current.moved(
                        move.transient,
                        cause,
                        now,
                        action=action,
                        generation=current.generation + (1 if action in _RENEWING else 0),
                    )
                    if cause is Cause.REQUEST:
                        begun = begun.touched(now)
                async with self.uow() as uow:
                    stored = await uow.sandboxes.update(begun, if_updated_at=current.updated_at)
                    await uow.commit()
                if stored:
                    self.reads.changed(begun.id)
                    break
            else:
                raise Conflict("the sandbox kept changing during the action; retry", code="sandbox_busy")
            if move is None:
                return begun
            return await self._carry(begun, action, move, cause)

    async def repair(self, sandbox: Sandbox) -> Sandbox:
        """Settle a sandbox a crashed server left in a transient state, against the runtime."""
        async with self._locks.hold(sandbox.id):
            async with self.uow(read_only=True) as uow:
                current = await uow.sandboxes.find(sandbox.id)
            if current is None or current.updated_at != sandbox.updated_at:
                return current or sandbox  # someone is acting on it now
            state = current.state
            detail = f"the server stopped while the sandbox was {state}"
            if state is SandboxState.DELETING:
                return await self._carry(current, SandboxAction.DELETE, _DELETE, Cause.RECONCILE)
            if state is SandboxState.STOPPING:
                return await self._carry(current, SandboxAction.STOP, _STOP, Cause.RECONCILE)
            workload = await self._workload(current)
            if state is SandboxState.CREATING or workload is None or workload.state is not WorkloadState.RUNNING:
                await self._remove_workloads(current.id)
                return await self._settle(current, SandboxState.ERROR, Cause.RECONCILE, detail=detail, workload_id=None)
            settled = SandboxState.PAUSED if workload.paused else SandboxState.RUNNING
            return await self._settle(current, settled, Cause.RECONCILE, detail=detail)

    async def lost(self, sandbox_id: str, workload_id: str, detail: str) -> Sandbox | None:
        """The node that ran workload ``workload_id`` died: if the sandbox still runs on it (running,
        paused or in a transient state), its workload is removed where this node's runtime reaches it
        and the sandbox moves to ``error`` with ``detail`` (a deletion in progress is carried out); a
        sandbox stopped, in error or on another workload since is left as it is."""
        async with self._locks.hold(sandbox_id):
            async with self.uow(read_only=True) as uow:
                current = await uow.sandboxes.find(sandbox_id)
            if current is None or current.workload_id not in (workload_id, None):
                return current
            if current.state is SandboxState.DELETING:
                return await self._carry(current, SandboxAction.DELETE, _DELETE, Cause.RECONCILE)
            if current.state in (SandboxState.STOPPED, SandboxState.ERROR, SandboxState.DELETED):
                return current
            if current.workload_id is None and current.state not in TRANSIENT:
                return current
            await self._remove_workloads(current.id)
            return await self._settle(current, SandboxState.ERROR, Cause.RECONCILE, detail=detail, workload_id=None)

    async def check(self, sandbox: Sandbox) -> Sandbox:
        """A running or paused sandbox whose workload has gone or exited moves to ``error`` (``oom`` when
        the kernel killed it). A workload out of this node's sight that another node recorded is that
        node's to check, not gone."""
        if sandbox.state not in (SandboxState.RUNNING, SandboxState.PAUSED):
            return sandbox
        async with self._locks.hold(sandbox.id):
            workload = await self._workload(sandbox)
            if workload is not None and workload.state is WorkloadState.RUNNING:
                return sandbox
            if workload is None and await self._on_another_node(sandbox):
                return sandbox  # its node watches it (``WorkloadWatch``); if that node dies, ``lost``
            if workload is None:
                detail = (
                    f"its workload {sandbox.workload_id} is gone from the {self.runtime.name} runtime: removed "
                    "by something other than this deployment, which did not stop or delete the sandbox"
                )
                return await self._settle(sandbox, SandboxState.ERROR, Cause.ERROR, detail=detail, workload_id=None)
            code = workload.exit_code
            cause = Cause.OOM if code == OOM_EXIT else Cause.ERROR
            detail = (
                f"its workload exited (code {code})"
                if code is not None
                else f"its workload is not running ({workload.state})"
            )
            return await self._settle(sandbox, SandboxState.ERROR, cause, detail=detail)

    # -- the work ---------------------------------------------------------------------------------

    async def _carry(self, begun: Sandbox, action: SandboxAction, move: Step, cause: Cause) -> Sandbox:
        try:
            workload = await self._on_runtime(begun, action, move)
        except Exception as exc:
            log.warning("%s of sandbox %s failed: %s", action, begun.id, describe(exc))
            if (
                action is SandboxAction.DELETE
            ):  # stays deleting, with the reason: DELETE again or the reconciler retries
                return await self._settle(begun, SandboxState.DELETING, Cause.ERROR, detail=describe(exc))
            return await self._settle(begun, SandboxState.ERROR, Cause.ERROR, detail=describe(exc))
        changes: dict[str, Any] = {}
        if workload is not None:
            changes["workload_id"] = workload.id
        elif action is SandboxAction.DELETE:
            changes["workload_id"] = None
        return await self._settle(begun, move.final, cause, **changes)

    async def _on_runtime(self, sandbox: Sandbox, action: SandboxAction, move: Step) -> Workload | None:
        if action is SandboxAction.DELETE:
            await self._remove_workloads(sandbox.id)
            return None
        workload = await self._workload(sandbox)
        if move.fresh or workload is None:  # a new workload from the template: the old one goes first
            await self._remove_workloads(sandbox.id)
            return await self.runtime.run(workload_spec(sandbox))
        if action is SandboxAction.STOP:
            return await self.runtime.stop(workload.id)
        if action is SandboxAction.PAUSE:
            return await self.runtime.pause(workload.id)
        if action is SandboxAction.RESUME:
            return await self.runtime.resume(workload.id)
        started = await self.runtime.start(workload.id)  # start from stopped: the same workload, files kept
        return await self.runtime.resume(started.id) if started.paused else started

    async def _workload(self, sandbox: Sandbox) -> Workload | None:
        if sandbox.workload_id is None:
            return None
        return await self.runtime.inspect(sandbox.workload_id)

    async def _on_another_node(self, sandbox: Sandbox) -> bool:
        """Whether the sandbox's workload is recorded as another node's (which this runtime cannot see)."""
        if sandbox.workload_id is None:
            return False
        record = await self.nodes.workload(sandbox.workload_id)
        return record is not None and record.node_id != self.node_id

    async def _remove_workloads(self, sandbox_id: str) -> None:
        owner = owner_of(sandbox_id)
        for workload_id, workload in (await self.runtime.statuses(owner)).items():
            if workload.owner == owner:
                await self.runtime.remove(workload_id)

    async def _settle(
        self, begun: Sandbox, state: SandboxState, cause: Cause, *, detail: str = "", **changes: Any
    ) -> Sandbox:
        """Move to ``state`` if the row is still ``begun``; otherwise (deleted or acted on meanwhile)
        the row as it now is."""
        async with self.uow() as uow:
            current = found(await uow.sandboxes.find(begun.id), "no such sandbox", code="sandbox_not_found")
            if current.updated_at != begun.updated_at:
                return current
            settled = current.moved(state, cause, self.clock.now(), detail=detail, **changes)
            if state is SandboxState.RUNNING and current.state is not SandboxState.RUNNING:
                settled = msgspec.structs.replace(settled, last_activity_at=self.clock.now()).clocked()
            if await uow.sandboxes.update(settled, if_updated_at=current.updated_at):
                await uow.commit()
                self.reads.changed(begun.id, settled)
                return settled
        async with self.uow(read_only=True) as uow:
            return await uow.sandboxes.find(begun.id) or begun
