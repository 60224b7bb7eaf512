"""/health (liveness) and /status (every dependency)."""

from __future__ import annotations

import msgspec
from litestar import get

from tesserra_core.usecases.views import StatusView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Uc


class Liveness(msgspec.Struct, frozen=True):
    status: str = "ok"
    success: bool = True


@get("/health", tags=["Service"], **declare(public=True))
async def health() -> Liveness:
    """Liveness only: the process answers."""
    return Liveness()


@get("/status", tags=["Service"], **declare(public=True))
async def status(uc: Uc) -> StatusView:
    """Service, database, Docker engine and storage, each ok, degraded or down, probed with time limits."""
    return await uc.service_status()
