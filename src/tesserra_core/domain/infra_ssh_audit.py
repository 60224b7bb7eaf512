"""The Infra SSH audit: one record per attempt (allowed or refused) and per inventory change, hash-chained
per tenant. A record's ``hash`` is SHA-256 over the previous record's hash and the record's canonical
content (every field but ``hash``, in a fixed order), and ``seq`` counts from 1 without gaps: an edit,
a deletion, a reordering or an insertion breaks the chain at the first record it touches."""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

import msgspec

from tesserra_core.domain.infra_ssh import Outcome, ParamValue

GENESIS = "0" * 64


class Via(enum.StrEnum):
    REST = "rest"
    MCP = "mcp"
    CONSOLE = "console"
    """The web console: a person signed in at a browser."""


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
    FORWARD = "forward"
    """An attempt to open a forward, allowed or refused."""
    FORWARD_CLOSED = "forward_closed"


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


LINK_FIELDS: tuple[str, ...] = (
    *sorted(f for f in AuditRecord.__struct_fields__ if f != "hash"),
    "hash",
)
"""The fields of a ``Link`` in order: the hashed content in the canonical (sorted) order, then ``hash``."""

Link = Sequence[Any]
"""A record as its values in ``LINK_FIELDS`` order (enums may be their plain values, which hash the
same): what verification reads, without building a record, or a dict, per row."""

SEQ, ID, PREV_HASH, HASH = (LINK_FIELDS.index(f) for f in ("seq", "id", "prev_hash", "hash"))
_LEASE = LINK_FIELDS.index("lease_id")
_WithLease = msgspec.defstruct("_WithLease", [(f, Any) for f in LINK_FIELDS[:HASH]])
_NoLease = msgspec.defstruct("_NoLease", [(f, Any) for f in LINK_FIELDS[:HASH] if f != "lease_id"])
"""The canonical content as a struct whose fields are in sorted order, so that it encodes to the same
JSON as the sorted dict of the record's fields (a null ``lease_id`` left out) without sorting a dict per
record."""


def link_of(record: AuditRecord) -> list[Any]:
    return [getattr(record, f) for f in LINK_FIELDS]


def link_hash(link: Link) -> str:
    """SHA-256 of the link's ``prev_hash`` and its canonical content (its values but ``hash``)."""
    without_lease = link[_LEASE] is None
    content = _NoLease(*link[:_LEASE], *link[_LEASE + 1 : HASH]) if without_lease else _WithLease(*link[:HASH])
    return hashlib.sha256(link[PREV_HASH].encode() + _content.encode(content)).hexdigest()


def record_hash(record: AuditRecord) -> str:
    """SHA-256 of the previous hash and the record's canonical content (every field but ``hash``)."""
    return link_hash(link_of(record))


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


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A signed statement, kept outside the database, that the tenant's chain reached ``seq`` with
    ``head_hash``: a chain rewritten consistently, or cut short, no longer matches it."""

    tenant_id: str
    seq: int
    head_hash: str
    at: datetime
    signature: str = ""
    """Base64 of the Ed25519 signature over ``payload()``."""

    def payload(self) -> bytes:
        fields = {"tenant_id": self.tenant_id, "seq": self.seq, "head_hash": self.head_hash, "at": self.at}
        return _content.encode(fields)

    def signed(self, signature: bytes) -> Checkpoint:
        return msgspec.structs.replace(self, signature=base64.b64encode(signature).decode())


class Verification(msgspec.Struct, frozen=True, kw_only=True):
    """``ok`` with the number of records and of checkpoints checked, or the first bad record (its seq and
    id) and why; ``bad_checkpoint_seq`` names the checkpoint the chain fails (rewritten or cut short), or
    whose signature is bad."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    first_bad_id: str | None = None
    problem: str | None = None
    checkpoints: int = 0
    bad_checkpoint_seq: int | None = None


def _bad(checked: int, seq: int | None, record_id: str | None, problem: str, **more: Any) -> Verification:
    return Verification(ok=False, checked=checked, first_bad_seq=seq, first_bad_id=record_id, problem=problem, **more)


async def verify_chain(
    pages: AsyncIterator[Sequence[Link]],
    checkpoints: Sequence[Checkpoint] = (),
    genuine: Callable[[Checkpoint], bool] = lambda _: True,
) -> Verification:
    """Walk the records in ``seq`` order, a page at a time; stop at the first that does not follow from the
    one before, or whose hash differs from the checkpoint of its seq. A checkpoint past the chain's end
    means its tail was removed; a checkpoint that is not ``genuine`` (its signature) is named first."""
    for mark in checkpoints:
        if not genuine(mark):
            forged = f"the checkpoint at seq {mark.seq} has a bad signature (forged or damaged)"
            return _bad(0, None, None, forged, bad_checkpoint_seq=mark.seq)
    marks: dict[int, list[Checkpoint]] = {}
    for mark in checkpoints:
        marks.setdefault(mark.seq, []).append(mark)
    prev, expected, checked, matched = GENESIS, 1, 0, 0
    async for page in pages:
        for link in page:
            seq, stored = link[SEQ], link[HASH]
            problem: str | None = None
            if seq != expected:
                problem = f"expected seq {expected}, found {seq} (a record was removed, inserted or moved)"
            elif link[PREV_HASH] != prev:
                problem = "prev_hash does not match the previous record (removed, inserted or moved)"
            elif link_hash(link) != stored:
                problem = "its content does not match its hash (edited)"
            if problem is not None:
                return _bad(checked, seq, link[ID], problem)
            for mark in marks.get(seq, ()):
                if mark.head_hash != stored:
                    rewritten = (
                        f"the checkpoint at seq {seq} (signed {mark.at.isoformat()}) holds another hash: the chain "
                        f"was rewritten at or before seq {seq}"
                    )
                    return _bad(checked, seq, link[ID], rewritten, checkpoints=matched, bad_checkpoint_seq=seq)
                matched += 1
            prev, expected, checked = stored, expected + 1, checked + 1
    beyond = [mark for mark in checkpoints if mark.seq >= expected]
    if beyond:
        mark = min(beyond, key=lambda m: m.seq)
        cut = (
            f"the checkpoint at seq {mark.seq} (signed {mark.at.isoformat()}) is past the chain's end at seq "
            f"{expected - 1}: records after it were removed"
        )
        return _bad(checked, expected, None, cut, checkpoints=matched, bad_checkpoint_seq=mark.seq)
    return Verification(ok=True, checked=checked, checkpoints=matched)
