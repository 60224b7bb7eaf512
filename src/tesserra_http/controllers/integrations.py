"""/api/integrations: the canonical MCP client configuration, sync notifications, and the named alias."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.params import JSONBody, QueryParameter

from tesserra_core.facade import UseCases
from tesserra_core.usecases.integrations import (
    TESSARACT,
    ClientConfiguration,
    ClientConfigView,
    ClientSyncRequest,
    ClientSyncView,
    RecordClientSync,
)
from tesserra_http.controllers.shared_tools import base_url
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller

InstanceId = Annotated[
    str | None,
    QueryParameter(name="instanceId", required=False, max_length=64, description="Which instance; default `default`."),
]

_ALIAS = f"The named alias of /client?instanceId={TESSARACT} (kept for existing clients; new ones use /client)."
_SYNC_ALIAS = f"The named alias of /client/sync for the {TESSARACT} instance (a body instanceId is ignored)."


def routes(uc: UseCases) -> Router:
    @get("/client", **declare(uses=ClientConfiguration, errors=(400, 403)))
    async def client(request: Caller, instance_id: InstanceId = None) -> ClientConfigView:
        return await uc.integrations.client_configuration(request.user, instance_id, base_url(request))

    @post("/client/sync", status_code=201, **declare(uses=RecordClientSync, idempotent=True, errors=(400, 403)))
    async def client_sync(data: JSONBody[ClientSyncRequest], request: Caller) -> ClientSyncView:
        return await uc.integrations.record_client_sync(request.user, data)

    @get(f"/{TESSARACT}", **declare(uses=ClientConfiguration, errors=(403,), description=_ALIAS))
    async def tessaract(request: Caller) -> ClientConfigView:
        return await uc.integrations.client_configuration(request.user, TESSARACT, base_url(request))

    @post(
        f"/{TESSARACT}/sync",
        status_code=201,
        **declare(uses=RecordClientSync, idempotent=True, errors=(400, 403), description=_SYNC_ALIAS),
    )
    async def tessaract_sync(data: JSONBody[ClientSyncRequest], request: Caller) -> ClientSyncView:
        return await uc.integrations.record_client_sync(request.user, data, fixed_instance=TESSARACT)

    return Router(
        "/api/integrations", tags=["Integrations"], route_handlers=[client, client_sync, tessaract, tessaract_sync]
    )
