"""The console's pages as a Litestar app of their own, mounted at /console by the HTTP server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from litestar import Litestar, Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.template import TemplateConfig

from tesserra_core.errors import TesserraError
from tesserra_core.facade import UseCases
from tesserra_web.pages import (
    admin,
    admin_plans,
    admin_tenants,
    agents,
    assets,
    auth,
    billing,
    chat,
    containers,
    domains,
    files,
    finance,
    infra_audit,
    infra_hosts,
    infra_inventory,
    infra_leases,
    keys,
    mail,
    members,
    overview,
    password,
    projects,
    resources,
    sandboxes,
    sessions,
    shared_tools,
    tools,
    zones,
)
from tesserra_web.web import Console, SignInRequired, full_path, href, render, send_rotated

log = logging.getLogger(__name__)

_TITLES = {401: "Sign in again", 403: "Not allowed", 404: "Not found", 429: "Slow down"}


def _friendly(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    title = _TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work")
    session, actor = getattr(request.state, "console_session", None), getattr(request.state, "console_actor", None)
    return render(request, "error.html", status=status, session=session, actor=actor, title=title, message=message)


def _on_core_error(request: Request[Any, Any, Any], exc: TesserraError) -> Response[Any]:
    return _friendly(request, exc.status, exc.message)


def _on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    message = "There is no such page." if status == 404 else str(exc.detail)
    return _friendly(request, status, message if status < 500 else "The server failed; try again later.")


def _on_sign_in_required(request: Request[Any, Any, Any], _: SignInRequired) -> Response[Any]:
    target = full_path(request) + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):  # htmx: load the login page as a whole page
        return Response(b"", status_code=401, headers={"HX-Redirect": href("/login", next=target)})
    return Redirect(path=href("/login", next=target), status_code=303)


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("console page failed", exc_info=exc)
    return _friendly(request, 500, "The server failed; try again later.")


def build_app(uc: UseCases, draining: Callable[[], bool] = lambda: False) -> Litestar:
    console = Console(uc, draining)
    environment = Environment(
        loader=PackageLoader("tesserra_web", "templates"), autoescape=True, undefined=StrictUndefined
    )
    return Litestar(
        route_handlers=[
            *assets.routes(),
            *auth.routes(console),
            *sessions.routes(console),
            *password.routes(console),
            *overview.routes(console),
            *keys.routes(console),
            *resources.routes(console),  # before projects: /projects/catalog is not a project
            *projects.routes(console),
            *files.routes(console),
            *domains.routes(console),
            *zones.routes(console),
            *tools.routes(console),
            *shared_tools.routes(console),
            *sandboxes.routes(console),
            *containers.routes(console),
            *mail.routes(console),
            *members.routes(console),
            *agents.routes(console, agents.PRIVATE_AGENTS),
            *chat.routes(console),
            *infra_inventory.routes(console),
            *infra_hosts.routes(console),
            *infra_leases.routes(console),
            *infra_audit.routes(console),
            *billing.routes(console),
            *finance.routes(console),
            *admin.routes(console),
            *admin_tenants.routes(console),
            *admin_plans.routes(console),
            *agents.routes(console, agents.PLATFORM_AGENTS),
        ],
        before_request=console.check_unsafe,
        before_send=[send_rotated],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment)),
        exception_handlers={
            TesserraError: _on_core_error,
            HTTPException: _on_http_error,
            SignInRequired: _on_sign_in_required,
            Exception: _on_unexpected,
        },
        openapi_config=None,
        logging_config=None,
        request_max_body_size=64 * 1024,
    )
