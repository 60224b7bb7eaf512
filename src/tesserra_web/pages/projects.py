"""Projects: the tenant's list (filters and page in the URL) and one project with its resources."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import ProjectFilter, ProjectStatus
from tesserra_core.errors import ValidationFailed
from tesserra_web.web import Console, Pager, render

AnyRequest = Request[Any, Any, Any]
_RESOURCES = PageRequest(limit=50)


def _filter(request: AnyRequest) -> ProjectFilter:
    name = request.query_params.get("q", "").strip()[:100]
    status = request.query_params.get("status", "")
    try:
        return ProjectFilter(status=ProjectStatus(status) if status else None, name=name or None)
    except ValueError:
        raise ValidationFailed("unknown project status", code="invalid_status") from None


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/projects")
    async def projects_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = _filter(request)
        page = await console.uc.projects.list(actor, pager.request, chosen)
        return render(
            request,
            "projects.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            q=chosen.name or "",
            chosen_status=chosen.status.value if chosen.status else "",
            statuses=[s.value for s in ProjectStatus],
        )

    @get("/projects/{project_id:str}")
    async def project_page(request: AnyRequest, project_id: str) -> Template:
        session, actor = await console.signed_in(request)
        project = await console.uc.projects.get(actor, project_id)
        resources = await console.uc.resources.list(actor, project_id, _RESOURCES)
        return render(request, "project.html", session=session, actor=actor, project=project, resources=resources)

    return [projects_page, project_page]
