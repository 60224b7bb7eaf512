"""Mailboxes and aliases on a tenant's verified domains."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

import msgspec

from tesserra_core.domain.domains import SHORT_DOMAIN_NAME, normalize_domain_name
from tesserra_core.errors import Conflict, ValidationFailed

_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
MIN_QUOTA = 1024**2
MAX_QUOTA = 1024**4
DEFAULT_QUOTA = 1024**3
MAX_DESTINATIONS = 50
_CHAR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
MAIL_ADDRESS = msgspec.Meta(
    pattern=rf"^ *{_CHAR}(?:\.?{_CHAR}){{0,31}}@{SHORT_DOMAIN_NAME} *$",
    description="local@domain (case does not count)",
    examples=["ana@example.com"],
)
QUOTA = msgspec.Meta(ge=MIN_QUOTA, le=MAX_QUOTA, description=f"Bytes, {MIN_QUOTA}-{MAX_QUOTA}")
DESTINATIONS = msgspec.Meta(
    min_length=1, max_length=MAX_DESTINATIONS, description="An address listed twice counts once"
)


def normalize_address(value: str, field: str = "address") -> str:
    """``local@domain``, lowercased; a dot-atom local part of at most 64 characters."""
    local, at, domain = value.strip().lower().rpartition("@")
    if not at or not 1 <= len(local) <= 64 or not _LOCAL.match(local):
        raise ValidationFailed(f"{field}: {value!r} is not a valid e-mail address", code="invalid_address")
    try:
        domain = normalize_domain_name(domain)
    except ValidationFailed:
        raise ValidationFailed(f"{field}: {value!r} is not a valid e-mail address", code="invalid_address") from None
    return f"{local}@{domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def check_quota(quota_bytes: int) -> int:
    if not MIN_QUOTA <= quota_bytes <= MAX_QUOTA:
        raise ValidationFailed(f"quota_bytes must be between {MIN_QUOTA} and {MAX_QUOTA}", code="invalid_quota")
    return quota_bytes


def normalize_destinations(values: Iterable[str]) -> tuple[str, ...]:
    found = tuple(dict.fromkeys(normalize_address(v, "destinations") for v in values))  # once each, in order
    if not 1 <= len(found) <= MAX_DESTINATIONS:
        raise ValidationFailed(f"destinations must list 1-{MAX_DESTINATIONS} addresses", code="invalid_destinations")
    return found


def check_no_loop(source: str, destinations: Iterable[str], aliases: Mapping[str, Iterable[str]]) -> None:
    """Raise 409 if delivering to ``source`` (with these destinations, and the other ``aliases``)
    would come back to ``source``: directly, or through a chain of other aliases."""
    graph = {**{s: tuple(d) for s, d in aliases.items()}, source: tuple(destinations)}
    stack = list(graph[source])
    seen: set[str] = set()
    while stack:
        address = stack.pop()
        if address == source:
            raise Conflict(f"destinations: an alias of {source} would loop back to itself", code="alias_loop")
        if address not in seen:
            seen.add(address)
            stack.extend(graph.get(address, ()))


class Mailbox(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    domain_id: str
    address: str
    password_hash: str
    quota_bytes: int
    created_at: datetime
    updated_at: datetime


class EmailAlias(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    domain_id: str
    source: str
    destinations: tuple[str, ...]
    created_at: datetime
    updated_at: datetime
