"""/ready (readiness, for load balancers) and /metrics (Prometheus, behind its own token)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, Response, Router, get

from tesserra_core.errors import NotFound, Unauthenticated
from tesserra_core.facade import UseCases
from tesserra_core.usecases.status import ServiceMetrics
from tesserra_http.conventions import declare
from tesserra_http.readiness import DRAINING, READY, Readiness, ReadinessView

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def routes(uc: UseCases, readiness: Readiness, metrics_token: str | None) -> Router:
    expected = f"Bearer {metrics_token}".encode() if metrics_token and uc.ports.telemetry.enabled else None

    @get(
        "/ready",
        **declare(
            public=True,
            errors=(503,),
            description="Readiness: 200 while this worker takes requests, 503 once it drains (SIGTERM).",
        ),
    )
    async def ready() -> Response[ReadinessView]:
        if readiness.draining:
            return Response(DRAINING, status_code=503)
        return Response(READY)

    @get("/metrics", **declare(uses=ServiceMetrics, public=True, errors=(404,)), include_in_schema=False)
    async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
        if expected is None:
            raise NotFound("not found", code="not_found")
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):
            raise Unauthenticated("the metrics token is missing or wrong", code="metrics_token")
        return Response(await uc.service.metrics(), media_type=PROMETHEUS_TEXT)

    return Router("/", tags=["Service"], route_handlers=[ready, metrics])
