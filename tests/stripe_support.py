"""Stripe-shaped events and signatures made by hand, as Stripe makes them (t=<unix>,v1=<hmac-sha256>)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

_seq = itertools.count(1)


def sign(payload: bytes, secret: str, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def event(kind: str, obj: dict[str, Any], created: int, event_id: str | None = None) -> bytes:
    body = {
        "id": event_id or f"evt_test{next(_seq):08d}",
        "object": "event",
        "type": kind,
        "created": created,
        "data": {"object": obj},
        "livemode": False,
    }
    return json.dumps(body).encode()


def subscription(
    sub_id: str,
    customer: str,
    price: str,
    status: str = "active",
    *,
    amount: int = 1900,
    currency: str = "eur",
    interval: str = "month",
    start: int = 1_760_000_000,
    period_end: int = 1_790_000_000,
    cancel_at_period_end: bool = False,
    ended_at: int | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "start_date": start,
        "created": start,
        "ended_at": ended_at,
        "canceled_at": ended_at,
        "metadata": {"tenant_id": tenant_id} if tenant_id else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "quantity": 1,
                    "current_period_end": period_end,
                    "price": {
                        "id": price,
                        "object": "price",
                        "currency": currency,
                        "unit_amount": amount,
                        "recurring": {"interval": interval, "interval_count": 1},
                    },
                }
            ],
        },
    }


def invoice(
    invoice_id: str,
    customer: str,
    sub_id: str | None,
    status: str = "paid",
    *,
    amount: int = 1900,
    currency: str = "eur",
    created: int = 1_760_000_000,
    paid_at: int | None = 1_760_000_100,
) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "subscription": sub_id,
        "status": status,
        "currency": currency,
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "created": created,
        "status_transitions": {"paid_at": paid_at if status == "paid" else None},
    }


def checkout_completed(session_id: str, customer: str, sub_id: str, tenant_id: str) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "customer": customer,
        "subscription": sub_id,
        "client_reference_id": tenant_id,
        "mode": "subscription",
        "status": "complete",
        "metadata": {"tenant_id": tenant_id},
    }
