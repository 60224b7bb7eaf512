"""The Infra SSH audit: one record per attempt (allowed or refused) and per inventory change, hash-chained
per tenant. A record's ``hash`` is SHA-256 over the previous record's hash and the record's canonical
content (every field but ``hash``, in a fixed order), and ``seq`` counts from 1 without gaps: an edit,
a deletion, a reordering or an insertion breaks the chain at the first record it touches."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from tesserra_core.domain.infra_ssh import Outcome, ParamValue

GENESIS = "0" * 64


class Via(enum.StrEnum):
    REST = "rest"
    MCP = "mcp"


class AuditEvent(enum.StrEnum):
    RUN = "run"
    HOST_ADDED = "host_added"
    HOST_CHANGED = "host_changed"
    HOST_REMOVED = "host_removed"
    HOST_KEY_REPINNED = "host_key_repinned"
    LEASE_REQUESTED = "lease_requested"
    LEASE_APPROVED = "lease_approved"
    LEASE_DENIED = "lease_denied"
    LEASE_REVOKED = "lease_revoked"
    LEASE_EXPIRED = "lease_expired"


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    seq: int
    at: datetime
    event: AuditEvent
    key_id: str
    user_id: str
    """X-User-Id: the human the admin key acted for."""
    via: Via
    host_id: str | None
    host_name: str | None
    action: str | None
    parameters: dict[str, ParamValue]
    argv_sha256: str | None
    outcome: Outcome
    remote_kind: str | None
    exit_status: int | None
    signal: str | None
    stdout_sha256: str | None
    stdout_bytes: int | None
    stderr_sha256: str | None
    stderr_bytes: int | None
    duration_ms: int | None
    run_id: str | None
    detail: str
    prev_hash: str
    hash: str
    lease_id: str | None = None
    """The approval lease the attempt used or the lease event is about (left out of the hash when null, so
    records written before leases existed keep their hashes)."""


_content = msgspec.json.Encoder(order="sorted")


def record_hash(record: AuditRecord) -> str:
    """SHA-256 of the previous hash and the record's canonical content (every field but ``hash``)."""
    fields = msgspec.structs.asdict(record)
    del fields["hash"]
    if fields["lease_id"] is None:
        del fields["lease_id"]
    return hashlib.sha256(record.prev_hash.encode() + _content.encode(fields)).hexdigest()


def sealed(record: AuditRecord) -> AuditRecord:
    """The record with its ``hash`` filled in."""
    return msgspec.structs.replace(record, hash=record_hash(record))


class ChainHead(msgspec.Struct, frozen=True):
    """Where a tenant's chain ends: the ``seq`` and ``hash`` of its last record."""

    seq: int
    hash: str


class AuditFilter(msgspec.Struct, frozen=True, kw_only=True):
    host_id: str | None = None
    action: str | None = None
    outcome: Outcome | None = None
    user_id: str | None = None
    event: AuditEvent | None = None
    run_id: str | None = None
    lease_id: str | None = None


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """``ok`` with the number of records checked, or the first bad record (its seq and id) and why."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: str | None = None
    problem: str | None = None


async def verify_chain(records: AsyncIterator[AuditRecord]) -> Verification:
    """Walk the records in ``seq`` order; stop at the first that does not follow from the one before."""
    prev, expected, checked = GENESIS, 1, 0
    async for record in records:
        problem = None
        if record.seq != expected:
            problem = f"expected seq {expected}, found {record.seq} (a record was removed, inserted or moved)"
        elif record.prev_hash != prev:
            problem = "prev_hash does not match the previous record (removed, inserted or moved)"
        elif record_hash(record) != record.hash:
            problem = "its content does not match its hash (edited)"
        if problem is not None:
            return Verification(
                ok=False, checked=checked, first_bad_seq=record.seq, first_bad_id=record.id, problem=problem
            )
        prev, expected, checked = record.hash, expected + 1, checked + 1
    return Verification(ok=True, checked=checked)
