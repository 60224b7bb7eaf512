"""Stripe's wire format, read once: webhook signatures (verified by the stripe library) and the
objects inside events and API answers, translated into core snapshots. Vendor objects stop here."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from tesserra_core.domain.billing import (
    CheckoutSnapshot,
    GatewayEvent,
    Interval,
    InvoiceSnapshot,
    SubscriptionSnapshot,
    SubscriptionStatus,
)
from tesserra_core.errors import Unavailable, ValidationFailed

DEFAULT_TOLERANCE = 300
"""Seconds a signature's timestamp may lie from now (Stripe's default)."""

MAX_PAYLOAD = 1 << 20


def verify(payload: bytes, header: str | None, secret: str | None, tolerance: int = DEFAULT_TOLERANCE) -> None:
    """Raise ``ValidationFailed`` unless ``header`` is a valid, fresh Stripe signature of ``payload``."""
    if not secret:
        raise Unavailable(
            "Stripe webhooks are not configured: set TESSERRA_STRIPE_WEBHOOK_SECRET", code="webhooks_unavailable"
        )
    if not header:
        raise ValidationFailed("missing Stripe-Signature header", code="invalid_signature")
    if len(payload) > MAX_PAYLOAD:
        raise ValidationFailed("webhook payload too large", code="invalid_payload")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed("webhook payload is not UTF-8", code="invalid_payload") from None
    import stripe  # here, not at import: a server without Stripe never loads the SDK (~0.2 s per process)

    try:
        stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise ValidationFailed(
            f"invalid Stripe signature: {exc.user_message or exc}", code="invalid_signature"
        ) from None
    # Stripe's check bounds only the past; a timestamp from the future is as suspect as a stale one.
    stamps = [part.strip()[2:] for part in header.split(",") if part.strip().startswith("t=")]
    if not stamps or not stamps[0].isdigit() or int(stamps[0]) > time.time() + tolerance:
        raise ValidationFailed(
            "invalid Stripe signature: timestamp outside the tolerance zone", code="invalid_signature"
        )


def _at(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if isinstance(value, (int, float)) and value else None


def _id(value: Any) -> str | None:
    """An id, whether the field holds it or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _metadata(obj: dict[str, Any], key: str) -> str | None:
    meta = obj.get("metadata")
    value = meta.get(key) if isinstance(meta, dict) else None
    return value if isinstance(value, str) and value else None


def subscription_from(obj: dict[str, Any]) -> SubscriptionSnapshot:
    items = (obj.get("items") or {}).get("data") or []
    item: dict[str, Any] = items[0] if items else {}
    price: dict[str, Any] = item.get("price") or item.get("plan") or obj.get("plan") or {}
    recurring = price.get("recurring") or {}
    interval = recurring.get("interval") or price.get("interval")
    amount = price.get("unit_amount")
    if amount is None:
        amount = price.get("amount") or 0
    period_end = obj.get("current_period_end") or item.get("current_period_end")
    customer = _id(obj.get("customer"))
    if customer is None:
        raise ValidationFailed("subscription without a customer", code="invalid_payload")
    return SubscriptionSnapshot(
        id=str(obj["id"]),
        customer_id=customer,
        status=SubscriptionStatus(obj["status"]),
        price_id=_id(price),
        currency=str(price.get("currency") or obj.get("currency") or "").upper(),
        interval=Interval(interval) if interval in ("month", "year") else None,
        amount=int(amount) * int(item.get("quantity") or 1),
        current_period_end=_at(period_end),
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        started_at=_at(obj.get("start_date") or obj.get("created")) or datetime.now(UTC),
        ended_at=_at(obj.get("ended_at") or obj.get("canceled_at")),
        tenant_id=_metadata(obj, "tenant_id"),
        plan_id=_metadata(obj, "plan_id"),
    )


def invoice_from(obj: dict[str, Any]) -> InvoiceSnapshot:
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    customer = _id(obj.get("customer"))
    if customer is None:
        raise ValidationFailed("invoice without a customer", code="invalid_payload")
    status = str(obj.get("status") or "open")
    transitions = obj.get("status_transitions") or {}
    return InvoiceSnapshot(
        id=str(obj["id"]),
        customer_id=customer,
        subscription_id=_id(obj.get("subscription")) or _id(parent.get("subscription")),
        status=status,
        currency=str(obj.get("currency") or "").upper(),
        amount_due=int(obj.get("amount_due") or 0),
        amount_paid=int(obj.get("amount_paid") or 0),
        created_at=_at(obj.get("created")) or datetime.now(UTC),
        paid_at=_at(transitions.get("paid_at")) if status == "paid" else None,
    )


def checkout_from(obj: dict[str, Any]) -> CheckoutSnapshot:
    return CheckoutSnapshot(
        id=str(obj["id"]),
        customer_id=_id(obj.get("customer")),
        subscription_id=_id(obj.get("subscription")),
        tenant_id=obj.get("client_reference_id") or _metadata(obj, "tenant_id"),
    )


def envelope(payload: bytes) -> GatewayEvent:
    """Only what storing an event needs (id, type, created). Its object is decoded when processed,
    so an object this version cannot read is stored and retried, never refused and lost."""
    try:
        event = json.loads(payload)
        created = _at(event["created"])
        if created is None or not isinstance(event["id"], str) or not event["id"] or len(event["id"]) > 255:
            raise ValueError("bad id or created")
        return GatewayEvent(id=event["id"], type=str(event["type"])[:100], created=created)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(f"not a Stripe event: {exc}", code="invalid_payload") from None


def decode(payload: bytes) -> GatewayEvent:
    """A Stripe event (JSON) as a core event; ``ValidationFailed`` if it is not one."""
    try:
        event = json.loads(payload)
        kind = str(event["type"])
        obj = event["data"]["object"]
        created = _at(event["created"])
        if not isinstance(obj, dict) or created is None:
            raise ValueError("no object")
        common: dict[str, Any] = {"id": str(event["id"]), "type": kind, "created": created}
        if kind == "checkout.session.completed":
            return GatewayEvent(**common, checkout=checkout_from(obj))
        if kind.startswith("customer.subscription."):
            return GatewayEvent(**common, subscription=subscription_from(obj))
        if kind in ("invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed"):
            return GatewayEvent(**common, invoice=invoice_from(obj))
        return GatewayEvent(**common)
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationFailed(f"not a Stripe event: {exc}", code="invalid_payload") from None
