"""Zones: a domain's DNS records (list, create, update, delete) and its RFC 1035 zone file (export,
import), every change going through the ZoneEditor."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.domains import (
    RECORD_NAME,
    TTL_META,
    DnsRecord,
    Domain,
    RecordData,
    RecordType,
    check_ttl,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Line
from tesserra_core.errors import NotFound, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.dns import Soa, ZoneCodec
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import IdFactory
from tesserra_core.usecases.domains import DomainView, ZoneEditor, load_domain
from tesserra_core.usecases.views import View


class DnsRecordView(View[DnsRecord], frozen=True):
    id: str
    domain_id: str
    name: str
    type: RecordType
    ttl: int
    data: str
    created_at: datetime
    updated_at: datetime


class ZoneFileView(msgspec.Struct, frozen=True):
    domain_id: str
    serial: int
    zone_file: str


class ZoneImportView(msgspec.Struct, frozen=True):
    domain: DomainView
    records: int


class NewDnsRecord(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, RECORD_NAME]
    type: Annotated[RecordType, msgspec.Meta(examples=["A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS"])]
    data: Annotated[
        Line,
        msgspec.Meta(
            description="In the zone-file syntax of its type (422 invalid_record_data when it does not parse as one)",
            examples=["203.0.113.7", "10 mail.example.com.", '0 issue "letsencrypt.org"'],
        ),
    ]
    ttl: Annotated[int, TTL_META] | None = None


class DnsRecordChanges(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, RECORD_NAME] | None = None
    data: Line | None = None
    ttl: Annotated[int, TTL_META] | None = None


def _record_type(value: str) -> RecordType:
    try:
        return RecordType(value.strip().upper())
    except ValueError:
        known = ", ".join(t.value for t in RecordType)
        raise ValidationFailed(f"type must be one of {known}", code="invalid_record_type") from None


@dataclass(frozen=True, slots=True)
class ListDnsRecords:
    """A domain's DNS records, by name and type (the SOA is the platform's: see the zone file)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, domain_id: str, page: PageRequest) -> Page[DnsRecordView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await load_domain(uow, actor, domain_id)
            return page.answer(await uow.dns_records.list(actor.tenant_id, domain_id, page), DnsRecordView.of)


@dataclass(frozen=True, slots=True)
class CreateDnsRecord:
    """Add an A, AAAA, CNAME, MX, TXT, SRV, CAA or NS record. A name outside the zone, data that is not valid
    for the type, a TTL out of 30-604800 or a CNAME sharing its name is refused naming the field; an exact
    duplicate is a conflict."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE  # checked by the zone editor, which it calls

    editor: ZoneEditor
    codec: ZoneCodec
    ids: IdFactory

    async def __call__(self, actor: Principal, domain_id: str, cmd: NewDnsRecord) -> DnsRecordView:
        rtype = _record_type(cmd.type)
        made: list[DnsRecord] = []

        def change(domain: Domain, records: list[DnsRecord]) -> list[DnsRecord]:
            ttl = check_ttl(cmd.ttl if cmd.ttl is not None else domain.default_ttl)
            content = self.codec.record(domain.name, cmd.name, rtype, ttl, cmd.data)
            record = DnsRecord.new(self.ids.new(), domain, content)
            made.append(record)
            return [*records, record]

        await self.editor.edit(actor, domain_id, change)
        return DnsRecordView.of(made[0])


@dataclass(frozen=True, slots=True)
class UpdateDnsRecord:
    """Change a DNS record's name, data or TTL (checked as on creation)."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE  # checked by the zone editor, which it calls

    editor: ZoneEditor
    codec: ZoneCodec

    async def __call__(self, actor: Principal, domain_id: str, record_id: str, cmd: DnsRecordChanges) -> DnsRecordView:
        changed: list[DnsRecord] = []

        def change(domain: Domain, records: list[DnsRecord]) -> list[DnsRecord]:
            old = next((r for r in records if r.id == record_id), None)
            if old is None:
                raise NotFound("no such DNS record", code="record_not_found")
            ttl = check_ttl(cmd.ttl) if cmd.ttl is not None else old.ttl
            content = self.codec.record(
                domain.name, cmd.name if cmd.name is not None else old.name, old.type, ttl, cmd.data or old.data
            )
            new = msgspec.structs.replace(
                old, name=content.name, ttl=content.ttl, data=content.data, updated_at=domain.updated_at
            )
            changed.append(new)
            return [new if r.id == record_id else r for r in records]

        await self.editor.edit(actor, domain_id, change)
        return DnsRecordView.of(changed[0])


@dataclass(frozen=True, slots=True)
class DeleteDnsRecord:
    """Delete a DNS record."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE  # checked by the zone editor, which it calls

    editor: ZoneEditor

    async def __call__(self, actor: Principal, domain_id: str, record_id: str) -> None:
        def change(domain: Domain, records: list[DnsRecord]) -> list[DnsRecord]:
            kept = [r for r in records if r.id != record_id]
            if len(kept) == len(records):
                raise NotFound("no such DNS record", code="record_not_found")
            return kept

        await self.editor.edit(actor, domain_id, change)


def soa_of(domain: Domain, records: list[RecordData]) -> Soa:
    """The platform's SOA: the first apex NS as primary (else ns1 of the zone), hostmaster as contact."""
    apex_ns = sorted(r.data for r in records if r.name == "@" and r.type is RecordType.NS)
    mname = apex_ns[0] if apex_ns else f"ns1.{domain.name}."
    return Soa(mname, f"hostmaster.{domain.name}.", domain.serial, 3600, 600, 1_209_600, 300)


@dataclass(frozen=True, slots=True)
class ExportZone:
    """A domain's zone as an RFC 1035 file: $ORIGIN, $TTL, the platform's SOA (its serial grows on every
    change), the records."""

    scope: ClassVar[Scope] = Scope.DOMAINS_READ

    uow: UnitOfWorkFactory
    codec: ZoneCodec

    async def __call__(self, actor: Principal, domain_id: str) -> ZoneFileView:
        actor.require(self.scope)
        async with self.uow() as uow:  # one snapshot of the serial and the records
            domain = await load_domain(uow, actor, domain_id)
            records = [r.content for r in await uow.dns_records.all(actor.tenant_id, domain_id)]
        text = self.codec.render(domain.name, soa_of(domain, records), domain.default_ttl, records)
        return ZoneFileView(domain_id=domain.id, serial=domain.serial, zone_file=text)


MAX_ZONE_TEXT = 1024 * 1024


MAX_ZONE_RECORDS = 5000


@dataclass(frozen=True, slots=True)
class ImportZone:
    """Replace every record of a domain with those of a zone file: all of them or none. $ORIGIN and $TTL are
    honoured, $INCLUDE and $GENERATE refused, the SOA ignored (the platform keeps its own). A syntax error is
    refused with its line number; a zone file holds at most 1 MiB and 5000 records."""

    scope: ClassVar[Scope] = Scope.DOMAINS_WRITE

    editor: ZoneEditor
    codec: ZoneCodec
    ids: IdFactory

    async def __call__(self, actor: Principal, domain_id: str, text: str) -> ZoneImportView:
        if len(text) > MAX_ZONE_TEXT:
            raise ValidationFailed("the zone file is larger than 1 MiB", code="zone_too_large")
        actor.require(self.scope)
        async with self.editor.uow(read_only=True) as uow:
            seen = await load_domain(uow, actor, domain_id)
        # Parsing a large file takes seconds: off the event loop, and before the zone's write lock.
        basis = (seen.name, seen.default_ttl)
        ahead = await asyncio.to_thread(self.codec.parse, seen.name, text, seen.default_ttl)
        made: list[DnsRecord] = []

        def change(domain: Domain, records: list[DnsRecord]) -> list[DnsRecord]:
            same = (domain.name, domain.default_ttl) == basis
            parsed = ahead if same else self.codec.parse(domain.name, text, domain.default_ttl)
            if len(parsed) > MAX_ZONE_RECORDS:
                raise ValidationFailed(f"a zone holds at most {MAX_ZONE_RECORDS} records", code="zone_too_large")
            for content in parsed:
                try:
                    check_ttl(content.ttl)
                except ValidationFailed as exc:
                    raise ValidationFailed(f"{exc.message} ({content.name} {content.type})", code=exc.code) from None
            made.extend(DnsRecord.new(self.ids.new(), domain, content) for content in parsed)
            return made

        domain, _ = await self.editor.edit(actor, domain_id, change)
        return ZoneImportView(domain=DomainView.of(domain), records=len(made))


@dataclass(frozen=True, slots=True)
class Zones:
    """/api/dominios/{id}/registros and /api/dominios/{id}/zonefile."""

    list_records: ListDnsRecords
    create_record: CreateDnsRecord
    update_record: UpdateDnsRecord
    delete_record: DeleteDnsRecord
    export_zone: ExportZone
    import_zone: ImportZone


def zones(p: Ports) -> Zones:
    editor = ZoneEditor(p.uow, p.clock)
    return Zones(
        list_records=ListDnsRecords(p.uow),
        create_record=CreateDnsRecord(editor, p.zone_codec, p.ids),
        update_record=UpdateDnsRecord(editor, p.zone_codec),
        delete_record=DeleteDnsRecord(editor),
        export_zone=ExportZone(p.uow, p.zone_codec),
        import_zone=ImportZone(editor, p.zone_codec, p.ids),
    )
