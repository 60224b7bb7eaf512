"""Containers: the tenant's managed workloads (filters and page in the URL), one container, and its actions
(start, stop, restart, remove) for tenant owners and admins, as /api/containers offers them."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal, Role
from tesserra_core.errors import ValidationFailed
from tesserra_core.ports.runtime import WorkloadState
from tesserra_core.usecases.containers import ContainerAction, ContainerFilter, ContainerKind
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
KINDS = [k.value for k in ContainerKind]
STATES = [s.value for s in WorkloadState]
ACTIONS = [a.value for a in ContainerAction]


def _filter(request: AnyRequest) -> ContainerFilter:
    kind, state = request.query_params.get("kind", ""), request.query_params.get("state", "")
    if kind and kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", code="invalid_kind")
    if state and state not in STATES:
        raise ValidationFailed(f"state must be one of {', '.join(STATES)}", code="invalid_state")
    return ContainerFilter(kind=ContainerKind(kind) if kind else None, state=WorkloadState(state) if state else None)


def _manages(actor: Principal) -> bool:
    """Who the use case lets act (its scope aside): the page offers the controls to them only."""
    return actor.role in (Role.OWNER, Role.ADMIN) or actor.is_platform_admin


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _detail(request: AnyRequest, container_id: str, status: int = 200, error: str | None = None) -> Template:
        session, actor = await console.signed_in(request)
        container = await console.uc.containers.get(actor, container_id)
        return render(
            request,
            "container.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            container=container,
            actions=ACTIONS,
            manages=_manages(actor),
        )

    @get("/containers")
    async def containers_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        chosen = _filter(request)
        page = await console.uc.containers.list(actor, pager.request, chosen)
        return render(
            request,
            "containers.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            chosen_kind=chosen.kind.value if chosen.kind else "",
            chosen_state=chosen.state.value if chosen.state else "",
            kinds=KINDS,
            states=STATES,
            removed=request.query_params.get("removed", "")[:128],
        )

    @get("/containers/{container_id:str}")
    async def container_page(request: AnyRequest, container_id: FromPath[str]) -> Template:
        return await _detail(request, container_id)

    @post("/containers/{container_id:str}/actions/{action:str}")
    async def act(request: AnyRequest, container_id: FromPath[str], action: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        try:
            done = await console.uc.containers.action(actor, container_id, action)
        except ValidationFailed as exc:
            return await _detail(request, container_id, exc.status, exc.message)
        if done.container is None:
            return back_to(href("/containers", removed=container_id))
        return back_to(href(f"/containers/{container_id}"))

    return [containers_page, container_page, act]
