"""Where a tenant's entitlement comes from: a fixed free plan, or the billing subsystem."""

from __future__ import annotations

from typing import Protocol

from tesserra_core.domain.plans import Entitlement


class Entitlements(Protocol):
    async def of(self, tenant_id: str) -> Entitlement:
        """The tenant's current plan and limits (the free plan when it has no active subscription)."""
        ...
