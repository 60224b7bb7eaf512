"""Domains on the memory adapters: claims, quotas, tenants, scopes, ownership verification, DNS health."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tesserra_core.domain.domains import RecordType, normalize_domain_name
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    Unavailable,
    ValidationFailed,
)
from tesserra_core.facade import UseCases
from tesserra_core.ports.health import Health
from tesserra_core.usecases.domains import DomainChanges, DomainHealthSource, NewDomain
from tesserra_core.usecases.zones import DnsRecordChanges, NewDnsRecord
from tests.unit.conftest import make_team
from tests.unit.domain_support import new_domain, records, resolver, zone_name
from tests.unit.helpers import FakeClock, Team


async def test_a_domain_is_claimed_normalized_pending_with_a_challenge(uc: UseCases, team: Team) -> None:
    view = await uc.domains.create(team.owner, NewDomain(name="  Padaria-Exemplo.COM.br. "))
    assert view.name == "padaria-exemplo.com.br"
    assert view.verification_status == "pending"
    assert view.verification_record.name == "_tesserra-challenge.padaria-exemplo.com.br"
    assert view.verification_record.type == "TXT"
    assert len(view.verification_record.value) >= 32
    assert (await uc.domains.get(team.owner, view.id)).name == view.name


def test_unicode_names_take_their_idna_form() -> None:
    assert normalize_domain_name("Padaria-Café.com.BR.") == "xn--padaria-caf-lbb.com.br"


@pytest.mark.parametrize("name", ["localhost", "-bad.com", "a..com", "exa mple.com", "x" * 64 + ".com", "1.2.3.4", ""])
async def test_bad_domain_names_are_400(uc: UseCases, team: Team, name: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.domains.create(team.owner, NewDomain(name=name))
    assert caught.value.code == "invalid_domain_name"


async def test_a_name_is_unique_across_tenants(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    name = zone_name()
    await new_domain(uc, team.owner, name=name)
    with pytest.raises(Conflict) as caught:
        await uc.domains.create(other.owner, NewDomain(name=name.upper()))
    assert caught.value.code == "domain_taken"


async def test_the_domains_quota_answers_402_naming_it(uc: UseCases, team: Team) -> None:
    await new_domain(uc, team.owner)  # the free plan allows one
    with pytest.raises(PaymentRequired) as caught:
        await new_domain(uc, team.owner)
    assert "domains" in caught.value.message


async def test_another_tenants_domain_is_404_everywhere(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    domain_id = await new_domain(uc, team.owner)
    record = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.1")
    )
    calls = [
        uc.domains.get(other.owner, domain_id),
        uc.domains.update(other.owner, domain_id, DomainChanges(default_ttl=600)),
        uc.domains.delete(other.owner, domain_id),
        uc.domains.verify(other.owner, domain_id),
        uc.zones.list_records(other.owner, domain_id, PageRequest()),
        uc.zones.create_record(other.owner, domain_id, NewDnsRecord(name="x", type=RecordType.A, data="192.0.2.1")),
        uc.zones.update_record(other.owner, domain_id, record.id, DnsRecordChanges(ttl=600)),
        uc.zones.delete_record(other.owner, domain_id, record.id),
        uc.zones.export_zone(other.owner, domain_id),
        uc.zones.import_zone(other.owner, domain_id, "www 300 IN A 192.0.2.9\n"),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            await call
    assert (await uc.domains.list(other.owner, PageRequest())).total == 0
    assert await records(uc, team.owner, domain_id) == {("www", "A", 3600, "192.0.2.1")}


async def test_reading_needs_domains_read_and_writing_domains_write(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    reader = narrowed(team.owner, Scope.DOMAINS_READ)
    assert (await uc.domains.get(reader, domain_id)).id == domain_id
    with pytest.raises(Forbidden):
        await uc.zones.create_record(reader, domain_id, NewDnsRecord(name="x", type=RecordType.A, data="192.0.2.1"))
    nobody = narrowed(team.owner, Scope.PROFILE_READ)
    with pytest.raises(Forbidden):
        await uc.domains.list(nobody, PageRequest())


def narrowed(actor: Principal, *scopes: Scope) -> Principal:
    return msgspec.structs.replace(actor, scopes=frozenset(scopes))


async def test_verification_follows_the_txt_challenge(uc: UseCases, team: Team, clock: FakeClock) -> None:
    dns = resolver(uc)
    view = await uc.domains.create(team.owner, NewDomain(name=zone_name()))
    failed = await uc.domains.verify(team.owner, view.id)
    assert failed.verification_status == "failed"
    assert failed.last_checked_at == clock.now()
    dns.publish_txt(view.verification_record.name, "unrelated", view.verification_record.value)
    clock.advance(5)
    verified = await uc.domains.verify(team.owner, view.id)
    assert verified.verification_status == "verified"
    assert verified.verified_at == clock.now()
    dns.txt_records.clear()
    clock.advance(5)
    assert (await uc.domains.verify(team.owner, view.id)).verification_status == "failed"


async def test_a_resolver_that_cannot_answer_is_503_and_changes_nothing(uc: UseCases, team: Team) -> None:
    dns = resolver(uc)
    view = await uc.domains.create(team.owner, NewDomain(name=zone_name()))
    dns.down = True
    with pytest.raises(Unavailable):
        await uc.domains.verify(team.owner, view.id)
    dns.down = False
    dns.delay = 0.3
    slow = type(uc.domains.verify)(uc.ports.uow, dns, uc.ports.clock, time_limit=0.05)
    with pytest.raises(Unavailable) as caught:
        await slow(team.owner, view.id)
    assert caught.value.code == "dns_timeout"
    assert (await uc.domains.get(team.owner, view.id)).verification_status == "pending"


async def test_deleting_a_domain_takes_its_records(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.1"))
    await uc.domains.delete(team.owner, domain_id)
    with pytest.raises(NotFound):
        await uc.domains.get(team.owner, domain_id)
    with pytest.raises(NotFound):
        await uc.zones.list_records(team.owner, domain_id, PageRequest())
    await new_domain(uc, team.owner)  # the quota's room is back


async def test_dns_health_reports_each_domain_within_the_time_limit(uc: UseCases, team: Team, admin: Principal) -> None:
    dns = resolver(uc)
    other = await make_team(uc, admin)
    good = await uc.domains.create(team.owner, NewDomain(name=zone_name()))
    plain = await uc.domains.create(other.owner, NewDomain(name=zone_name()))
    dns.publish_txt(good.verification_record.name, good.verification_record.value)
    await uc.domains.verify(team.owner, good.id)
    dns.publish_address(good.name, "192.0.2.1")
    source = DomainHealthSource(uc.ports.uow, dns, uc.ports.clock, time_limit=0.2)

    [item] = await source.check(team.tenant_id)
    assert (item.kind, item.id, item.status, item.state, item.reasons) == ("domain", good.id, Health.OK, "verified", [])
    [other_item] = await source.check(other.tenant_id)
    assert other_item.status is Health.DEGRADED
    assert other_item.reasons == ["ownership is pending", f"{plain.name} has no A or AAAA record"]

    dns.delay = 5.0
    started = asyncio.get_running_loop().time()
    [slow] = await source.check(team.tenant_id)
    assert asyncio.get_running_loop().time() - started < 1.0
    assert slow.status is Health.DOWN
    report = await uc.health.tenant(team.owner)
    assert any(i.kind == "domain" and i.id == good.id for i in report.items)
