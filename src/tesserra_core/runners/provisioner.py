"""The provisioner: drives each resource toward what it should be, in the background.

    pending/provisioning -> (container types: a workload of the runtime, owner ``resource:<id>``)
                         -> running (with its endpoint) | failed (with the reason)
    deleting             -> workload removed, row deleted

Every step reads the resource's current row first and writes its outcome in its own transaction,
so a failure is always recorded and never lost. One resource is worked on by one task at a time
(a per-resource lock); asking again while a task runs queues one more pass: that work runs on the node
that took the request. Reconciling is cluster-wide and runs once, under lease ``provisioner``: when
its holder takes the lease, ``reconcile`` resumes every resource left pending, provisioning or deleting
(when no other node is alive: a previous process of this node left them; otherwise those unchanged for
``stale_after`` seconds) and removes workloads whose resource no longer exists; then every
``interval`` seconds it removes such strays and resumes resources unsettled for ``stale_after``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from tesserra_core.domain.catalog import Kind, catalog
from tesserra_core.domain.resources import Resource, ResourceStatus, next_version, owner_of, reason
from tesserra_core.errors import describe
from tesserra_core.ports.leases import FENCE, still_held
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadSpec
from tesserra_core.ports.system import Clock
from tesserra_core.runners.leased import LeaseTerms, leased_rounds

log = logging.getLogger("tesserra.provisioner")

OWNER_PREFIX = "resource:"
LEASE = "provisioner"
LOGICAL_NOTE = "provisioned as a logical resource: recorded, with no process of its own on this server"


def workload_spec(resource: Resource) -> WorkloadSpec:
    """What the runtime runs for a container-type resource."""
    config = resource.config
    env = dict(config.get("env") or {})
    if "schedule" in config:
        env["CRON_SCHEDULE"] = str(config["schedule"])
    port = config.get("port")
    memory_mb = config.get("memory_mb")
    return WorkloadSpec(
        owner=owner_of(resource.id),
        tenant_id=resource.tenant_id,
        image=config["image"],
        command=tuple(config.get("command") or ()),
        env=env,
        ports=(int(port),) if port is not None else (),
        network=True,
        memory_bytes=int(memory_mb) * 1024 * 1024 if memory_mb is not None else None,
        cpus=float(config["cpus"]) if config.get("cpus") is not None else None,
    )


def endpoint_of(resource: Resource, workload: Workload) -> str | None:
    port = resource.config.get("port")
    if port is None:
        return None
    host_port = workload.ports.get(int(port))
    return f"http://127.0.0.1:{host_port}" if host_port else None


def _stray(workload_id: str, live: Resource | None) -> bool:
    """A workload nobody will use: its resource is gone, or settled on another workload. One whose
    resource is being provisioned (maybe by another worker, right now) is left to that work."""
    if live is None:
        return True
    if live.status in (ResourceStatus.PENDING, ResourceStatus.PROVISIONING):
        return False
    return live.status is ResourceStatus.DELETING or live.workload_id != workload_id


class Provisioner:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        runtime: ContainerRuntime,
        clock: Clock,
        *,
        lease: LeaseTerms | None = None,
        others_alive: Callable[[], Awaitable[bool]] | None = None,
        interval: float = 30.0,
        stale_after: float = 120.0,
    ) -> None:
        self.uow = uow
        self.runtime = runtime
        self.clock = clock
        self.lease = lease or LeaseTerms()
        self.others_alive = others_alive
        self.interval = interval
        self.stale_after = stale_after
        self._generation: int | None = None
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- what use cases call ---------------------------------------------------------------

    def admit(self, resource: Resource) -> None:
        """Refuse now (``Unprocessable``) a container resource the runtime could not run isolated."""
        if catalog().get(resource.type).kind is not Kind.LOGICAL:
            self.runtime.admit(workload_spec(resource))

    def schedule(self, resource_id: str) -> None:
        """Work on the resource in the background, from whatever its row says now."""
        self._spawn(self._settle(resource_id))

    def release(self, resources: Sequence[Resource]) -> None:
        """Remove the workloads of resources whose rows are already gone (a deleted project)."""
        for resource in resources:
            self._spawn(self._release(resource.id))

    async def stop(self, resource: Resource) -> None:
        """Stop a container resource's workload now (the caller records ``stopped``)."""
        if resource.workload_id is not None:
            async with self._exclusive(resource.id):
                await self.runtime.stop(resource.workload_id)

    async def settled(self) -> None:
        """Wait until no background work is left (tests; a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @contextlib.asynccontextmanager
    async def running(self, *, grace: float = 5.0) -> AsyncIterator[Provisioner]:
        """Reconcile under the lease (see the module); at the end, give background work ``grace``
        seconds, then cancel it (what it left unsettled is resumed by the lease's next holder)."""
        try:
            async with leased_rounds(LEASE, self._round, self.interval, self.lease, "provisioner round failed"):
                yield self
        finally:
            if self._tasks:
                _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)

    async def _round(self) -> None:
        fence = FENCE.get()
        generation = fence.generation if fence is not None else None
        if generation != self._generation:  # the lease was (re)taken
            alone = self.others_alive is None or not await self.others_alive()
            await self.reconcile(older_than=0.0 if alone else self.stale_after)
            self._generation = generation
        else:
            await self.reconcile(older_than=self.stale_after)

    async def reconcile(self, *, older_than: float = 0.0) -> int:
        """Resume every resource unsettled (for ``older_than`` seconds at least), and remove workloads
        whose resource is gone. Returns how many resources were resumed."""
        stale = self.clock.now() - timedelta(seconds=older_than)
        async with self.uow(read_only=True) as uow:
            unsettled = [r for r in await uow.resources.unsettled() if not older_than or r.updated_at <= stale]
        for resource in unsettled:
            self.schedule(resource.id)
        workloads = await self.runtime.statuses(OWNER_PREFIX)
        async with self.uow(read_only=True) as uow:  # one read for all: a stray stays one
            resources = {
                wid: await uow.resources.find(w.owner.removeprefix(OWNER_PREFIX)) for wid, w in workloads.items()
            }
        for workload_id, workload in workloads.items():
            if _stray(workload_id, resources[workload_id]):
                still_held()
                log.info("removing stray workload %s of %s", workload_id, workload.owner)
                await self.runtime.remove(workload_id)
        return len(unsettled)

    async def lost(self, resource_id: str, workload_id: str, detail: str) -> None:
        """The node that ran workload ``workload_id`` died: a resource still settled on it is provisioned
        again (here), its old workload removed where this node's runtime reaches it."""
        async with self.uow(read_only=True) as uow:
            resource = await uow.resources.find(resource_id)
        if resource is None or resource.workload_id != workload_id:
            return
        if resource.status in (ResourceStatus.RUNNING, ResourceStatus.STOPPED):
            moved = await self._record(
                resource_id,
                ResourceStatus.PENDING,
                detail,
                version=resource.updated_at,
                workload_id=None,
                endpoint=None,
            )
            if moved is None:
                return
        self.schedule(resource_id)

    # --- the work --------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        # A resource's own work is kept right by compare-and-set on its row, whoever runs it: it is not
        # fenced by the lease of a round that happened to ask for it (and outlives that round).
        context = contextvars.copy_context()
        context.run(FENCE.set, None)
        task = asyncio.get_running_loop().create_task(work, context=context)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def _exclusive(self, resource_id: str) -> AsyncIterator[None]:
        """One task at a time per resource; the lock is forgotten when nobody holds or awaits it."""
        lock, users = self._locks.setdefault(resource_id, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[resource_id]

    async def _settle(self, resource_id: str) -> None:
        async with self._exclusive(resource_id):
            try:
                await self._step(resource_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("provisioning %s failed: %s", resource_id, describe(exc))
                try:
                    await self._record(resource_id, ResourceStatus.FAILED, describe(exc))
                except Exception:  # the store is down too: the row stays unsettled, the next start retries
                    log.exception("could not record the failure of %s", resource_id)

    async def _step(self, resource_id: str) -> None:
        async with self.uow(read_only=True) as uow:
            resource = await uow.resources.find(resource_id)
        if resource is None:
            await self._remove_workloads(resource_id)
            return
        if resource.status is ResourceStatus.DELETING:
            await self._remove_workloads(resource_id)
            async with self.uow() as uow:
                await uow.resources.delete(resource.tenant_id, resource.id)
                await uow.commit()
            return
        if resource.status not in (ResourceStatus.PENDING, ResourceStatus.PROVISIONING):
            return
        # Claimed only if the row is still the one read (compare-and-set on updated_at): of two
        # workers resuming the same resource after a restart, one moves it on.
        claimed = msgspec.structs.replace(
            resource,
            status=ResourceStatus.PROVISIONING,
            status_reason="",
            updated_at=next_version(self.clock.now(), resource.updated_at),
        )
        async with self.uow() as uow:
            if not await uow.resources.update(claimed, if_updated_at=resource.updated_at):
                return
            await uow.commit()
        try:
            await self._provision(claimed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("provisioning %s failed: %s", resource_id, describe(exc))
            if (
                await self._record(resource_id, ResourceStatus.FAILED, describe(exc), version=claimed.updated_at)
                is None
            ):
                self.schedule(resource_id)  # changed meanwhile: look again

    async def _provision(self, claimed: Resource) -> None:
        """Make a claimed resource run. Every outcome is written only if the row is still the claimed
        one (``version``): if a use case changed it meanwhile, its own scheduled pass takes over."""
        version = claimed.updated_at
        if catalog().get(claimed.type).kind is Kind.LOGICAL:
            if await self._record(claimed.id, ResourceStatus.RUNNING, LOGICAL_NOTE, version=version) is None:
                self.schedule(claimed.id)  # changed meanwhile: look again
            return
        # Start from a clean slate: a previous attempt (or a crashed process) may have left one.
        await self._remove_workloads(claimed.id)
        workload = await self.runtime.run(workload_spec(claimed))
        done = await self._record(
            claimed.id,
            ResourceStatus.RUNNING,
            "",
            version=version,
            workload_id=workload.id,
            endpoint=endpoint_of(claimed, workload),
        )
        if done is None:  # deleted or changed meanwhile: this workload belongs to nobody; look again
            await self.runtime.remove(workload.id)
            self.schedule(claimed.id)

    async def _release(self, resource_id: str) -> None:
        try:
            await self._remove_workloads(resource_id)
        except Exception as exc:  # reaped as a stray on the next start
            log.warning("removing the workloads of deleted resource %s failed: %s", resource_id, describe(exc))

    async def _remove_workloads(self, resource_id: str) -> None:
        for workload_id, workload in (await self.runtime.statuses(owner_of(resource_id))).items():
            if workload.owner == owner_of(resource_id):
                await self.runtime.remove(workload_id)

    async def _record(
        self,
        resource_id: str,
        status: ResourceStatus,
        why: str,
        *,
        version: datetime | None = None,
        **fields: Any,
    ) -> Resource | None:
        """Write the status (and fields) if the resource still exists (and, given ``version``, is
        still at that ``updated_at``: nobody changed it since). A failure met while it is being
        deleted keeps it ``deleting`` (a restart retries) with the reason. Compare-and-set: if the
        row changes between reading and writing, decide again."""
        for _ in range(5):
            async with self.uow() as uow:
                resource = await uow.resources.find(resource_id)
                if resource is None:
                    return None
                changes: dict[str, Any] = dict(fields)
                new_status = status
                if resource.status is ResourceStatus.DELETING:
                    if status is not ResourceStatus.FAILED:
                        return None
                    new_status, changes = ResourceStatus.DELETING, {}  # stays deleting (retried), with the reason
                elif version is not None and resource.updated_at != version:
                    return None
                updated = msgspec.structs.replace(
                    resource,
                    status=new_status,
                    status_reason=reason(why) if why else why,
                    updated_at=next_version(self.clock.now(), resource.updated_at),
                    **changes,
                )
                if await uow.resources.update(updated, if_updated_at=resource.updated_at):
                    await uow.commit()
                    return updated
        return None
