"""Domains, their DNS records, and the rules of a zone that do not depend on DNS text syntax.

The syntax of names and record data (what an MX or a CAA looks like) belongs to the zone codec
port; this module holds what any codec agrees on: which types exist, TTL bounds, that a CNAME is
alone at its name, that an RRset has one TTL, and how the SOA serial moves.
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime

import msgspec

from tesserra_core.domain.structs import by_name
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed


class RecordType(enum.StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"
    MX = "MX"
    TXT = "TXT"
    SRV = "SRV"
    CAA = "CAA"
    NS = "NS"


class VerificationStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    FAILED = "failed"


MIN_TTL = 30
MAX_TTL = 604_800
"""One week: longer TTLs only make mistakes last; shorter than 30 s only loads resolvers."""
DEFAULT_TTL = 3600
TTL_META = msgspec.Meta(ge=MIN_TTL, le=MAX_TTL, description=f"Seconds, {MIN_TTL}-{MAX_TTL}")
CHALLENGE_LABEL = "_tesserra-challenge"
APEX = "@"

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_U = r"\u00a1-\ud7ff\ue000-\uffff"  # beyond ASCII (an IDN's labels), surrogates excepted
_CHARS = f"A-Za-z0-9{_U}"


def _domain_pattern(label_max: int, labels: str) -> str:
    inner = label_max - 2
    label = f"[{_CHARS}](?:[{_CHARS}-]{{0,{inner}}}[{_CHARS}])?"
    top = f"[A-Za-z{_U}](?:[{_CHARS}-]{{0,{inner}}}[{_CHARS}])?"
    return f"(?:{label}\\.){labels}{top}"


DOMAIN_NAME = msgspec.Meta(
    min_length=3,
    max_length=253,
    pattern=f"^ *{_domain_pattern(63, '+')}\\.? *$",
    description="Any case; a name in Unicode is stored in its xn-- form (422 invalid_idn when it has none)",
    examples=["example.com"],
)
"""A domain name as /openapi.json states it: labels of letters, digits and hyphens, the last one
starting with a letter."""
SHORT_DOMAIN_NAME = _domain_pattern(48, "{1,4}")
"""A domain name short enough whatever its labels (at most 5 of at most 48 characters: 244), for
patterns that cannot also bound its length (an e-mail address's domain)."""
RECORD_NAME = msgspec.Meta(
    max_length=253,
    pattern=r"^(?:@|[A-Za-z0-9_*-]{1,63}(?:\.[A-Za-z0-9_*-]{1,63})*\.?)?$",
    description=(
        "Relative (www), @ or empty for the apex, or absolute (www.example.com.); a name outside the zone "
        "or too long with it is 422"
    ),
)


def _is_domain_name(name: str) -> bool:
    labels = name.split(".")
    return not (
        len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit()
    )


def normalize_domain_name(value: str) -> str:
    """Lowercase, no trailing dot, at least two LDH labels, at most 253 characters. A name in
    Unicode becomes its xn-- (IDNA) form."""
    name = value.strip().lower().removesuffix(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            name = ""
        if not _is_domain_name(name):  # well formed, but without an IDNA form: 422
            raise Unprocessable("name has no IDNA (xn--) form that is a domain name", code="invalid_idn")
    if not _is_domain_name(name):
        raise ValidationFailed(
            "name must be a domain name such as example.com (letters, digits and hyphens; IDNs as xn--)",
            code="invalid_domain_name",
        )
    return name


def check_ttl(ttl: int, field: str = "ttl") -> int:
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValidationFailed(f"{field} must be between {MIN_TTL} and {MAX_TTL} seconds", code="invalid_ttl")
    return ttl


def next_serial(current: int, today: date) -> int:
    """A YYYYMMDDnn serial that always grows: today's first, or one more than the last (even past nn=99)."""
    first_today = int(today.strftime("%Y%m%d")) * 100
    return current + 1 if current >= first_today else first_today


class DomainFilter(msgspec.Struct, frozen=True, kw_only=True):
    """What a domain list may be narrowed by: its verification status, and a substring of its name."""

    status: VerificationStatus | None = None
    name: str | None = None


class Domain(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    name: str
    default_ttl: int
    serial: int
    verification_token: str
    verification_status: VerificationStatus
    verified_at: datetime | None
    last_checked_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def verified(self) -> bool:
        return self.verification_status is VerificationStatus.VERIFIED

    @property
    def challenge_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.name}"


class RecordData(msgspec.Struct, frozen=True):
    """One resource record as the codec canonicalizes it: ``name`` relative to the zone (``@`` at the
    apex), ``data`` in presentation form with absolute names."""

    name: str
    type: RecordType
    ttl: int
    data: str

    @property
    def key(self) -> tuple[str, RecordType, str]:
        return (self.name, self.type, self.data)


class DnsRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    domain_id: str
    name: str
    type: RecordType
    ttl: int
    data: str
    created_at: datetime
    updated_at: datetime

    @property
    def content(self) -> RecordData:
        return RecordData(self.name, self.type, self.ttl, self.data)

    @classmethod
    def new(cls, record_id: str, domain: Domain, content: RecordData) -> DnsRecord:
        """``content`` as a new record of the domain's zone, made at the domain's last change."""
        return by_name(
            cls,
            content,
            id=record_id,
            tenant_id=domain.tenant_id,
            domain_id=domain.id,
            created_at=domain.updated_at,
            updated_at=domain.updated_at,
        )


def check_zone(records: Iterable[RecordData]) -> None:
    """Rules across records: no duplicates, a CNAME alone at its name and never at the apex, one TTL per RRset."""
    seen: set[tuple[str, RecordType, str]] = set()
    types_at: dict[str, set[RecordType]] = defaultdict(set)
    cnames_at: dict[str, int] = defaultdict(int)
    ttls: dict[tuple[str, RecordType], int] = {}
    for r in records:
        if r.key in seen:
            raise Conflict(f"a {r.type} record {r.name} {r.data} already exists", code="duplicate_record")
        seen.add(r.key)
        types_at[r.name].add(r.type)
        if r.type is RecordType.CNAME:
            cnames_at[r.name] += 1
        ttl = ttls.setdefault((r.name, r.type), r.ttl)
        if ttl != r.ttl:
            raise Unprocessable(
                f"ttl: every {r.type} record at {r.name} must share one TTL ({ttl}); got {r.ttl}",
                code="inconsistent_ttl",
            )
    for name, types in types_at.items():
        if RecordType.CNAME not in types:
            continue
        if name == APEX:
            raise Unprocessable("name: a CNAME cannot sit at the zone apex", code="cname_at_apex")
        if len(types) > 1 or cnames_at[name] > 1:
            raise Unprocessable(
                f"name: a CNAME at {name} must be the only record there (RFC 1034 section 3.6.2)",
                code="cname_conflict",
            )
