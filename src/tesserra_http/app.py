"""The Litestar application factory: routes, guard, errors, OpenAPI, /mcp, /console, and the lifespan."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from litestar import Litestar, Router, asgi
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, RedocRenderPlugin, SwaggerRenderPlugin
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin
from litestar.routes import HTTPRoute
from litestar.types import ControllerRouterHandler, Receive, Scope, Send

from tesserra_core.facade import VERSION, UseCases
from tesserra_core.usecases.runtime_views import PROXY_PATH
from tesserra_http.allow import AllowedMethods, AllowHeaderMiddleware
from tesserra_http.client_address import ClientAddress
from tesserra_http.context import request_id_var
from tesserra_http.controllers import (
    agents,
    auth,
    billing,
    containers,
    conversations,
    domains,
    files,
    infra_ssh,
    installations,
    integrations,
    mail,
    marketplace,
    members,
    operations,
    projects,
    runtime,
    sandboxes,
    service,
    shared_tools,
    tenants,
    zones,
)
from tesserra_http.conventions import COMPONENTS, document_json_bodies
from tesserra_http.dependencies import DEPENDENCIES
from tesserra_http.errors import EXCEPTION_HANDLERS
from tesserra_http.guard import GuardMiddleware
from tesserra_http.openapi_schema import StrictStructSchemaPlugin
from tesserra_http.probes import Probes
from tesserra_http.proxy import ProxyEndpoint
from tesserra_http.proxy.entry import ProxyEntry, proxied
from tesserra_http.readiness import Readiness
from tesserra_http.strict_body import decode_strictly
from tesserra_mcp import McpEndpoint
from tesserra_web import CONSOLE_PATH, ConsoleEndpoint

AREAS: list[Callable[[UseCases], ControllerRouterHandler]] = [
    service.routes,
    auth.routes,
    tenants.current_routes,
    tenants.admin_routes,
    members.routes,
    members.invitation_routes,
    marketplace.marketplace_routes,
    marketplace.registry_routes,
    installations.routes,
    containers.routes,
    sandboxes.routes,
    runtime.routes,
    shared_tools.routes,
    shared_tools.callback_routes,
    integrations.routes,
    projects.routes,
    projects.resource_routes,
    projects.tenant_health_routes,
    billing.plans_routes,
    billing.admin_plans_routes,
    billing.subscription_routes,
    billing.webhook_routes,
    billing.finance_routes,
    domains.routes,
    zones.routes,
    mail.routes,
    files.routes,
    infra_ssh.inventory_routes,
    infra_ssh.run_routes,
    infra_ssh.lease_routes,
    infra_ssh.forward_routes,
    agents.routes,
    agents.admin_routes,
    agents.tenant_routes,
    conversations.routes,
]
"""Each area builds its own routes over the facade; adding an area is one line here."""


class _Litestar(Litestar):
    """Litestar without the default plugins it adds whenever pydantic or attrs is installed (they are,
    for the MCP SDK): no route here takes or returns their models, and importing the plugins (pydantic
    with them) would cost every start ~0.1 s and ~5 MB. The msgspec one, which Tesserra uses, stays."""

    proxy: ProxyEntry | None = None
    """The sandbox proxy's requests go straight to it (``proxy.entry``), set by ``create_app``."""
    probes: Probes | None = None
    """So do GET /ready and GET /health (``probes``), set by ``create_app``."""

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        return [*plugins, MsgspecDIPlugin()]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.proxy is not None and proxied(scope):
            await self.proxy(scope, receive, send)
            return
        if self.probes is not None and self.probes.takes(scope):
            await self.probes(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _RegisteredOnce(Router):
    """An area's Router, built for one app: Litestar deep-copies every Router it registers (so that
    one may be mounted twice), which cost ~0.1 s of each start for routers that are used once."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Router:
        return self


def _once(routes: ControllerRouterHandler) -> ControllerRouterHandler:
    if type(routes) is Router:
        routes.__class__ = _RegisteredOnce  # same layout (no slots added): only the copy changes
    return routes


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Tesserra",
        version=VERSION,
        description=(
            "Open multi-tenant control plane. Errors answer "
            '`{"detail", "success": false, "error", "code", "request_id"}`; lists take `limite` and `offset`; '
            "creating POSTs accept `Idempotency-Key`. A create that would pass the tenant's plan limit "
            "answers 402 (`subscription_required` without an active or trialing subscription, `quota_exceeded` "
            "with one); the limits of every plan are at GET /api/planos."
        ),
        path="/",
        openapi_router=Router(path="/", route_handlers=[], opt={"public": True}, include_in_schema=False),
        components=COMPONENTS,
        render_plugins=[
            SwaggerRenderPlugin(path=["/api/docs", "/api-docs"]),
            RedocRenderPlugin(path="/api/redoc"),
            JsonRenderPlugin(path=["/openapi.json", "/api/openapi.json"]),
        ],
    )


def create_app(
    uc: UseCases,
    *,
    allowed_hosts: tuple[str, ...] = (),
    trusted_proxies: tuple[str, ...] = (),
    proxy_header: str = "x-forwarded-for",
    readiness: Readiness | None = None,
    metrics_token: str | None = None,
    mcp_stateless: bool = False,
) -> Litestar:
    """The HTTP server over ``uc``. Builds nothing at import time; the caller owns ``uc``'s resources.
    ``trusted_proxies`` (CIDRs) may tell the client's address in ``proxy_header``; nobody else may.
    ``readiness`` is what /ready reports (the server drains it); /metrics answers ``metrics_token``'s
    bearer when ``uc`` measures itself, and 404 otherwise. ``mcp_stateless``: /mcp opens no session for
    legacy clients (any node behind a balancer answers each request)."""
    client_address = ClientAddress(trusted_proxies, proxy_header)
    endpoint = McpEndpoint(uc, allowed_hosts=allowed_hosts, request_id=request_id_var.get, stateless=mcp_stateless)

    @asgi("/mcp", is_mount=True, copy_scope=True, opt={"public": True}, include_in_schema=False)
    async def mcp(scope: Scope, receive: Receive, send: Send) -> None:
        await endpoint(scope, receive, send)  # type: ignore[arg-type]

    ready = readiness or Readiness()
    console_endpoint = ConsoleEndpoint(uc, draining=lambda: ready.draining)  # its live streams end on a drain

    @asgi(CONSOLE_PATH, is_mount=True, copy_scope=True, opt={"public": True}, include_in_schema=False)
    async def console(scope: Scope, receive: Receive, send: Send) -> None:
        await console_endpoint(scope, receive, send)  # type: ignore[arg-type]

    proxy = ProxyEndpoint(uc, client_address)

    @asgi(PROXY_PATH, is_mount=True, copy_scope=True, opt={"public": True}, include_in_schema=False)
    async def sandbox_proxy(scope: Scope, receive: Receive, send: Send) -> None:
        await proxy(scope, receive, send)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with uc.running(), endpoint.lifespan(), proxy.lifespan():
            yield

    allowed = AllowedMethods()
    app = _Litestar(
        route_handlers=[
            *(_once(area(uc)) for area in AREAS),
            _once(operations.routes(uc, ready, metrics_token)),
            mcp,
            console,
            sandbox_proxy,
        ],
        dependencies=DEPENDENCIES,
        middleware=[
            DefineMiddleware(AllowHeaderMiddleware, allowed=allowed),
            DefineMiddleware(GuardMiddleware, uc=uc, client_address=client_address),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=decode_strictly,
        openapi_config=_openapi(),
        plugins=[StrictStructSchemaPlugin()],
        lifespan=[lifespan],
        request_max_body_size=10 * 1024 * 1024,
        logging_config=None,  # the process configures logging (with request ids), not the app
    )
    document_json_bodies(app)
    allowed.learn(app)
    app.proxy = ProxyEntry(proxy, uc.ports.tracer, sandbox_proxy)
    app.probes = Probes(ready, _get_handlers(app, Probes.PATHS), app, uc.ports.tracer)
    _bound_mounts(app)
    return app


def _get_handlers(app: Litestar, paths: frozenset[str]) -> dict[str, Any]:
    """The GET handler of each of ``paths``. Raises ``RuntimeError`` when any has none: the app
    would start without a route the probes label their requests with (checked under ``python -O``
    too, where an assert would be gone)."""
    found = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path in paths:
            for handler in route.route_handlers:
                if "GET" in handler.http_methods:
                    found[route.path] = handler
    missing = paths - found.keys()
    if missing:
        raise RuntimeError(f"the app has no GET route for {', '.join(sorted(missing))}")
    return found


def _bound_mounts(app: Litestar) -> None:
    """Litestar matches a mount by bare prefix, so the proxy's mount at /api/runtime/proxy would take
    /api/runtime/proxy-auth/... (and /mcp would take /mcpx): each mount now matches whole segments only.
    tests/drivers/http/test_runtime_proxy.py reaches both routes, so a Litestar change cannot go unseen."""
    router = app.asgi_router
    paths = sorted(router._mount_routes, key=len, reverse=True)
    if paths:
        router._mount_paths_regex = re.compile("|".join(f"{re.escape(p)}(?=/|$)" for p in paths))
