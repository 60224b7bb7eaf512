"""The overview: who is signed in, the tenant and its plan, what it uses, and its health."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from tesserra_core.domain.identity import Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import ProjectFilter
from tesserra_web.web import Console, render

AnyRequest = Request[Any, Any, Any]
_ONE = PageRequest(limit=1)


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/")
    async def overview(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        uc = console.uc
        me = await uc.sessions.me(actor)
        projects = (await uc.projects.list(actor, _ONE, ProjectFilter())).total
        keys = (await uc.api_keys.list(actor, _ONE)).total if Scope.KEYS_READ in actor.scopes else None
        health = await uc.health.tenant(actor)
        return render(
            request, "overview.html", session=session, actor=actor, me=me, projects=projects, keys=keys, health=health
        )

    return [overview]
