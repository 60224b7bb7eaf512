"""SQL repositories of Infra SSH: hosts (lists as JSON text) and the append-only audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import Row, String, and_, bindparam, column, func, insert, select, table
from sqlalchemy.exc import IntegrityError

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.repository import Repo, from_row, to_values
from tesserra_core.domain.infra_ssh import Host, Outcome, ParamValue
from tesserra_core.domain.infra_ssh_audit import (
    GENESIS,
    LINK_FIELDS,
    SEQ,
    AuditEvent,
    AuditFilter,
    AuditRecord,
    ChainHead,
    Link,
    Via,
)
from tesserra_core.domain.infra_ssh_leases import Approval, Lease, LeaseFilter, LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict

_encoder = msgspec.json.Encoder()
_words = msgspec.json.Decoder(tuple[str, ...])
_parameters = msgspec.json.Decoder(dict[str, ParamValue])
_LISTS = ("labels", "actions", "forwards")


def _host(r: Row[Any]) -> Host:
    return from_row(Host, r, **{name: _words.decode(getattr(r, name)) for name in _LISTS})


def _host_values(h: Host) -> dict[str, Any]:
    lists = {name: _encoder.encode(getattr(h, name)).decode() for name in _LISTS}
    return to_values(h) | lists


def _name_taken(name: str) -> Conflict:
    return Conflict(f"a host named {name} exists", code="host_name_taken")


class SqlSshHosts(Repo):
    async def add(self, host: Host) -> None:
        await self._insert(t.ssh_hosts, _host_values(host), _name_taken(host.name))

    async def get(self, tenant_id: str, host_id: str) -> Host | None:
        return await self._read_owned(t.ssh_hosts, _host, tenant_id, host_id)

    async def update(self, host: Host) -> None:
        taken = await self._one(
            select(t.ssh_hosts.c.id).where(
                t.ssh_hosts.c.tenant_id == host.tenant_id, t.ssh_hosts.c.name == host.name, t.ssh_hosts.c.id != host.id
            )
        )
        if taken is not None:
            raise _name_taken(host.name)
        await self._update_owned(t.ssh_hosts, host.tenant_id, host.id, _host_values(host))

    async def remove(self, tenant_id: str, host_id: str) -> bool:
        return await self._delete_owned(t.ssh_hosts, tenant_id, host_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Host], int]:
        c = t.ssh_hosts.c
        return await self._page(t.ssh_hosts, _host, page, c.tenant_id == tenant_id, c.name, c.id)


_approvals = msgspec.json.Decoder(tuple[Approval, ...])
_LEASE_LISTS = ("host_ids", "actions", "forwards")


def _lease(r: Row[Any]) -> Lease:
    lists = {name: _words.decode(getattr(r, name)) for name in _LEASE_LISTS}
    return from_row(Lease, r, approvals=_approvals.decode(r.approvals), **lists)


def _lease_values(lease: Lease) -> dict[str, Any]:
    lists = {name: _encoder.encode(getattr(lease, name)).decode() for name in (*_LEASE_LISTS, "approvals")}
    return to_values(lease) | lists


class SqlSshLeases(Repo):
    async def add(self, lease: Lease) -> None:
        await self._insert(t.ssh_leases, _lease_values(lease), Conflict("the lease exists", code="lease_exists"))

    async def get(self, tenant_id: str, lease_id: str) -> Lease | None:
        return await self._read_owned(t.ssh_leases, _lease, tenant_id, lease_id)

    async def update(self, lease: Lease) -> None:
        await self._update_owned(t.ssh_leases, lease.tenant_id, lease.id, _lease_values(lease))

    async def revoked_before_end(self, tenant_id: str, now: datetime) -> list[Lease]:
        c = t.ssh_leases.c
        where = (c.tenant_id == tenant_id) & (c.state == LeaseState.REVOKED.value) & (c.ends_at > now)
        return [_lease(r) for r in await self._all(select(t.ssh_leases).where(where))]

    async def of_user(self, tenant_id: str, user_id: str, state: LeaseState) -> list[Lease]:
        c = t.ssh_leases.c
        where = (c.tenant_id == tenant_id) & (c.user_id == user_id) & (c.state == state.value)
        return [_lease(r) for r in await self._all(select(t.ssh_leases).where(where).order_by(c.created_at, c.id))]

    async def list(
        self, tenant_id: str, page: PageRequest, where: LeaseFilter = LeaseFilter()
    ) -> tuple[list[Lease], int]:
        c = t.ssh_leases.c
        kept = [c.tenant_id == tenant_id]
        if where.user_id is not None:
            kept.append(c.user_id == where.user_id)
        if where.state is not None:
            kept.append(_in_state(where.state, where.at))
        return await self._page(t.ssh_leases, _lease, page, and_(*kept), c.created_at.desc(), c.id.desc())


def _in_state(state: LeaseState, at: datetime | None) -> Any:
    """A lease in ``state`` as of ``at``: an active lease past its end is expired (``Lease.state_at``)."""
    c = t.ssh_leases.c
    if at is None or state not in (LeaseState.ACTIVE, LeaseState.EXPIRED):
        return c.state == state.value
    running = (c.state == LeaseState.ACTIVE.value) & (c.ends_at > at)
    if state is LeaseState.ACTIVE:
        return running
    past = (c.state == LeaseState.ACTIVE.value) & (c.ends_at <= at)
    return (c.state == LeaseState.EXPIRED.value) | past


_RECORD_FIELDS = AuditRecord.__struct_fields__
_RECORD_COLUMNS = [t.ssh_audit.c[name] for name in _RECORD_FIELDS]
"""The columns in the record's field order: a row reads straight into the record, without a mapping per row
(verifying 100,000 records reads each once)."""


_EVENTS = {e.value: e for e in AuditEvent}
_VIAS = {v.value: v for v in Via}
_OUTCOMES = {o.value: o for o in Outcome}


def _record(r: Row[Any]) -> AuditRecord:
    values = dict(zip(_RECORD_FIELDS, r, strict=True))
    values["event"] = _EVENTS[values["event"]]
    values["via"] = _VIAS[values["via"]]
    values["outcome"] = _OUTCOMES[values["outcome"]]
    values["parameters"] = _parameters.decode(values["parameters"])
    return AuditRecord(**values)


def _record_values(a: AuditRecord) -> dict[str, Any]:
    return to_values(a, parameters=_encoder.encode(a.parameters).decode())


def _appending() -> Any:
    """``INSERT INTO ssh_audit (...) SELECT :id, ... WHERE coalesce(<hash of the tenant's last record>,
    GENESIS) = :head_prev``: the record goes in only where the chain still ends at its ``prev_hash``, the
    check and the write one statement (built once, so SQLAlchemy compiles it once)."""
    c = t.ssh_audit.c
    last_hash = (
        select(c.hash)
        .where(c.tenant_id == bindparam("head_tenant", type_=c.tenant_id.type))
        .order_by(c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    follows = func.coalesce(last_hash, GENESIS) == bindparam("head_prev", type_=String)
    values = select(*(bindparam(name, type_=c[name].type) for name in _RECORD_FIELDS)).where(follows)
    return insert(t.ssh_audit).from_select(list(_RECORD_FIELDS), values)


_APPEND = _appending()


class SqlSshAudit(Repo):
    async def last(self, tenant_id: str) -> AuditRecord | None:
        c = t.ssh_audit.c
        row = await self._one(select(*_RECORD_COLUMNS).where(c.tenant_id == tenant_id).order_by(c.seq.desc()).limit(1))
        return _record(row) if row else None

    async def head(self, tenant_id: str) -> ChainHead | None:
        c = t.ssh_audit.c
        row = await self._one(select(c.seq, c.hash).where(c.tenant_id == tenant_id).order_by(c.seq.desc()).limit(1))
        return ChainHead(row.seq, row.hash) if row else None

    async def append(self, record: AuditRecord) -> None:
        params = _record_values(record) | {"head_tenant": record.tenant_id, "head_prev": record.prev_hash}
        try:
            written = (await self._conn.execute(_APPEND, params)).rowcount
        except IntegrityError:
            written = 0
        if not written:
            raise Conflict("the audit moved on meanwhile", code="audit_conflict")

    async def get(self, tenant_id: str, record_id: str) -> AuditRecord | None:
        c = t.ssh_audit.c
        row = await self._one(select(*_RECORD_COLUMNS).where(c.tenant_id == tenant_id, c.id == record_id))
        return _record(row) if row else None

    async def query(self, tenant_id: str, where: AuditFilter, page: PageRequest) -> tuple[list[AuditRecord], int]:
        c = t.ssh_audit.c
        conditions = [c.tenant_id == tenant_id]
        for name, value in msgspec.structs.asdict(where).items():
            if value is not None:
                conditions.append(c[name] == getattr(value, "value", value))
        matching = and_(*conditions)
        stmt = select(*_RECORD_COLUMNS).where(matching).order_by(c.seq.desc()).limit(page.limit).offset(page.offset)
        rows = await self._all(stmt)
        total = len(rows) if page.offset == 0 and len(rows) < page.limit else await self._count(t.ssh_audit, matching)
        return [_record(r) for r in rows], total

    async def chain(self, tenant_id: str, batch: int = 5000) -> AsyncIterator[list[Link]]:
        after = 0
        while True:
            rows = (await self._conn.execute(_LINKS, {"tenant_id": tenant_id, "after": after, "batch": batch})).all()
            yield [_link(row) for row in rows]
            if len(rows) < batch:
                return
            after = rows[-1][SEQ]


def _chain_page() -> Any:
    """A page of a tenant's records after a ``seq``, as the driver answers them: untyped columns, so that
    no value goes through a type's result processing (on SQLite that parses each ``at`` with a regular
    expression); ``_link`` turns the few that need it into the values the hash covers."""
    audit = table("ssh_audit", *(column(name) for name in LINK_FIELDS))
    c = audit.c
    return (
        select(*(c[name] for name in LINK_FIELDS))
        .where(c.tenant_id == bindparam("tenant_id"), c.seq > bindparam("after"))
        .order_by(c.seq)
        .limit(bindparam("batch"))
    )


_LINKS = _chain_page()
_AT, _PARAMETERS = LINK_FIELDS.index("at"), LINK_FIELDS.index("parameters")


def _at_text(stored: str) -> str:
    """SQLite's text of an ``at`` (``2026-12-04 19:21:45.123456``) as the hash encodes the datetime
    (``2026-12-04T19:21:45.123456Z``, no fraction when it is zero), without parsing it: a third of the cost
    of reading a record back. Text of any other shape is returned as found (its hash then fails)."""
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        if stored.endswith(".000000"):
            return f"{stored[:10]}T{stored[11:19]}Z"
        return f"{stored[:10]}T{stored[11:]}Z"
    if len(stored) == 19 and stored[10] == " ":
        return f"{stored[:10]}T{stored[11:]}Z"
    return stored


def _link(row: Row[Any]) -> Link:
    """The record's values as hashed: ``at`` as the hash encodes it (PostgreSQL answers an aware datetime,
    SQLite text), ``parameters`` decoded. A value that does not read back (tampered with) is left as found:
    its hash then fails."""
    link = list(row)
    at = link[_AT]
    if at.__class__ is str:
        link[_AT] = _at_text(at)
    try:  # noqa: SIM105 (a with block per record costs more than the try)
        link[_PARAMETERS] = _parameters.decode(link[_PARAMETERS])
    except msgspec.DecodeError:
        pass
    return link
