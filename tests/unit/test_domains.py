"""Domains and zones on the memory adapters: claims, records and their rules, the SOA serial,
zone import and export, ownership verification, DNS health."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import msgspec
import pytest

from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_core.domain.domains import RecordType, next_serial, normalize_domain_name
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from tesserra_core.facade import UseCases
from tesserra_core.ports.health import Health
from tesserra_core.usecases.domains import DomainChanges, DomainHealthSource, NewDomain
from tesserra_core.usecases.zones import DnsRecordChanges, NewDnsRecord
from tests.unit.conftest import make_team
from tests.unit.helpers import FakeClock, Team

REALISTIC_ZONE = """\
$ORIGIN {zone}.
$TTL 3600
@       IN SOA  ns1.{zone}. hostmaster.{zone}. ( 2024010101 7200 3600 1209600 300 )
@       86400   IN NS   ns1.{zone}.
@       86400   IN NS   ns2.provider.net.
@               IN A    203.0.113.10
@               IN AAAA 2001:db8::10
@       300     IN MX   10 mail
@       300     IN MX   20 mail.backup.net.
@               IN TXT  "v=spf1 include:_spf.google.com ~all"
@               IN CAA  0 issue "letsencrypt.org"
@               IN CAA  0 iodef "mailto:security@{zone}"
www     600     IN CNAME @
mail            IN A    203.0.113.20
_sip._tcp       IN SRV  10 60 5060 sip.{zone}.
_dmarc          IN TXT  "v=DMARC1; p=quarantine; rua=mailto:dmarc@{zone}"
sip             IN A    203.0.113.30
long            IN TXT  "first string with spaces" "second \\"quoted\\" string"
$ORIGIN sub.{zone}.
api     120     IN A    198.51.100.7
*               IN A    198.51.100.8
"""


def zone_name() -> str:
    return f"z{uuid.uuid4().hex[:10]}.com.br"


def resolver(uc: UseCases) -> MemoryResolver:
    found = uc.ports.resolver
    assert isinstance(found, MemoryResolver)
    return found


async def new_domain(uc: UseCases, actor: Principal, **fields: object) -> str:
    view = await uc.domains.create(actor, NewDomain(name=str(fields.pop("name", zone_name())), **fields))  # type: ignore[arg-type]
    return view.id


async def records(uc: UseCases, actor: Principal, domain_id: str) -> set[tuple[str, str, int, str]]:
    page = await uc.zones.list_records(actor, domain_id, PageRequest(500, 0))
    return {(r.name, r.type.value, r.ttl, r.data) for r in page.items}


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


async def test_records_are_canonicalized(uc: UseCases, team: Team) -> None:
    name = zone_name()
    domain_id = await new_domain(uc, team.owner, name=name)
    lowercase = NewDnsRecord(name="@", type="mx", data="10 mail", ttl=300)  # type: ignore[arg-type]  # normalised
    mx = await uc.zones.create_record(team.owner, domain_id, lowercase)
    assert (mx.name, mx.type, mx.ttl, mx.data) == ("@", RecordType.MX, 300, f"10 mail.{name}.")
    txt = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name=f"WWW.{name}.", type=RecordType.TXT, data="hello world")
    )
    assert (txt.name, txt.data) == ("www", '"hello world"')
    full = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name=f"api.{name}", type=RecordType.A, data="192.0.2.5")
    )
    assert full.name == "api"  # a name ending in the zone's, even without the final dot, is that name
    apex = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name=name, type=RecordType.A, data="192.0.2.6")
    )
    assert apex.name == "@"


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"name": "www.other.org.", "type": "A", "data": "192.0.2.1"}, "name_outside_zone", "name"),
        ({"name": "www", "type": "A", "data": "192.0.2"}, "invalid_record_data", "data"),
        ({"name": "www", "type": "AAAA", "data": "192.0.2.1"}, "invalid_record_data", "data"),
        ({"name": "www", "type": "MX", "data": "mail"}, "invalid_record_data", "data"),
        ({"name": "www", "type": "PTR", "data": "x."}, "invalid_record_type", "type"),
        ({"name": "www", "type": "A", "data": "192.0.2.1", "ttl": 5}, "invalid_ttl", "ttl"),
        ({"name": "www", "type": "A", "data": "192.0.2.1", "ttl": 10**7}, "invalid_ttl", "ttl"),
        ({"name": "@", "type": "CNAME", "data": "elsewhere.net."}, "cname_at_apex", "name"),
    ],
)
async def test_bad_records_are_400_naming_the_field(
    uc: UseCases, team: Team, fields: dict[str, object], code: str, field: str
) -> None:
    domain_id = await new_domain(uc, team.owner)
    # Data vs its type, a name vs the zone, a CNAME at the apex: well formed, but semantically refused.
    semantic = ("invalid_record_data", "name_outside_zone", "cname_at_apex")
    expected = Unprocessable if code in semantic else ValidationFailed
    with pytest.raises(expected) as caught:
        await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(**fields))  # type: ignore[arg-type]
    assert caught.value.code == code
    assert field in caught.value.message
    assert await records(uc, team.owner, domain_id) == set()


async def test_a_cname_stands_alone_at_its_name(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.1"))
    with pytest.raises(Unprocessable) as caught:
        await uc.zones.create_record(
            team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.CNAME, data="x.net.")
        )
    assert caught.value.code == "cname_conflict"
    await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="blog", type=RecordType.CNAME, data="x.net."))
    for rtype, data in ((RecordType.TXT, "hi"), (RecordType.CNAME, "y.net.")):
        with pytest.raises(Unprocessable):
            await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="blog", type=rtype, data=data))


async def test_duplicates_conflict_and_an_rrset_keeps_one_ttl(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    a = NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.1", ttl=300)
    await uc.zones.create_record(team.owner, domain_id, a)
    with pytest.raises(Conflict):
        await uc.zones.create_record(team.owner, domain_id, a)
    with pytest.raises(Unprocessable) as caught:
        await uc.zones.create_record(
            team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.2")
        )
    assert caught.value.code == "inconsistent_ttl"


async def test_update_and_delete_a_record(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    record = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name="www", type=RecordType.A, data="192.0.2.1")
    )
    changed = await uc.zones.update_record(
        team.owner, domain_id, record.id, DnsRecordChanges(name="app", data="192.0.2.9", ttl=120)
    )
    assert (changed.id, changed.name, changed.data, changed.ttl) == (record.id, "app", "192.0.2.9", 120)
    with pytest.raises(Unprocessable):
        await uc.zones.update_record(team.owner, domain_id, record.id, DnsRecordChanges(data="not an address"))
    assert await records(uc, team.owner, domain_id) == {("app", "A", 120, "192.0.2.9")}
    await uc.zones.delete_record(team.owner, domain_id, record.id)
    assert await records(uc, team.owner, domain_id) == set()
    with pytest.raises(NotFound):
        await uc.zones.delete_record(team.owner, domain_id, record.id)


async def test_the_serial_grows_on_every_change_even_past_99_a_day(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    first = (await uc.domains.get(team.owner, domain_id)).serial
    assert str(first).startswith(uc.ports.clock.now().strftime("%Y%m%d"))
    serials = [first]
    record = await uc.zones.create_record(
        team.owner, domain_id, NewDnsRecord(name="w", type=RecordType.A, data="192.0.2.1")
    )
    for i in range(120):
        await uc.zones.update_record(team.owner, domain_id, record.id, DnsRecordChanges(data=f"192.0.2.{i % 250 + 1}"))
        serials.append((await uc.zones.export_zone(team.owner, domain_id)).serial)
    assert serials == sorted(set(serials))
    assert len(serials) == 121


def test_next_serial_is_monotonic_across_days() -> None:
    from datetime import date

    day = date(2026, 11, 22)
    assert next_serial(0, day) == 2026112200
    assert next_serial(2026112200, day) == 2026112201
    assert next_serial(2026112299, day) == 2026112300  # the 101st change of the day borrows tomorrow's
    assert next_serial(2026112300, day + timedelta(days=1)) == 2026112301
    assert next_serial(2026112205, day + timedelta(days=1)) == 2026112300


async def test_update_domain_changes_the_default_ttl_and_the_serial(uc: UseCases, team: Team) -> None:
    domain_id = await new_domain(uc, team.owner)
    before = await uc.domains.get(team.owner, domain_id)
    after = await uc.domains.update(team.owner, domain_id, DomainChanges(default_ttl=600))
    assert after.default_ttl == 600
    assert after.serial > before.serial
    assert "$TTL 600" in (await uc.zones.export_zone(team.owner, domain_id)).zone_file
    with pytest.raises(ValidationFailed):
        await uc.domains.update(team.owner, domain_id, DomainChanges(default_ttl=1))


async def test_a_realistic_zone_round_trips(uc: UseCases, team: Team) -> None:
    name = zone_name()
    domain_id = await new_domain(uc, team.owner, name=name)
    imported = await uc.zones.import_zone(team.owner, domain_id, REALISTIC_ZONE.format(zone=name))
    assert imported.records == 17
    first = await records(uc, team.owner, domain_id)
    assert ("www", "CNAME", 600, f"{name}.") in first
    assert ("_sip._tcp", "SRV", 3600, f"10 60 5060 sip.{name}.") in first
    assert ("@", "CAA", 3600, '0 issue "letsencrypt.org"') in first
    assert ("long", "TXT", 3600, '"first string with spaces" "second \\"quoted\\" string"') in first
    assert ("*.sub", "A", 3600, "198.51.100.8") in first
    assert ("api.sub", "A", 120, "198.51.100.7") in first
    assert ("@", "NS", 86400, "ns2.provider.net.") in first

    exported = await uc.zones.export_zone(team.owner, domain_id)
    assert exported.zone_file.startswith(f"$ORIGIN {name}.\n$TTL 3600\n@ 3600 IN SOA ns1 hostmaster {exported.serial} ")
    await uc.zones.import_zone(team.owner, domain_id, exported.zone_file)
    assert await records(uc, team.owner, domain_id) == first
    again = await uc.zones.export_zone(team.owner, domain_id)
    assert again.serial > exported.serial
    assert again.zone_file.replace(str(again.serial), "S") == exported.zone_file.replace(str(exported.serial), "S")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("www 300 IN A 192.0.2.1\nbad 300 IN A 192.0.2\n", 2),
        ("www 300 IN A 192.0.2.1\n\n\nfoo IN BLAH x\n", 4),
        ('ok IN TXT "a"\nbroken IN TXT "unterminated\n', 2),
        ("$INCLUDE /etc/passwd\n", 1),
        ("a IN A 192.0.2.1\nb.elsewhere.org. IN A 192.0.2.1\n", 2),
    ],
)
async def test_a_bad_zone_file_is_400_with_its_line_and_changes_nothing(
    uc: UseCases, team: Team, text: str, line: int
) -> None:
    domain_id = await new_domain(uc, team.owner)
    await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="keep", type=RecordType.A, data="192.0.2.1"))
    before = await uc.domains.get(team.owner, domain_id)
    with pytest.raises(ValidationFailed) as caught:
        await uc.zones.import_zone(team.owner, domain_id, text)
    assert f"line {line}:" in caught.value.message
    assert await records(uc, team.owner, domain_id) == {("keep", "A", 3600, "192.0.2.1")}
    assert (await uc.domains.get(team.owner, domain_id)).serial == before.serial


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("www 300 IN PTR x.example.\n", "unsupported_record_type"),
        ("www 5 IN A 192.0.2.1\n", "invalid_ttl"),
        ("www IN A 192.0.2.1\nwww IN CNAME x.net.\n", "invalid_zone_file"),  # dnspython refuses it first
        ("@ IN CNAME x.net.\n", "cname_at_apex"),
    ],
)
async def test_an_import_breaking_a_zone_rule_changes_nothing(uc: UseCases, team: Team, text: str, code: str) -> None:
    domain_id = await new_domain(uc, team.owner)
    await uc.zones.create_record(team.owner, domain_id, NewDnsRecord(name="keep", type=RecordType.A, data="192.0.2.1"))
    with pytest.raises(Unprocessable if code == "cname_at_apex" else ValidationFailed) as caught:
        await uc.zones.import_zone(team.owner, domain_id, text)
    assert caught.value.code == code
    assert await records(uc, team.owner, domain_id) == {("keep", "A", 3600, "192.0.2.1")}


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
