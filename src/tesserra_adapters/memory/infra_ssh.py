"""In-memory repositories of Infra SSH: hosts and the append-only audit chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import msgspec

from tesserra_adapters.memory.base import _Repo
from tesserra_core.domain.infra_ssh import Host
from tesserra_core.domain.infra_ssh_audit import GENESIS, AuditFilter, AuditRecord, ChainHead, Link, link_of
from tesserra_core.domain.infra_ssh_leases import Lease, LeaseFilter, LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict


class MemorySshHosts(_Repo):
    def _check_name(self, host: Host) -> None:
        for other in self._store.ssh_hosts.values():
            if other.tenant_id == host.tenant_id and other.name == host.name and other.id != host.id:
                raise Conflict(f"a host named {host.name} exists", code="host_name_taken")

    async def add(self, host: Host) -> None:
        self._check_name(host)
        self._put(self._store.ssh_hosts, host.id, host)

    async def get(self, tenant_id: str, host_id: str) -> Host | None:
        return self._owned(self._store.ssh_hosts, tenant_id, host_id)

    async def update(self, host: Host) -> None:
        self._check_name(host)
        if self._owned(self._store.ssh_hosts, host.tenant_id, host.id) is not None:
            self._put(self._store.ssh_hosts, host.id, host)

    async def remove(self, tenant_id: str, host_id: str) -> bool:
        return self._pop_owned(self._store.ssh_hosts, tenant_id, host_id)

    async def list(self, tenant_id: str, page: PageRequest) -> tuple[list[Host], int]:
        found = [h for h in self._store.ssh_hosts.values() if h.tenant_id == tenant_id]
        return page.window(sorted(found, key=lambda h: (h.name, h.id)))


class MemorySshAudit(_Repo):
    """The records of each tenant in a list, in the order appended (which is ``seq`` order)."""

    def _records(self, tenant_id: str) -> list[AuditRecord]:
        return self._store.ssh_audit.setdefault(tenant_id, [])

    async def last(self, tenant_id: str) -> AuditRecord | None:
        records = self._records(tenant_id)
        return max(records, key=lambda r: r.seq) if records else None

    async def head(self, tenant_id: str) -> ChainHead | None:
        last = await self.last(tenant_id)
        return None if last is None else ChainHead(last.seq, last.hash)

    async def append(self, record: AuditRecord) -> None:
        records = self._records(record.tenant_id)
        ends_at = records[-1].hash if records else GENESIS
        if ends_at != record.prev_hash or any(r.seq == record.seq for r in records):
            raise Conflict("the audit moved on meanwhile", code="audit_conflict")
        records.append(record)
        self._journal.append(lambda: records.remove(record))

    async def get(self, tenant_id: str, record_id: str) -> AuditRecord | None:
        return next((r for r in self._records(tenant_id) if r.id == record_id), None)

    async def query(self, tenant_id: str, where: AuditFilter, page: PageRequest) -> tuple[list[AuditRecord], int]:
        wanted = {k: v for k, v in msgspec.structs.asdict(where).items() if v is not None}
        found = [r for r in self._records(tenant_id) if all(getattr(r, k) == v for k, v in wanted.items())]
        return page.window(sorted(found, key=lambda r: r.seq, reverse=True))

    async def chain(self, tenant_id: str, batch: int = 5000) -> AsyncIterator[list[Link]]:
        records = sorted(self._records(tenant_id), key=lambda r: (r.seq, r.id))
        for start in range(0, len(records), batch):
            yield [link_of(r) for r in records[start : start + batch]]


class MemorySshLeases(_Repo):
    async def add(self, lease: Lease) -> None:
        if lease.id in self._store.ssh_leases:
            raise Conflict("the lease exists", code="lease_exists")
        self._put(self._store.ssh_leases, lease.id, lease)

    async def get(self, tenant_id: str, lease_id: str) -> Lease | None:
        return self._owned(self._store.ssh_leases, tenant_id, lease_id)

    async def update(self, lease: Lease) -> None:
        if self._owned(self._store.ssh_leases, lease.tenant_id, lease.id) is not None:
            self._put(self._store.ssh_leases, lease.id, lease)

    async def revoked_before_end(self, tenant_id: str, now: datetime) -> list[Lease]:
        found = self._store.ssh_leases.values()
        return [
            x
            for x in found
            if x.tenant_id == tenant_id and x.state is LeaseState.REVOKED and x.ends_at is not None and x.ends_at > now
        ]

    async def of_user(self, tenant_id: str, user_id: str, state: LeaseState) -> list[Lease]:
        found = self._store.ssh_leases.values()
        mine = [x for x in found if x.tenant_id == tenant_id and x.user_id == user_id and x.state is state]
        return sorted(mine, key=lambda x: (x.created_at, x.id))

    async def list(
        self, tenant_id: str, page: PageRequest, where: LeaseFilter = LeaseFilter()
    ) -> tuple[list[Lease], int]:
        found = [x for x in self._store.ssh_leases.values() if x.tenant_id == tenant_id and where.keeps(x)]
        return page.window(sorted(found, key=lambda x: (x.created_at, x.id), reverse=True))
