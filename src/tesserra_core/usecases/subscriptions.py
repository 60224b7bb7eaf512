"""A tenant's subscription: checkout, the current state, cancellation at period end, the portal."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.billing import (
    CURRENCY,
    PLAN_CODE,
    BillingCustomer,
    Interval,
    Subscription,
    SubscriptionStatus,
    check_currency,
    current_subscription,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.domain.structs import by_name
from tesserra_core.domain.text import Input
from tesserra_core.errors import Conflict, NotFound, found
from tesserra_core.ports import Ports
from tesserra_core.ports.billing import CheckoutRequest, InvoiceFilter, PaymentGateway
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.entitlements import billing_tag, entitlement_of
from tesserra_core.usecases.finance import InvoiceView
from tesserra_core.usecases.tenants import tenant_of


class CheckoutStart(Input, frozen=True, forbid_unknown_fields=True):
    plan: Annotated[str, PLAN_CODE, msgspec.Meta(description="The plan's code")]
    currency: Annotated[str, CURRENCY]
    interval: Interval = Interval.MONTH


class CheckoutView(msgspec.Struct, frozen=True):
    session_id: str
    url: str


class PortalView(msgspec.Struct, frozen=True):
    url: str


class SubscriptionView(msgspec.Struct, frozen=True):
    """The tenant's plan now. ``status`` is null (and ``plan`` the free one) without a subscription."""

    plan: str
    status: SubscriptionStatus | None
    subscribed: bool
    limits: PlanLimits
    subscription_id: str | None = None
    currency: str | None = None
    interval: Interval | None = None
    amount: int | None = None
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False


def stripe_idempotency_key(purpose: str, *parts: str) -> str:
    """The provider call's own idempotency key: a digest of ours (or of what the request names)."""
    digest = hashlib.sha256("\x1f".join((purpose, *parts)).encode()).hexdigest()[:40]
    return f"tesserra-{purpose}-{digest}"


@dataclass(frozen=True, slots=True)
class StartCheckout:
    """Start a Stripe Checkout for ``plan`` (by code) in ``currency`` (ISO 4217) every ``interval``; answers the
    page URL. Creates the tenant's Stripe customer on first use. Refused when the plan has no synced price in
    that currency (``price_not_synced``) or the tenant already subscribes (``already_subscribed``). The Stripe
    call carries an idempotency key derived from the caller's idempotency key, if any, or else from tenant,
    plan, currency and interval, so retries never open a second session."""

    scope: ClassVar[Scope] = Scope.BILLING_WRITE

    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock

    async def __call__(self, actor: Principal, cmd: CheckoutStart, idempotency_key: str | None = None) -> CheckoutView:
        actor.require(self.scope)
        currency = check_currency(cmd.currency)
        async with self.uow(read_only=True) as uow:
            plan = await uow.plans.get_by_code(cmd.plan)
            if plan is None or not plan.active:
                raise NotFound(f"no such plan: {cmd.plan!r}", code="plan_not_found")
            price = plan.price_for(currency, cmd.interval)
            if price is None or price.stripe_price_id is None:
                raise Conflict(
                    f"plan has no synced price for {currency}"
                    + ("" if cmd.interval is Interval.MONTH else f" ({cmd.interval.value})"),
                    code="price_not_synced",
                )
            current = current_subscription(await uow.subscriptions.for_tenant(actor.tenant_id))
            if current is not None and current.status.entitles:
                raise Conflict(
                    "the tenant already has an active subscription; change plans in the billing portal",
                    code="already_subscribed",
                )
            customer = await uow.subscriptions.customer(actor.tenant_id)
            tenant = await tenant_of(uow, actor.tenant_id)
            user = await uow.users.get(actor.user_id)
        if customer is None:
            customer = await self._new_customer(actor.tenant_id, tenant.name, user.email if user else None)
        if idempotency_key is not None:
            key = stripe_idempotency_key("checkout", actor.tenant_id, idempotency_key)
        else:
            key = stripe_idempotency_key("checkout", actor.tenant_id, plan.code, currency, cmd.interval.value)
        session = await self.gateway.create_checkout(
            CheckoutRequest(
                customer_id=customer.customer_id,
                price_id=price.stripe_price_id,
                tenant_id=actor.tenant_id,
                plan_id=plan.id,
                idempotency_key=key,
            )
        )
        return CheckoutView(session_id=session.id, url=session.url)

    async def _new_customer(self, tenant_id: str, name: str, email: str | None) -> BillingCustomer:
        # Concurrent first checkouts of one tenant send the same provider idempotency key, so they
        # get one customer; the first to store it wins and the others read it back.
        customer_id = await self.gateway.create_customer(
            tenant_id, name, email, idempotency_key=stripe_idempotency_key("customer", tenant_id)
        )
        customer = BillingCustomer(tenant_id=tenant_id, customer_id=customer_id, created_at=self.clock.now())
        async with self.uow() as uow:
            if not await uow.subscriptions.add_customer(customer):
                stored = await uow.subscriptions.customer(tenant_id)
                assert stored is not None
                customer = stored
            await uow.commit()
        return customer


@dataclass(frozen=True, slots=True)
class GetSubscription:
    """The tenant's plan, subscription status (Stripe's), period end, cancel_at_period_end and limits."""

    scope: ClassVar[Scope] = Scope.BILLING_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal) -> SubscriptionView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            entitlement = await entitlement_of(uow, actor.tenant_id)
            current = current_subscription(await uow.subscriptions.for_tenant(actor.tenant_id))
        return view_of(current, entitlement.plan, entitlement.subscribed, entitlement.limits)


def view_of(s: Subscription | None, plan: str, subscribed: bool, limits: PlanLimits) -> SubscriptionView:
    if s is None:
        return SubscriptionView(plan=plan, status=None, subscribed=subscribed, limits=limits)
    return by_name(SubscriptionView, s, plan=plan, subscribed=subscribed, limits=limits, subscription_id=s.id)


@dataclass(frozen=True, slots=True)
class CancelSubscription:
    """Cancel the tenant's subscription at the end of the paid period; the plan's limits hold until then."""

    scope: ClassVar[Scope] = Scope.BILLING_WRITE

    uow: UnitOfWorkFactory
    gateway: PaymentGateway
    clock: Clock
    revoker: Revoker

    async def __call__(self, actor: Principal) -> SubscriptionView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            current = current_subscription(await uow.subscriptions.for_tenant(actor.tenant_id))
        if current is None or current.status.final:
            raise NotFound("the tenant has no subscription to cancel", code="subscription_not_found")
        if not current.cancel_at_period_end:
            snapshot = await self.gateway.cancel_at_period_end(
                current.id, idempotency_key=stripe_idempotency_key("cancel", current.id)
            )
            async with self.uow() as uow:
                stored = await uow.subscriptions.get(current.id)
                if stored is not None and not stored.status.final:
                    # Only the flag and period: ``as_of`` stays the provider's last event time, so
                    # the webhook that follows still applies.
                    current = msgspec.structs.replace(
                        stored,
                        cancel_at_period_end=snapshot.cancel_at_period_end,
                        current_period_end=snapshot.current_period_end or stored.current_period_end,
                        updated_at=self.clock.now(),
                    )
                    await uow.subscriptions.put(current)
                await self.revoker.publish(uow, billing_tag(actor.tenant_id))
                await uow.commit()
            self.revoker.evict(billing_tag(actor.tenant_id))
        async with self.uow(read_only=True) as uow:
            entitlement = await entitlement_of(uow, actor.tenant_id)
        return view_of(current, entitlement.plan, entitlement.subscribed, entitlement.limits)


@dataclass(frozen=True, slots=True)
class BillingPortal:
    """A Stripe billing-portal link for the tenant (change plan, payment method, invoices)."""

    scope: ClassVar[Scope] = Scope.BILLING_WRITE

    uow: UnitOfWorkFactory
    gateway: PaymentGateway

    async def __call__(self, actor: Principal) -> PortalView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            customer = found(
                await uow.subscriptions.customer(actor.tenant_id),
                "the tenant has no billing account yet: start a checkout first",
                code="customer_not_found",
            )
        return PortalView(url=await self.gateway.portal_url(customer.customer_id))


@dataclass(frozen=True, slots=True)
class ListTenantInvoices:
    """The caller's tenant's invoices, newest first (as the provider's events last described them)."""

    scope: ClassVar[Scope] = Scope.BILLING_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[InvoiceView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.invoices.list(InvoiceFilter(tenant_id=actor.tenant_id), page), InvoiceView.of)


@dataclass(frozen=True, slots=True)
class GetTenantInvoice:
    """One invoice of the caller's tenant; another tenant's answers 404 as a missing one does."""

    scope: ClassVar[Scope] = Scope.BILLING_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, invoice_id: str) -> InvoiceView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            invoice = await uow.invoices.get(invoice_id)
        if invoice is None or invoice.tenant_id != actor.tenant_id:
            raise NotFound("no such invoice", code="invoice_not_found")
        return InvoiceView.of(invoice)


@dataclass(frozen=True, slots=True)
class Subscriptions:
    """/api/assinatura: the subscription, /checkout, /cancelar, /portal, /faturas."""

    start_checkout: StartCheckout
    get: GetSubscription
    cancel: CancelSubscription
    portal: BillingPortal
    invoices: ListTenantInvoices
    invoice: GetTenantInvoice


def subscriptions(p: Ports, *, revoker: Revoker) -> Subscriptions:
    return Subscriptions(
        start_checkout=StartCheckout(p.uow, p.gateway, p.clock),
        get=GetSubscription(p.uow),
        cancel=CancelSubscription(p.uow, p.gateway, p.clock, revoker),
        portal=BillingPortal(p.uow, p.gateway),
        invoices=ListTenantInvoices(p.uow),
        invoice=GetTenantInvoice(p.uow),
    )
