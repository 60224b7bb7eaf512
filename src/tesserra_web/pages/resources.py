"""A project's resources beyond their list: the catalog of resource types (uc.projects.catalog as
/api/projetos/catalogo), a form to add a resource to a project (its configuration as JSON, checked against
the type's schema by the use case), and one resource's page to rename it, change its configuration, stop or
start it and delete it (uc.resources as /api/recursos/{id})."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.resources import DesiredState
from tesserra_core.errors import Conflict, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.usecases.resources import NewResource, ResourceChanges, ResourceView
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
_REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)


def _typed(form: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, str]:
    return {k: str(form.get(k, "")) for k in fields}


def _config(raw: str) -> dict[str, Any]:
    """The configuration typed as a JSON object (empty: none)."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ValidationFailed("config: not valid JSON", code="invalid_config") from None
    if not isinstance(value, dict):
        raise ValidationFailed("config: a JSON object is expected", code="invalid_config")
    return value


def _form_of(resource: ResourceView) -> dict[str, str]:
    return {"name": resource.name, "config": json.dumps(resource.config, indent=2, sort_keys=True)}


async def _new_page(
    console: Console, request: AnyRequest, project_id: str, status: int = 200, error: str | None = None, **typed: str
) -> Template:
    session, actor = await console.signed_in(request)
    project = await console.uc.projects.get(actor, project_id)
    types = (await console.uc.projects.catalog()).types
    chosen = typed.get("type") or request.query_params.get("type", "")
    form = {"type": chosen, "name": "", "config": ""} | typed
    return render(
        request,
        "resource_new.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        project=project,
        types=types,
        form=form,
    )


async def _resource_page(
    console: Console, request: AnyRequest, resource_id: str, status: int = 200, error: str | None = None, **typed: str
) -> Template:
    session, actor = await console.signed_in(request)
    resource = await console.uc.resources.get(actor, resource_id)
    project = await console.uc.projects.get(actor, resource.project_id)
    return render(
        request,
        "resource.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        project=project,
        r=resource,
        form=_form_of(resource) | typed,
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/projects/catalog")
    async def catalog_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        found = await console.uc.projects.catalog()
        return render(request, "catalog.html", session=session, actor=actor, catalog=found)

    @get("/projects/{project_id:str}/resources/new")
    async def new_resource_page(request: AnyRequest, project_id: FromPath[str]) -> Template:
        return await _new_page(console, request, project_id)

    @post("/projects/{project_id:str}/resources")
    async def create_resource(request: AnyRequest, project_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form(), ("type", "name", "config"))
        try:
            body = {"type": typed["type"], "name": typed["name"], "config": _config(typed["config"])}
            created = await console.uc.resources.create(actor, project_id, msgspec.convert(body, NewResource))
        except msgspec.ValidationError as exc:
            return await _new_page(console, request, project_id, 400, f"this resource cannot be made: {exc}", **typed)
        except _REFUSED as exc:
            return await _new_page(console, request, project_id, exc.status, exc.message, **typed)
        return back_to(href(f"/resources/{created.id}"))

    return [catalog_page, new_resource_page, create_resource, *_resource_routes(console)]


def _resource_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/resources/{resource_id:str}")
    async def resource_page(request: AnyRequest, resource_id: FromPath[str]) -> Template:
        return await _resource_page(console, request, resource_id)

    @post("/resources/{resource_id:str}")
    async def update_resource(request: AnyRequest, resource_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form(), ("name", "config"))
        try:
            body = {"name": typed["name"], "config": _config(typed["config"])}
            await console.uc.resources.update(actor, resource_id, msgspec.convert(body, ResourceChanges))
        except msgspec.ValidationError as exc:
            return await _resource_page(
                console, request, resource_id, 400, f"this resource cannot be saved: {exc}", **typed
            )
        except _REFUSED as exc:
            return await _resource_page(console, request, resource_id, exc.status, exc.message, **typed)
        return back_to(href(f"/resources/{resource_id}"))

    @post("/resources/{resource_id:str}/state")
    async def set_state(request: AnyRequest, resource_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        raw = str((await request.form()).get("state", ""))
        try:
            changes = ResourceChanges(state=DesiredState(raw))
        except ValueError:
            return await _resource_page(console, request, resource_id, 400, "state: running or stopped")
        try:
            await console.uc.resources.update(actor, resource_id, changes)
        except _REFUSED as exc:
            return await _resource_page(console, request, resource_id, exc.status, exc.message)
        return back_to(href(f"/resources/{resource_id}"))

    @post("/resources/{resource_id:str}/delete")
    async def delete_resource(request: AnyRequest, resource_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        deleted = await console.uc.resources.delete(actor, resource_id)
        return back_to(href(f"/projects/{deleted.project_id}"))

    return [resource_page, update_resource, set_state, delete_resource]
