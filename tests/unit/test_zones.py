"""DNS records and zone files on the memory adapters: records and their rules, the SOA serial, zone
import and export."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tesserra_core.domain.domains import RecordType, next_serial
from tesserra_core.errors import (
    Conflict,
    NotFound,
    Unprocessable,
    ValidationFailed,
)
from tesserra_core.facade import UseCases
from tesserra_core.usecases.domains import DomainChanges
from tesserra_core.usecases.zones import DnsRecordChanges, NewDnsRecord
from tests.unit.domain_support import REALISTIC_ZONE, new_domain, records, zone_name
from tests.unit.helpers import Team


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
