"""The in-memory store and the base of its repositories (writes journaled for rollback)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tesserra_core.domain.billing import BillingCustomer, Invoice, Plan, Price, StoredEvent, Subscription
from tesserra_core.domain.identity import ApiKey, Membership, RefreshToken, Session, Tenant, User
from tesserra_core.ports.persistence import Revocation

Undo = Callable[[], None]


@dataclass
class MemoryStore:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Membership] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    revocations: list[tuple[int, datetime, Revocation]] = field(default_factory=list)
    """The feed: (sequence number, published at, revocation), oldest first."""
    last_revocation: int = 0
    plans: dict[str, Plan] = field(default_factory=dict)
    """Plans without their prices (those live in ``prices``)."""
    prices: dict[str, Price] = field(default_factory=dict)
    customers: dict[str, BillingCustomer] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    billing_events: dict[str, StoredEvent] = field(default_factory=dict)


class _Repo:
    def __init__(self, store: MemoryStore, journal: list[Undo]) -> None:
        self._store = store
        self._journal = journal

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        missing = object()
        old = table.get(key, missing)
        table[key] = value

        def undo() -> None:
            if old is missing:
                table.pop(key, None)
            else:
                table[key] = old

        self._journal.append(undo)
