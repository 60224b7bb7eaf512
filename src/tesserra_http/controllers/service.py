"""/health (liveness) and /status (every dependency)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get

from tesserra_core.domain.identity import Principal
from tesserra_core.facade import UseCases
from tesserra_core.usecases.status import ServiceStatus
from tesserra_core.usecases.views import StatusView
from tesserra_http.conventions import declare
from tesserra_http.readiness import LIVE, Liveness


def routes(uc: UseCases) -> Router:
    @get("/health", **declare(public=True, description="Liveness only: the process answers."))
    async def health() -> Liveness:
        return LIVE

    @get(
        "/status",
        **declare(
            uses=ServiceStatus,
            public=True,
            identify=True,
            description="A platform admin's credentials add `runners`: the cluster's runner leases.",
        ),
    )
    async def status(request: Request[Principal | None, Any, Any]) -> StatusView:
        caller = request.scope.get("user")
        return await uc.service.status(caller if caller is not None and caller.is_platform_admin else None)

    return Router("/", tags=["Service"], route_handlers=[health, status])
