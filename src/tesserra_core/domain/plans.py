"""What a tenant's plan allows: quotas, and whether it holds a paying subscription."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tesserra_core.errors import PaymentRequired

Limit = Annotated[int, msgspec.Meta(ge=0)] | None
"""A quota: 0 or more, or None (unlimited)."""


class PlanLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Quotas of one plan. ``None`` means unlimited."""

    projects: Limit = 3
    resources: Limit = 10
    domains: Limit = 1
    mailboxes: Limit = 5
    storage_bytes: Limit = 1024**3
    agents: Limit = 1
    installations: Limit = 3
    sandboxes: Limit = 3
    sandbox_ttl_seconds: Limit = 24 * 3600
    """The longest ``ttl_seconds`` a sandbox may have."""
    chat_tokens_per_month: Limit = 2_000_000
    """Completion tokens the tenant's agents may produce in a calendar month (UTC); 402 beyond."""
    chat_tool_calls_per_month: Limit = 20_000
    """Tool calls the tenant's agents may make in a calendar month (UTC); 402 beyond."""
    chat_tokens_per_user_per_day: Limit = 200_000
    """Completion tokens one user's answers may take in a day (UTC); 429 beyond, until the next day."""
    chat_tool_calls_per_user_per_day: Limit = 2_000
    """Tool calls one user's answers may make in a day (UTC); 429 beyond, until the next day."""


FREE_LIMITS = PlanLimits()
"""The free plan: what a tenant without an active or trialing subscription gets."""


class Entitlement(msgspec.Struct, frozen=True):
    """A tenant's plan right now: its code, its limits, and whether a subscription pays for it."""

    plan: str
    limits: PlanLimits
    subscribed: bool

    def allow(self, quota: str, used: int, adding: int = 1) -> None:
        """Raise 402 naming ``quota`` when ``used + adding`` would pass the plan's limit.

        Without a subscription the code is ``subscription_required`` (subscribe to get more);
        with one it is ``quota_exceeded`` (upgrade the plan).
        """
        limit = getattr(self.limits, quota)
        if limit is None or used + adding <= limit:
            return
        code = "quota_exceeded" if self.subscribed else "subscription_required"
        raise PaymentRequired(f"quota {quota} exceeded: plan {self.plan} allows {limit}, {used} in use", code=code)
