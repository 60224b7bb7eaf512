"""The platform administrators' index: one link in the navigation, the admin pages listed here. Anyone else
gets the 403 page the admin use cases give them (``require_platform_admin``, as REST answers)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from tesserra_web.web import Console, render

AnyRequest = Request[Any, Any, Any]


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/admin")
    async def admin_index(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        actor.require_platform_admin()
        return render(request, "admin.html", session=session, actor=actor)

    return [admin_index]
