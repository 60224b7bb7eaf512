"""Domains and DNS records with unique ids and names, for the shared contract databases."""

from __future__ import annotations

import uuid
from typing import Any

from tesserra_core.domain.domains import DnsRecord, Domain, RecordType, VerificationStatus
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id
from tests.contract.project_entities import seed_tenant


async def a_tenant(uow_factory: UnitOfWorkFactory) -> str:
    """The id of a committed tenant."""
    return (await seed_tenant(uow_factory)).id


def domain(tenant_id: str, **changes: Any) -> Domain:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "name": f"d{uuid.uuid4().hex[:12]}.com.br",
        "default_ttl": 3600,
        "serial": 2025030400,
        "verification_token": uuid.uuid4().hex,
        "verification_status": VerificationStatus.PENDING,
        "verified_at": None,
        "last_checked_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    return Domain(**{**values, **changes})


def record(d: Domain, **changes: Any) -> DnsRecord:
    values: dict[str, Any] = {
        "id": new_id(),
        "tenant_id": d.tenant_id,
        "domain_id": d.id,
        "name": "www",
        "type": RecordType.A,
        "ttl": 300,
        "data": "192.0.2.1",
        "created_at": T0,
        "updated_at": T0,
    }
    return DnsRecord(**{**values, **changes})


async def add_domain(uow_factory: UnitOfWorkFactory, d: Domain) -> Domain:
    async with uow_factory() as uow:
        await uow.domains.add(d)
        await uow.commit()
    return d
