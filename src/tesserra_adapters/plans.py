"""The entitlement adapter used until billing decides: every tenant on one fixed plan."""

from __future__ import annotations

from tesserra_core.domain.plans import FREE_LIMITS, Entitlement, PlanLimits


class FixedEntitlements:
    """Every tenant gets ``limits`` under plan ``plan`` (by default the free plan, unsubscribed)."""

    def __init__(self, limits: PlanLimits = FREE_LIMITS, *, plan: str = "free", subscribed: bool = False) -> None:
        self._entitlement = Entitlement(plan=plan, limits=limits, subscribed=subscribed)

    async def of(self, tenant_id: str) -> Entitlement:
        return self._entitlement
