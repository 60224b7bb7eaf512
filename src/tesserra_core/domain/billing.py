"""Billing: plans and their prices per currency, subscriptions (Stripe's state machine), invoices.

Amounts are integers in the currency's minor unit (cents), as Stripe counts them. Currencies are
ISO 4217 codes, upper case here (Stripe writes them in lower case; adapters translate).
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

import msgspec

from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import ValidationFailed


class Interval(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


class SubscriptionStatus(enum.StrEnum):
    """Stripe's subscription statuses, exactly."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"

    @property
    def entitles(self) -> bool:
        """Whether the tenant gets its plan's limits (otherwise the free plan's)."""
        return self in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)

    @property
    def final(self) -> bool:
        """Stripe never moves a subscription out of these: a later-delivered older event cannot revive it."""
        return self in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED)

    @property
    def recurring(self) -> bool:
        """Counted in MRR: paying (active) or still owed (past_due). Trials pay nothing yet."""
        return self in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)


RECURRING_STATUSES = tuple(s for s in SubscriptionStatus if s.recurring)

# ISO 4217 active codes (2024), less precious metals, testing and fund codes.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP
    LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL
    THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR
    ZMW ZWG""".split()  # noqa: SIM905
)

MAX_AMOUNT = 99_999_999_999
"""Stripe's ceiling for an amount in minor units."""

PLAN_CODE_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62})$"
_PLAN_CODE = re.compile(PLAN_CODE_PATTERN)
PLAN_CODE = msgspec.Meta(pattern=PLAN_CODE_PATTERN, examples=["pro"])
CURRENCY = msgspec.Meta(
    pattern="^ *(?:" + "|".join(sorted(ISO_4217) + sorted(c.lower() for c in ISO_4217)) + ") *$",
    description="ISO 4217 code (upper or lower case)",
    examples=["EUR"],
)
AMOUNT = msgspec.Meta(ge=0, le=MAX_AMOUNT, description="In the currency's minor unit (cents)", examples=[1900])


def check_currency(code: str) -> str:
    value = code.strip().upper()
    if value not in ISO_4217:
        raise ValidationFailed(f"currency {code!r} is not an ISO 4217 code", code="invalid_currency")
    return value


def check_amount(amount: int) -> int:
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValidationFailed(
            f"amount must be 0-{MAX_AMOUNT} in the currency's minor unit (e.g. cents)", code="invalid_amount"
        )
    return amount


ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())  # noqa: SIM905
"""Currencies Stripe counts in whole units (no minor unit)."""
THREE_DECIMAL = frozenset("BHD JOD KWD OMR TND".split())  # noqa: SIM905
"""Currencies Stripe counts in thousandths."""


def minor_digits(currency: str) -> int:
    """How many decimal places the currency's minor unit has, as Stripe counts amounts."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def format_amount(amount: int, currency: str) -> str:
    """An amount in minor units as people read it: ``format_amount(1900, "eur")`` is ``"19.00 EUR"``."""
    digits = minor_digits(currency)
    whole, part = divmod(abs(amount), 10**digits)
    text = f"{whole:,}" + (f".{part:0{digits}d}" if digits else "")
    return f"{'-' if amount < 0 else ''}{text} {currency.upper()}"


def check_plan_code(code: str) -> str:
    if not _PLAN_CODE.match(code):
        raise ValidationFailed(
            "plan code must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit",
            code="invalid_plan_code",
        )
    return code


def check_limits(limits: PlanLimits) -> PlanLimits:
    for name in PlanLimits.__struct_fields__:
        value = getattr(limits, name)
        if value is not None and value < 0:
            raise ValidationFailed(f"limit {name} must be 0 or more (or null: unlimited)", code="invalid_limit")
    return limits


class Price(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    plan_id: str
    currency: str
    interval: Interval
    amount: int
    active: bool
    stripe_price_id: str | None
    created_at: datetime


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    code: str
    name: str
    description: str
    limits: PlanLimits
    active: bool
    stripe_product_id: str | None
    created_at: datetime
    updated_at: datetime
    prices: tuple[Price, ...] = ()

    def price_for(self, currency: str, interval: Interval) -> Price | None:
        """The active price in ``currency`` billed every ``interval``."""
        return next(
            (p for p in self.prices if p.active and p.currency == currency and p.interval is interval),
            None,
        )


class BillingCustomer(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's customer at the payment provider (one per tenant)."""

    tenant_id: str
    customer_id: str
    created_at: datetime


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's subscription as the provider last told us (``as_of``: that event's time)."""

    id: str
    tenant_id: str
    customer_id: str
    plan_id: str | None
    price_id: str | None
    status: SubscriptionStatus
    currency: str
    interval: Interval | None
    amount: int
    current_period_end: datetime | None
    cancel_at_period_end: bool
    started_at: datetime
    ended_at: datetime | None
    as_of: datetime
    updated_at: datetime


def current_subscription(subscriptions: list[Subscription]) -> Subscription | None:
    """The one that decides the tenant's plan: an entitling one if any, else the newest."""
    if not subscriptions:
        return None
    return max(subscriptions, key=lambda s: (s.status.entitles, s.started_at, s.id))


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A provider event as received (raw payload), and how processing it went."""

    id: str
    type: str
    created: datetime
    payload: bytes
    received_at: datetime
    processed_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None


# What the payment gateway port hands the core: provider objects, translated.


class SubscriptionSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    status: SubscriptionStatus
    price_id: str | None
    currency: str
    interval: Interval | None
    amount: int
    current_period_end: datetime | None
    cancel_at_period_end: bool
    started_at: datetime
    ended_at: datetime | None
    tenant_id: str | None = None
    plan_id: str | None = None


class InvoiceSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str
    subscription_id: str | None
    status: str
    """Stripe's: draft, open, paid, uncollectible, void."""
    currency: str
    amount_due: int
    amount_paid: int
    created_at: datetime
    paid_at: datetime | None


class CheckoutSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    customer_id: str | None
    subscription_id: str | None
    tenant_id: str | None


class GatewayEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    created: datetime
    subscription: SubscriptionSnapshot | None = None
    invoice: InvoiceSnapshot | None = None
    checkout: CheckoutSnapshot | None = None


# Invoices as the core keeps them: the gateway's, with the tenant they belong to.


class Invoice(InvoiceSnapshot, frozen=True, kw_only=True):
    """An invoice of one of our tenants as the provider last told us (``as_of``: that event's time)."""

    tenant_id: str
    as_of: datetime

    @property
    def paid_month(self) -> str | None:
        return self.paid_at.strftime("%Y-%m") if self.paid_at is not None else None
