"""Signed audit checkpoints, kept outside the database: where each tenant's chain stood, signed by this
server's key, so that a chain rewritten consistently, or cut short, in the database no longer matches."""

from __future__ import annotations

from typing import Protocol

from tesserra_core.domain.infra_ssh_audit import Checkpoint


class AuditCheckpoints(Protocol):
    async def keep(self, checkpoint: Checkpoint) -> Checkpoint:
        """Sign the checkpoint with the server's key and keep it; the signed checkpoint."""
        ...

    async def of_tenant(self, tenant_id: str) -> list[Checkpoint]:
        """The tenant's checkpoints as kept (whatever their signature), in ``seq`` order."""
        ...

    async def last_seq(self, tenant_id: str) -> int:
        """The highest ``seq`` of the tenant's checkpoints; 0 without one."""
        ...

    def genuine(self, checkpoint: Checkpoint) -> bool:
        """Whether the checkpoint's signature is the server key's over its content."""
        ...
