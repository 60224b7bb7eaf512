"""Domain tools: domains, DNS records, zone files, verification, mailboxes, aliases, project files.
Each calls the REST twin's use case. File bytes stay on REST (upload and download)."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.domains import DEFAULT_TTL, RecordType
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.mail import DEFAULT_QUOTA
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.domains import (
    DnsRecordChanges,
    DnsRecordView,
    DomainChanges,
    DomainView,
    NewDnsRecord,
    NewDomain,
    ZoneFileView,
    ZoneImportView,
)
from tesserra_core.usecases.files import ProjectFileView
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.mail import (
    EmailAliasView,
    MailboxChanges,
    MailboxPassword,
    MailboxView,
    NewEmailAlias,
    NewMailbox,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

DomainId = Annotated[str, Field(description="The domain's id.")]
RecordId = Annotated[str, Field(description="The DNS record's id.")]
MailboxId = Annotated[str, Field(description="The mailbox's id.")]
AliasId = Annotated[str, Field(description="The alias's id.")]
ProjectId = Annotated[str, Field(description="The project's id.")]
FileId = Annotated[str, Field(description="The file's id.")]
Ttl = Annotated[int | None, Field(description="Seconds, 30-604800.")]


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def list_domains(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[DomainView]:
    """The tenant's domains, by name, with their verification status."""
    return await uc.list_domains(actor, PageRequest(limite, offset))


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def get_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> DomainView:
    """One domain of the tenant, with the TXT record that proves its ownership."""
    return await uc.get_domain(actor, domain_id)


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_domain(
    name: Annotated[str, Field(description="A domain name such as example.com (unique on the platform).")],
    default_ttl: Annotated[int, Field(description="$TTL of the zone, 30-604800.")] = DEFAULT_TTL,
    *,
    uc: UseCases,
    actor: Principal,
) -> DomainView:
    """Claim a domain; publish its verification_record, then call verify_domain."""
    return await uc.create_domain(actor, convert(NewDomain, {"name": name, "default_ttl": default_ttl}))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_domain(domain_id: DomainId, default_ttl: Ttl = None, *, uc: UseCases, actor: Principal) -> DomainView:
    """Change a domain's default TTL."""
    return await uc.update_domain(actor, domain_id, convert(DomainChanges, {"default_ttl": default_ttl}))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    """Delete a domain and its records (refused while mailboxes or aliases use it)."""
    await uc.delete_domain(actor, domain_id)
    return {"deleted": domain_id}


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def verify_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> DomainView:
    """Check the TXT challenge _tesserra-challenge.<domain> now: verified or failed."""
    return await uc.verify_domain(actor, domain_id)


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def list_dns_records(
    domain_id: DomainId, limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[DnsRecordView]:
    """A domain's DNS records, by name and type."""
    return await uc.list_dns_records(actor, domain_id, PageRequest(limite, offset))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
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
    """Add a DNS record (validated: names inside the zone, data valid for its type, CNAME alone at its name)."""
    return await uc.create_dns_record(
        actor, domain_id, convert(NewDnsRecord, {"name": name, "type": type, "data": data, "ttl": ttl})
    )


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
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
    """Change a record's name, data or TTL."""
    return await uc.update_dns_record(
        actor, domain_id, record_id, convert(DnsRecordChanges, {"name": name, "data": data, "ttl": ttl})
    )


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_dns_record(
    domain_id: DomainId, record_id: RecordId, *, uc: UseCases, actor: Principal
) -> dict[str, str]:
    """Delete a DNS record."""
    await uc.delete_dns_record(actor, domain_id, record_id)
    return {"deleted": record_id}


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def export_zone_file(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> ZoneFileView:
    """The domain's zone as an RFC 1035 zone file (with the platform's SOA and its serial)."""
    return await uc.export_zone(actor, domain_id)


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def import_zone_file(
    domain_id: DomainId,
    zone_file: Annotated[str, Field(description="RFC 1035 text; $ORIGIN and $TTL honoured, the SOA ignored.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> ZoneImportView:
    """Replace every record of the domain with those of a zone file: all of them or none."""
    return await uc.import_zone(actor, domain_id, zone_file)


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def list_mailboxes(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[MailboxView]:
    """The tenant's mailboxes, by address."""
    return await uc.list_mailboxes(actor, PageRequest(limite, offset))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_mailbox(
    address: Annotated[str, Field(description="On one of the tenant's verified domains.")],
    password: Annotated[str, Field(description="8-1024 characters; stored as an argon2id hash.")],
    quota_bytes: int = DEFAULT_QUOTA,
    *,
    uc: UseCases,
    actor: Principal,
) -> MailboxView:
    """Create a mailbox."""
    return await uc.create_mailbox(
        actor, convert(NewMailbox, {"address": address, "password": password, "quota_bytes": quota_bytes})
    )


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_mailbox(mailbox_id: MailboxId, quota_bytes: int, *, uc: UseCases, actor: Principal) -> MailboxView:
    """Change a mailbox's quota."""
    return await uc.update_mailbox(actor, mailbox_id, convert(MailboxChanges, {"quota_bytes": quota_bytes}))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def reset_mailbox_password(
    mailbox_id: MailboxId, password: str, *, uc: UseCases, actor: Principal
) -> MailboxView:
    """Set a mailbox's password."""
    return await uc.reset_mailbox_password(actor, mailbox_id, convert(MailboxPassword, {"password": password}))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_mailbox(mailbox_id: MailboxId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    """Delete a mailbox."""
    await uc.delete_mailbox(actor, mailbox_id)
    return {"deleted": mailbox_id}


@tools.tool(Scope.DOMAINS_READ, rate_limit=CONSOLE)
async def list_email_aliases(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[EmailAliasView]:
    """The tenant's e-mail aliases, by source."""
    return await uc.list_email_aliases(actor, PageRequest(limite, offset))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_email_alias(
    source: Annotated[str, Field(description="An address on one of the tenant's verified domains.")],
    destinations: Annotated[list[str], Field(description="1-50 addresses to deliver to.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> EmailAliasView:
    """Forward an address to others (duplicates and loops refused)."""
    return await uc.create_email_alias(actor, convert(NewEmailAlias, {"source": source, "destinations": destinations}))


@tools.tool(Scope.DOMAINS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_email_alias(alias_id: AliasId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    """Delete an e-mail alias."""
    await uc.delete_email_alias(actor, alias_id)
    return {"deleted": alias_id}


@tools.tool(Scope.PROJECTS_READ, rate_limit=CONSOLE)
async def list_project_files(
    project_id: ProjectId, limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[ProjectFileView]:
    """A project's files, by name, with size, type and SHA-256 (bytes go over REST)."""
    return await uc.list_project_files(actor, project_id, PageRequest(limite, offset))


@tools.tool(Scope.PROJECTS_WRITE, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_project_file(
    project_id: ProjectId,
    file_id: Annotated[str, Field(description="The file's id.")],
    *,
    uc: UseCases,
    actor: Principal,
) -> dict[str, str]:
    """Delete a project file."""
    await uc.delete_project_file(actor, project_id, file_id)
    return {"deleted": file_id}
