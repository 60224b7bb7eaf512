"""Reconciling the installations' servers (for ``ToolServers``): removing the workloads no live
installation owns, and marking ``stopped`` the installations whose workload vanished (they start
again on next use)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tesserra_core.domain.tools import OWNER_PREFIX, InstallationStatus, installation_of
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.usecases.reconcile import ReconcileWorkloads


class HeldServers(Protocol):
    """What reconciling asks of the servers this process holds (``ToolServers``)."""

    def removing(self, installation_id: str) -> bool:
        """The installation was removed through this process."""
        ...

    def holds(self, installation_id: str) -> bool:
        """This process holds a session for the installation, open or not."""
        ...

    def serving(self, installation_id: str) -> bool:
        """This process holds an open session for the installation."""
        ...

    def busy(self, installation_id: str) -> bool: ...

    async def forget(self, installation_id: str) -> None: ...

    async def mark(self, installation_id: str, status: InstallationStatus, reason: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class ReconcileInstallations:
    uow: UnitOfWorkFactory
    runtime: ContainerRuntime
    servers: HeldServers

    async def __call__(self, *, full: bool = True) -> tuple[int, int]:
        """Remove workloads no live installation owns; mark installations whose workload vanished
        ``stopped``. Returns (workloads removed, installations marked).

        ``full`` (at start-up): an installation ought to have a workload only when this process
        serves it or is starting it; any other ``installation:`` workload is a stray (its
        installation is gone, or its server outlived the process that served it, and its stdio with
        it). Otherwise (the periodic pass) the workload a ready installation records is left alone,
        whoever serves it (another worker may), and only workloads of removed installations, or
        ones no installation records, go; only a ready installation whose recorded workload is gone
        is marked."""
        servers = self.servers
        async with self.uow(read_only=True) as uow:
            before = {i.id: i for i in await uow.installations.all()}

        async def live_owners() -> set[str]:
            async with self.uow(read_only=True) as uow:
                existing = {i.id: i for i in await uow.installations.all()}
            return {
                f"{OWNER_PREFIX}{i}"
                for i, installation in existing.items()
                if not servers.removing(i)
                and (
                    servers.holds(i)
                    or servers.busy(i)
                    or (not full and installation.status is InstallationStatus.READY and installation.workload_id)
                )
            }

        outcome = await ReconcileWorkloads(self.runtime)(OWNER_PREFIX, live_owners)
        for owner in outcome.missing:
            installation_id = installation_of(owner) or ""
            if not servers.busy(installation_id):
                await servers.forget(installation_id)
        present = set(await self.runtime.statuses(OWNER_PREFIX)) if not full else set()
        async with self.uow(read_only=True) as uow:
            installations = await uow.installations.all()
        marked = 0
        for installation in installations:
            if servers.serving(installation.id) or servers.busy(installation.id):
                continue
            if full:
                stale = installation.status in (InstallationStatus.READY, InstallationStatus.INSTALLING)
            else:
                stale = installation.status is InstallationStatus.READY and installation.workload_id not in present
                stale = stale and before.get(installation.id) == installation  # unchanged while we looked
            if stale:
                await servers.forget(installation.id)
                await servers.mark(
                    installation.id,
                    InstallationStatus.STOPPED,
                    "the server's workload vanished; it starts again on next use",
                )
                marked += 1
        return len(outcome.removed), marked
