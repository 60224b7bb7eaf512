"""DNS record and zone-file tools. Each calls the REST twin's use case."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.domains import RecordType
from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import zones
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.zones import DnsRecordChanges, DnsRecordView, NewDnsRecord, ZoneFileView, ZoneImportView
from tesserra_mcp.registry import Limite, Offset, ToolSet
from tesserra_mcp.tools.domains import DomainId, Ttl

tools = ToolSet()

RecordId = Annotated[str, Field(description="The DNS record's id.")]


@tools.tool(zones.ListDnsRecords, rate_limit=CONSOLE)
async def list_dns_records(
    domain_id: DomainId, limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[DnsRecordView]:
    return await uc.zones.list_records(actor, domain_id, PageRequest(limite, offset))


@tools.tool(zones.CreateDnsRecord, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_dns_record(
    domain_id: DomainId,
    name: Annotated[str, Field(description="Relative (www), @ for the apex, or absolute (www.example.com.).")],
    type: Annotated[RecordType, Field(description="A, AAAA, CNAME, MX, TXT, SRV, CAA or NS.")],
    data: Annotated[str, Field(description="The record data in zone-file form, e.g. '10 mail.example.com.'.")],
    ttl: Ttl = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> DnsRecordView:
    return await uc.zones.create_record(
        actor, domain_id, convert(NewDnsRecord, {"name": name, "type": type, "data": data, "ttl": ttl})
    )


@tools.tool(zones.UpdateDnsRecord, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_dns_record(
    domain_id: DomainId,
    record_id: RecordId,
    name: str | None = None,
    data: str | None = None,
    ttl: Ttl = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> DnsRecordView:
    return await uc.zones.update_record(
        actor, domain_id, record_id, convert(DnsRecordChanges, {"name": name, "data": data, "ttl": ttl})
    )


@tools.tool(zones.DeleteDnsRecord, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_dns_record(
    domain_id: DomainId, record_id: RecordId, *, uc: UseCases, actor: Principal
) -> dict[str, str]:
    await uc.zones.delete_record(actor, domain_id, record_id)
    return {"deleted": record_id}


@tools.tool(zones.ExportZone, rate_limit=CONSOLE)
async def export_zone_file(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> ZoneFileView:
    return await uc.zones.export_zone(actor, domain_id)


@tools.tool(zones.ImportZone, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def import_zone_file(
    domain_id: DomainId,
    zone_file: Annotated[str, Field(description="RFC 1035 text; $ORIGIN and $TTL honoured, the SOA ignored.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> ZoneImportView:
    return await uc.zones.import_zone(actor, domain_id, zone_file)
