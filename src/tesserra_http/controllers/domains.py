"""/api/dominios: domains and their ownership verification (their records and zone file:
controllers/zones.py). Every route counts against the ``console`` rate limit (60 requests per minute
per token)."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.domains import (
    CreateDomain,
    DeleteDomain,
    DomainChanges,
    DomainView,
    GetDomain,
    ListDomains,
    NewDomain,
    UpdateDomain,
    VerifyDomain,
)
from tesserra_core.usecases.guards import CONSOLE
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListDomains, rate_limit=CONSOLE, errors=(400, 403)))
    async def list_domains(request: Caller, page: Paging) -> Page[DomainView]:
        return await uc.domains.list(request.user, page)

    @post(
        "/",
        status_code=201,
        **declare(
            uses=CreateDomain,
            rate_limit=CONSOLE,
            idempotent=True,
            errors=(400, 402, 403, 409),
            description="Have it verified with POST /api/dominios/{domain_id}/verificar once the record is published.",
        ),
    )
    async def create_domain(data: JSONBody[NewDomain], request: Caller) -> DomainView:
        return await uc.domains.create(request.user, data)

    @get("/{domain_id:str}", **declare(uses=GetDomain, rate_limit=CONSOLE, errors=(403, 404)))
    async def get_domain(domain_id: FromPath[str], request: Caller) -> DomainView:
        return await uc.domains.get(request.user, domain_id)

    @patch("/{domain_id:str}", **declare(uses=UpdateDomain, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def update_domain(domain_id: FromPath[str], data: JSONBody[DomainChanges], request: Caller) -> DomainView:
        return await uc.domains.update(request.user, domain_id, data)

    @delete(
        "/{domain_id:str}", status_code=204, **declare(uses=DeleteDomain, rate_limit=CONSOLE, errors=(403, 404, 409))
    )
    async def delete_domain(domain_id: FromPath[str], request: Caller) -> None:
        await uc.domains.delete(request.user, domain_id)

    @post(
        "/{domain_id:str}/verificar",
        status_code=200,
        **declare(uses=VerifyDomain, rate_limit=CONSOLE, errors=(403, 404, 503)),
    )
    async def verify_domain(domain_id: FromPath[str], request: Caller) -> DomainView:
        return await uc.domains.verify(request.user, domain_id)

    handlers = [list_domains, create_domain, get_domain, update_domain, delete_domain, verify_domain]
    return Router("/api/dominios", tags=["Domínios"], route_handlers=handlers)
