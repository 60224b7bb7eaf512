"""What agents may spend: completion tokens and tool calls, per tenant per month (the plan's limits: 402
beyond) and per user per day (429 beyond, with ``Retry-After`` until the next day), UTC.

An answer reserves, before the model is called, the most it may spend (its agent's tokens per answer and
tool calls per answer), in both budgets at once, atomically: parallel posts cannot spend more than the
budgets hold, since each one's reservation is counted before the next is decided. When the answer ends
it gives back what it did not spend. An answer that goes past its reservation (a provider that ignores
``max_tokens``) is stopped with an error event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from tesserra_core.domain.agents import Agent
from tesserra_core.domain.identity import Principal
from tesserra_core.errors import PaymentRequired, RateLimited
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    tenant: tuple[str, str]
    """The tenant's budget and period."""
    user: tuple[str, str]
    tokens: int
    tool_calls: int


def tenant_budget(tenant_id: str) -> str:
    return f"tenant:{tenant_id}"


def user_budget(user_id: str) -> str:
    return f"user:{user_id}"


def _next_day(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class ChatBudgets:
    uow: UnitOfWorkFactory
    entitlements: Entitlements
    clock: Clock

    async def reserve(self, actor: Principal, agent: Agent) -> Reservation:
        """Hold the most ``agent``'s answer may spend, or refuse: 402 (the tenant's month) or 429 (the user's day)."""
        limits = (await self.entitlements.of(actor.tenant_id)).limits
        now = self.clock.now()
        reservation = Reservation(
            tenant=(tenant_budget(actor.tenant_id), now.strftime("%Y-%m")),
            user=(user_budget(actor.user_id), now.strftime("%Y-%m-%d")),
            tokens=agent.limits.max_tokens_per_turn,
            tool_calls=agent.limits.max_tool_calls,
        )
        r = reservation
        async with self.uow() as uow:
            budgets = uow.chat_budgets
            if not await budgets.reserve(
                *r.tenant, r.tokens, r.tool_calls, limits.chat_tokens_per_month, limits.chat_tool_calls_per_month
            ):
                raise PaymentRequired(
                    "the tenant's chat budget for this month (tokens or tool calls) is spent", code="chat_budget_spent"
                )
            if not await budgets.reserve(
                *r.user,
                r.tokens,
                r.tool_calls,
                limits.chat_tokens_per_user_per_day,
                limits.chat_tool_calls_per_user_per_day,
            ):
                wait = (_next_day(now) - now).total_seconds()
                raise RateLimited(
                    "your chat budget for today (tokens or tool calls) is spent",
                    code="chat_rate_exceeded",
                    retry_after=wait,
                )
            await uow.commit()
        return reservation

    async def settle(self, reservation: Reservation, tokens: int, tool_calls: int) -> None:
        """The answer spent ``tokens`` and ``tool_calls``: give back the rest of its reservation."""
        r = reservation
        back_tokens, back_calls = max(0, r.tokens - tokens), max(0, r.tool_calls - tool_calls)
        if not back_tokens and not back_calls:
            return
        async with self.uow() as uow:
            await uow.chat_budgets.release(*r.tenant, back_tokens, back_calls)
            await uow.chat_budgets.release(*r.user, back_tokens, back_calls)
            await uow.commit()
