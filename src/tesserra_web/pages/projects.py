"""Projects: the tenant's list (filters and page in the URL), one project with its resources (their status
live over server-sent events) and its settings (rename, describe, delete), and its health checks."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.projects import ProjectFilter, ProjectStatus
from tesserra_core.errors import Conflict, PaymentRequired, ValidationFailed
from tesserra_core.usecases.projects import NewProject, ProjectChanges
from tesserra_web.live import live
from tesserra_web.web import Console, Pager, back_to, fragment, href, render

AnyRequest = Request[Any, Any, Any]
_RESOURCES = PageRequest(limit=50)


def _filter(request: AnyRequest) -> ProjectFilter:
    name = request.query_params.get("q", "").strip()[:100]
    status = request.query_params.get("status", "")
    try:
        return ProjectFilter(status=ProjectStatus(status) if status else None, name=name or None)
    except ValueError:
        raise ValidationFailed("unknown project status", code="invalid_status") from None


async def _project(
    console: Console,
    request: AnyRequest,
    project_id: str,
    status: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Template:
    """One project's page: its facts, resources and, for those who may, its settings form (what was typed)."""
    session, actor = await console.signed_in(request)
    project = await console.uc.projects.get(actor, project_id)
    resources = await console.uc.resources.list(actor, project_id, _RESOURCES)
    form = typed or {"name": project.name, "description": project.description, "status": project.status.value}
    return render(
        request,
        "project.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        project=project,
        resources=resources,
        form=form,
        statuses=[x.value for x in ProjectStatus],
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None, name: str = "") -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = _filter(request)
        page = await console.uc.projects.list(actor, pager.request, chosen)
        return render(
            request,
            "projects.html",
            status=status,
            error=error,
            new_name=name,
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            q=chosen.name or "",
            chosen_status=chosen.status.value if chosen.status else "",
            statuses=[s.value for s in ProjectStatus],
        )

    @get("/projects")
    async def projects_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/projects")
    async def create_project(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        name, description = str(form.get("name", "")), str(form.get("description", ""))
        try:
            cmd = msgspec.convert({"name": name, "description": description}, NewProject)  # as the REST body
            project = await console.uc.projects.create(actor, cmd)
        except msgspec.ValidationError as exc:
            return await _list(request, 400, f"this project cannot be made: {exc}", name)
        except (Conflict, PaymentRequired, ValidationFailed) as exc:
            return await _list(request, exc.status, exc.message, name)
        return back_to(href(f"/projects/{project.id}"))

    @get("/projects/{project_id:str}")
    async def project_page(request: AnyRequest, project_id: FromPath[str]) -> Template:
        return await _project(console, request, project_id)

    @get("/live/projects/{project_id:str}")
    async def project_live(request: AnyRequest, project_id: FromPath[str]) -> Response[Any]:
        """The status of the resources the project page shows, as they change."""

        async def statuses(actor: Principal) -> dict[str, str]:
            resources = await console.uc.resources.list(actor, project_id, _RESOURCES)
            return {
                f"resource-{r.id}-status": fragment(request, "resource_status.html", actor=actor, r=r)
                for r in resources.items
            }

        return await live(console, request, statuses)

    @get("/projects/{project_id:str}/health")
    async def health_page(request: AnyRequest, project_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        project = await console.uc.projects.get(actor, project_id)
        report = await console.uc.health.project(actor, project_id)
        return render(request, "project_health.html", session=session, actor=actor, project=project, report=report)

    return [projects_page, create_project, project_page, project_live, health_page, *_settings_routes(console)]


def _settings_routes(console: Console) -> list[HTTPRouteHandler]:
    """A project renamed, described anew or deleted (uc.projects as PATCH and DELETE /api/projetos/{id})."""

    @post("/projects/{project_id:str}")
    async def update_project(request: AnyRequest, project_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {k: str(form.get(k, "")) for k in ("name", "description", "status")}
        try:
            body = {k: v for k, v in typed.items() if v or k != "status"}  # no status chosen: unchanged
            await console.uc.projects.update(actor, project_id, msgspec.convert(body, ProjectChanges))
        except msgspec.ValidationError as exc:
            return await _project(console, request, project_id, 400, f"this project cannot be saved: {exc}", typed)
        except (Conflict, ValidationFailed) as exc:
            return await _project(console, request, project_id, exc.status, exc.message, typed)
        return back_to(href(f"/projects/{project_id}"))

    @post("/projects/{project_id:str}/delete")
    async def delete_project(request: AnyRequest, project_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.projects.delete(actor, project_id)
        return back_to(href("/projects"))

    return [update_project, delete_project]
