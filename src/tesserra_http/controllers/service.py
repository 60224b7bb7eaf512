"""/health (liveness) and /status (every dependency)."""

from __future__ import annotations

import msgspec
from litestar import Router, get

from tesserra_core.facade import UseCases
from tesserra_core.usecases.status import ServiceStatus
from tesserra_core.usecases.views import StatusView
from tesserra_http.conventions import declare


class Liveness(msgspec.Struct, frozen=True):
    status: str = "ok"
    success: bool = True


def routes(uc: UseCases) -> Router:
    @get("/health", **declare(public=True, description="Liveness only: the process answers."))
    async def health() -> Liveness:
        return Liveness()

    @get("/status", **declare(uses=ServiceStatus, public=True))
    async def status() -> StatusView:
        return await uc.service.status()

    return Router("/", tags=["Service"], route_handlers=[health, status])
