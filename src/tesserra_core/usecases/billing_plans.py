"""Plans and their prices: the public catalogue, and the platform administrators' management of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.billing import (
    AMOUNT,
    CURRENCY,
    PLAN_CODE,
    Interval,
    Plan,
    Price,
    check_amount,
    check_currency,
    check_limits,
    check_plan_code,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.domain.text import Input, Text, check_description, check_name, name_meta
from tesserra_core.errors import NotFound, Unprocessable, found
from tesserra_core.ports import Ports
from tesserra_core.ports.billing import PaymentGateway
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.views import View

_MAX_NAME = 200


class NewPrice(Input, frozen=True, forbid_unknown_fields=True):
    currency: Annotated[str, CURRENCY]
    interval: Interval
    amount: Annotated[int, AMOUNT]


class NewPlan(Input, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, PLAN_CODE]
    name: Annotated[str, name_meta(_MAX_NAME), msgspec.Meta(examples=["Pro"])]
    description: Text = ""
    limits: PlanLimits = msgspec.field(default_factory=PlanLimits)
    prices: Annotated[
        list[NewPrice],
        msgspec.Meta(
            description="At most one price per currency and interval, currencies compared in any case and "
            "without surrounding spaces (422 duplicate_price)."
        ),
    ] = msgspec.field(default_factory=list)


class PlanChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, name_meta(_MAX_NAME)] | None = None
    description: Text | None = None
    limits: PlanLimits | None = None
    active: bool | None = None


class PriceView(View[Price], frozen=True):
    id: str
    currency: str
    interval: Interval
    amount: int
    active: bool
    synced: bool
    stripe_price_id: str | None

    @classmethod
    def of(cls, p: Price) -> PriceView:
        return cls.read(p, synced=p.stripe_price_id is not None)


class PlanView(View[Plan], frozen=True):
    id: str
    code: str
    name: str
    description: str
    limits: PlanLimits
    active: bool
    stripe_product_id: str | None
    prices: list[PriceView]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Plan, *, active_prices_only: bool = False) -> PlanView:
        return cls.read(p, prices=[PriceView.of(x) for x in p.prices if x.active or not active_prices_only])


def _name(value: str) -> str:
    return check_name("name", value, _MAX_NAME)


async def _plan(uow: UnitOfWork, plan_id: str) -> Plan:
    return found(await uow.plans.get(plan_id), "no such plan", code="plan_not_found")


@dataclass(frozen=True, slots=True)
class ListPlans:
    """The public catalogue: active plans, their limits (null: unlimited) and their active prices per currency
    and interval, amounts in the currency's minor unit."""

    uow: UnitOfWorkFactory

    async def __call__(self, page: PageRequest | None = None) -> Page[PlanView]:
        page = page or PageRequest()
        async with self.uow(read_only=True) as uow:
            plans = await uow.plans.list(active_only=True)
        return page.answer(page.window(plans), lambda p: PlanView.of(p, active_prices_only=True))


@dataclass(frozen=True, slots=True)
class AdminListPlans:
    """Every plan, archived ones and archived prices included (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest | None = None) -> Page[PlanView]:
        actor.require_platform_admin()
        page = page or PageRequest()
        async with self.uow(read_only=True) as uow:
            plans = await uow.plans.list(active_only=False)
        return page.answer(page.window(plans), PlanView.of)


@dataclass(frozen=True, slots=True)
class AdminGetPlan:
    """One plan, archived or not, with every price (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, plan_id: str) -> PlanView:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            return PlanView.of(await _plan(uow, plan_id))


def _price(ids: IdFactory, plan_id: str, cmd: NewPrice, now: datetime) -> Price:
    return Price(
        id=ids.new(),
        plan_id=plan_id,
        currency=check_currency(cmd.currency),
        interval=cmd.interval,
        amount=check_amount(cmd.amount),
        active=True,
        stripe_price_id=None,
        created_at=now,
    )


@dataclass(frozen=True, slots=True)
class CreatePlan:
    """Create a plan with its limits and prices (platform administrators): ISO 4217 currencies, amounts in minor
    units, one price per currency and interval. Prices reach Stripe on sync. The plan coded ``free`` sets the
    limits of unsubscribed tenants."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewPlan) -> PlanView:
        actor.require_platform_admin()
        now = self.clock.now()
        plan_id = self.ids.new()
        prices = tuple(_price(self.ids, plan_id, p, now) for p in cmd.prices)
        if len({(p.currency, p.interval) for p in prices}) != len(prices):
            raise Unprocessable("one price per currency and interval", code="duplicate_price")
        plan = Plan(
            id=plan_id,
            code=check_plan_code(cmd.code),
            name=_name(cmd.name),
            description=check_description(cmd.description),
            limits=check_limits(cmd.limits),
            active=True,
            stripe_product_id=None,
            created_at=now,
            updated_at=now,
            prices=prices,
        )
        async with self.uow() as uow:
            await uow.plans.add(plan)
            await uow.commit()
        return PlanView.of(plan)


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Rename, describe, change limits, archive (``active: false``) or restore a plan (platform administrators).
    An archived plan is gone from the catalogue and from checkout; its subscribers keep it."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, plan_id: str, changes: PlanChanges) -> PlanView:
        actor.require_platform_admin()
        async with self.uow() as uow:
            plan = await _plan(uow, plan_id)
            updated = msgspec.structs.replace(
                plan,
                name=_name(changes.name) if changes.name is not None else plan.name,
                description=(
                    check_description(changes.description) if changes.description is not None else plan.description
                ),
                limits=check_limits(changes.limits) if changes.limits is not None else plan.limits,
                active=changes.active if changes.active is not None else plan.active,
                updated_at=self.clock.now(),
            )
            await uow.plans.update(updated)
            await uow.commit()
        return PlanView.of(updated)


@dataclass(frozen=True, slots=True)
class AddPrice:
    """Add a price to a plan (platform administrators). Stripe prices are immutable, so it replaces (archives)
    the active price of the same currency and interval; the next sync creates it at Stripe."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, plan_id: str, cmd: NewPrice) -> PlanView:
        actor.require_platform_admin()
        now = self.clock.now()
        async with self.uow() as uow:
            plan = await _plan(uow, plan_id)
            price = _price(self.ids, plan.id, cmd, now)
            kept = tuple(
                msgspec.structs.replace(p, active=False)
                if p.active and p.currency == price.currency and p.interval is price.interval
                else p
                for p in plan.prices
            )
            updated = msgspec.structs.replace(plan, prices=(*kept, price), updated_at=now)
            await uow.plans.update(updated)
            await uow.commit()
        return PlanView.of(updated)


@dataclass(frozen=True, slots=True)
class ArchivePrice:
    """Archive one price of a plan (platform administrators): checkout no longer offers it, and the next sync
    deactivates it at Stripe."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, plan_id: str, price_id: str) -> PlanView:
        actor.require_platform_admin()
        async with self.uow() as uow:
            plan = await _plan(uow, plan_id)
            if not any(p.id == price_id for p in plan.prices):
                raise NotFound("no such price", code="price_not_found")
            prices = tuple(msgspec.structs.replace(p, active=False) if p.id == price_id else p for p in plan.prices)
            updated = msgspec.structs.replace(plan, prices=prices, updated_at=self.clock.now())
            await uow.plans.update(updated)
            await uow.commit()
        return PlanView.of(updated)


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """Push a plan's product and prices to Stripe and record their Stripe ids; archived prices are deactivated
    there (platform administrators). Unavailable while Stripe is unreachable or not configured."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock

    async def __call__(self, actor: Principal, plan_id: str) -> PlanView:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            plan = await _plan(uow, plan_id)
        synced = await self.gateway.sync_plan(plan)  # no transaction held across the network call
        async with self.uow() as uow:
            current = await _plan(uow, plan_id)
            prices = tuple(
                msgspec.structs.replace(p, stripe_price_id=synced.prices.get(p.id, p.stripe_price_id))
                for p in current.prices
            )
            updated = msgspec.structs.replace(
                current, stripe_product_id=synced.product_id, prices=prices, updated_at=self.clock.now()
            )
            await uow.plans.update(updated)
            await uow.commit()
        return PlanView.of(updated)


@dataclass(frozen=True, slots=True)
class Plans:
    """/api/planos and /api/admin/planos."""

    list: ListPlans
    admin_list: AdminListPlans
    admin_get: AdminGetPlan
    create: CreatePlan
    update: UpdatePlan
    add_price: AddPrice
    archive_price: ArchivePrice
    sync: SyncPlan


def plans(p: Ports) -> Plans:
    return Plans(
        list=ListPlans(p.uow),
        admin_list=AdminListPlans(p.uow),
        admin_get=AdminGetPlan(p.uow),
        create=CreatePlan(p.uow, p.ids, p.clock),
        update=UpdatePlan(p.uow, p.clock),
        add_price=AddPrice(p.uow, p.ids, p.clock),
        archive_price=ArchivePrice(p.uow, p.clock),
        sync=SyncPlan(p.uow, p.gateway, p.clock),
    )
