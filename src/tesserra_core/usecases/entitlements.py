"""Entitlements from the stored subscription and plans, cached per tenant.

Every creating use case reads them, so they are cached for ``ttl`` seconds per tenant, tagged with
the tenant's billing tag: when a webhook changes a subscription the processing worker publishes that
tag on the revocation feed, and every worker's ``RevocationWatcher`` evicts it within one poll. The
TTL bounds staleness should a publication ever be missed (e.g. a period ending with no event).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tesserra_core.domain.billing import current_subscription
from tesserra_core.domain.plans import FREE_LIMITS, Entitlement
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.caching import Fresh, TaggedCache

FREE_PLAN = "free"


def billing_tag(tenant_id: str) -> str:
    """What evicts a tenant's cached entitlement (kind ``billing`` on the revocation feed)."""
    return f"billing:{tenant_id}"


async def entitlement_of(uow: UnitOfWork, tenant_id: str) -> Entitlement:
    """Active or trialing subscription: its plan's limits. Otherwise the plan coded ``free`` (or FREE_LIMITS)."""
    subscription = current_subscription(await uow.subscriptions.for_tenant(tenant_id))
    if subscription is not None and subscription.status.entitles and subscription.plan_id is not None:
        plan = await uow.plans.get(subscription.plan_id)
        if plan is not None:
            return Entitlement(plan=plan.code, limits=plan.limits, subscribed=True)
    free = await uow.plans.get_by_code(FREE_PLAN)
    return Entitlement(plan=FREE_PLAN, limits=free.limits if free is not None else FREE_LIMITS, subscribed=False)


@dataclass
class StoredEntitlements:
    """The ``Entitlements`` port, computed from the database; also an evictable cache (see CacheSet)."""

    uow: UnitOfWorkFactory
    clock: Clock
    ttl: float = 60.0
    cache: TaggedCache[Entitlement] = field(default_factory=lambda: TaggedCache(max_entries=50_000))

    async def of(self, tenant_id: str) -> Entitlement:
        now = self.clock.monotonic()

        async def compute() -> Fresh[Entitlement]:
            async with self.uow(read_only=True) as uow:
                entitlement = await entitlement_of(uow, tenant_id)
            return entitlement, now + self.ttl, (billing_tag(tenant_id),)

        return await self.cache.fetch(tenant_id, now, compute)

    def evict(self, tag: str) -> None:
        self.cache.evict(tag)
