"""/api/dominios/{domain_id}/registros and /zonefile: a domain's DNS records and its zone file, exported
and imported. Every route counts against the ``console`` rate limit (60 requests per minute per
token)."""

from __future__ import annotations

from litestar import Response, Router, delete, get, patch, post, put
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.errors import ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.zones import (
    CreateDnsRecord,
    DeleteDnsRecord,
    DnsRecordChanges,
    DnsRecordView,
    ExportZone,
    ImportZone,
    ListDnsRecords,
    NewDnsRecord,
    UpdateDnsRecord,
    ZoneImportView,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

MAX_ZONE_BODY = 4 * 1024 * 1024
"""A zone file body may hold this many bytes (the core then allows 1 Mi characters)."""
ZONE_MEDIA_TYPE = "text/dns"
"""RFC 4027's media type for zone files (clients may send text/plain as well)."""


def routes(uc: UseCases) -> Router:
    @get("/{domain_id:str}/registros", **declare(uses=ListDnsRecords, rate_limit=CONSOLE, errors=(400, 403, 404)))
    async def list_dns_records(domain_id: FromPath[str], request: Caller, page: Paging) -> Page[DnsRecordView]:
        return await uc.zones.list_records(request.user, domain_id, page)

    @post(
        "/{domain_id:str}/registros",
        status_code=201,
        **declare(uses=CreateDnsRecord, rate_limit=CONSOLE, idempotent=True, errors=(400, 403, 404, 409)),
    )
    async def create_dns_record(
        domain_id: FromPath[str], data: JSONBody[NewDnsRecord], request: Caller
    ) -> DnsRecordView:
        return await uc.zones.create_record(request.user, domain_id, data)

    @patch(
        "/{domain_id:str}/registros/{record_id:str}",
        **declare(uses=UpdateDnsRecord, rate_limit=CONSOLE, errors=(400, 403, 404, 409, 422)),
    )
    async def update_dns_record(
        domain_id: FromPath[str], record_id: FromPath[str], data: JSONBody[DnsRecordChanges], request: Caller
    ) -> DnsRecordView:
        return await uc.zones.update_record(request.user, domain_id, record_id, data)

    @delete(
        "/{domain_id:str}/registros/{record_id:str}",
        status_code=204,
        **declare(uses=DeleteDnsRecord, rate_limit=CONSOLE, errors=(403, 404)),
    )
    async def delete_dns_record(domain_id: FromPath[str], record_id: FromPath[str], request: Caller) -> None:
        await uc.zones.delete_record(request.user, domain_id, record_id)

    @get(
        "/{domain_id:str}/zonefile",
        media_type=ZONE_MEDIA_TYPE,
        **declare(
            uses=ExportZone,
            rate_limit=CONSOLE,
            errors=(403, 404),
            description="The body is the zone file (text/dns); X-Zone-Serial carries its serial.",
        ),
    )
    async def export_zone(domain_id: FromPath[str], request: Caller) -> Response[str]:
        zone = await uc.zones.export_zone(request.user, domain_id)
        return Response(
            zone.zone_file, media_type=f"{ZONE_MEDIA_TYPE}; charset=utf-8", headers={"X-Zone-Serial": str(zone.serial)}
        )

    async def zone_text(request: Caller) -> str:
        try:
            return (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("the zone file is not UTF-8 text", code="invalid_zone_file") from None

    _IMPORT_DOC = "The body is the zone file, as text/dns or text/plain."

    @put(
        "/{domain_id:str}/zonefile",
        request_max_body_size=MAX_ZONE_BODY,
        **declare(uses=ImportZone, rate_limit=CONSOLE, errors=(400, 403, 404, 409, 413, 422), description=_IMPORT_DOC),
    )
    async def replace_zone(domain_id: FromPath[str], request: Caller) -> ZoneImportView:
        return await uc.zones.import_zone(request.user, domain_id, await zone_text(request))

    @post(
        "/{domain_id:str}/zonefile",
        status_code=200,
        request_max_body_size=MAX_ZONE_BODY,
        **declare(uses=ImportZone, rate_limit=CONSOLE, errors=(400, 403, 404, 409, 413, 422), description=_IMPORT_DOC),
    )
    async def post_zone(domain_id: FromPath[str], request: Caller) -> ZoneImportView:
        return await uc.zones.import_zone(request.user, domain_id, await zone_text(request))

    handlers = [
        list_dns_records,
        create_dns_record,
        update_dns_record,
        delete_dns_record,
        export_zone,
        replace_zone,
        post_zone,
    ]
    return Router("/api/dominios", tags=["Domínios"], route_handlers=handlers)
