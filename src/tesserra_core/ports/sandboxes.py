"""Persistence of sandboxes: one row per sandbox, its events with it, kept (as ``deleted``) after deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import Sandbox, SandboxState


class SandboxRepository(Protocol):
    async def add(self, sandbox: Sandbox) -> None: ...

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        """The tenant's sandbox; another tenant's is None, like a missing one."""
        ...

    async def find(self, sandbox_id: str) -> Sandbox | None:
        """Any tenant's sandbox: for the runners, which act for the platform, never for a caller."""
        ...

    async def update(self, sandbox: Sandbox, *, if_updated_at: datetime | None = None) -> bool:
        """Store the changes; with ``if_updated_at``, only if the stored row still has that
        ``updated_at`` (compare-and-set). True if stored."""
        ...

    async def count(self, tenant_id: str) -> int:
        """The tenant's sandboxes that are not deleted (what the plan limits)."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[Sandbox]:
        """Sandboxes of any tenant whose clocks may ask for an action at ``now`` (``Sandbox.due`` decides):
        not deleted nor deleting, and past ``expires_at`` (running, paused or in error; or any state when
        ``on_ttl`` is delete) or, running, past ``idle_expires_at``. Earliest deadline first."""
        ...

    async def unsettled(self) -> list[Sandbox]:
        """Every sandbox, of any tenant, in a transient state: what a reconciler settles."""
        ...

    async def live(self) -> list[Sandbox]:
        """Every sandbox of any tenant that is not deleted (the reconciler matches workloads to them)."""
        ...

    async def list(
        self, tenant_id: str, page: PageRequest, state: SandboxState | None = None
    ) -> tuple[list[Sandbox], int]:
        """A page of the tenant's sandboxes that are not deleted (only those in ``state`` if given), newest
        first, and the total."""
        ...
