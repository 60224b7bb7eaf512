"""Domain tools: domains and their ownership verification (records and zone files: zones.py). Each calls
the REST twin's use case."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.domains import DEFAULT_TTL
from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import domains
from tesserra_core.usecases.domains import DomainChanges, DomainView, NewDomain
from tesserra_core.usecases.guards import CONSOLE
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

DomainId = Annotated[str, Field(description="The domain's id.")]
Ttl = Annotated[int | None, Field(description="Seconds, 30-604800.")]


@tools.tool(domains.ListDomains, rate_limit=CONSOLE)
async def list_domains(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[DomainView]:
    return await uc.domains.list(actor, PageRequest(limite, offset))


@tools.tool(domains.GetDomain, rate_limit=CONSOLE)
async def get_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> DomainView:
    return await uc.domains.get(actor, domain_id)


@tools.tool(domains.CreateDomain, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def create_domain(
    name: Annotated[str, Field(description="A domain name such as example.com (unique on the platform).")],
    default_ttl: Annotated[int, Field(description="$TTL of the zone, 30-604800.")] = DEFAULT_TTL,
    *,
    uc: UseCases,
    actor: Principal,
) -> DomainView:
    """Verify it with verify_domain once the record is published."""
    return await uc.domains.create(actor, convert(NewDomain, {"name": name, "default_ttl": default_ttl}))


@tools.tool(domains.UpdateDomain, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def update_domain(domain_id: DomainId, default_ttl: Ttl = None, *, uc: UseCases, actor: Principal) -> DomainView:
    return await uc.domains.update(actor, domain_id, convert(DomainChanges, {"default_ttl": default_ttl}))


@tools.tool(domains.DeleteDomain, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def delete_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> dict[str, str]:
    await uc.domains.delete(actor, domain_id)
    return {"deleted": domain_id}


@tools.tool(domains.VerifyDomain, tier=Tier.STANDARD, rate_limit=CONSOLE)
async def verify_domain(domain_id: DomainId, *, uc: UseCases, actor: Principal) -> DomainView:
    return await uc.domains.verify(actor, domain_id)
