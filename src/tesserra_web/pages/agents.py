"""Agents: the ones the signed-in tenant may talk to (the platform's and its private ones, uc.agents.list as
/api/tenants/atual/agentes), a vertical filter and the page in the URL, and for owners and admins a form to
add a private agent, edit it (each save its next version) and delete it, as the REST API allows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.usecases.agents import AgentChanges, AgentDetailView, AgentFilter, NewAgent
from tesserra_web.pages import agent_installation_tools as installation_tools
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
REFUSED = (Conflict, Unprocessable, ValidationFailed)
FIELDS = ("name", "vertical", "description", "instructions", "tools")
MAX_VERTICAL = 64


def typed_fields(form: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(form.get(k, "")) for k in FIELDS}


def _tools(raw: str) -> list[str]:
    """Tesserra's own tools by name, separated by commas or white space."""
    return [t for t in raw.replace(",", " ").split() if t]


def agent_body(typed: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": typed["name"],
        "vertical": typed["vertical"],
        "description": typed["description"],
        "instructions": typed["instructions"],
        "tools": _tools(typed["tools"]),
    }


def form_of(agent: AgentDetailView) -> dict[str, str]:
    return {
        "name": agent.name,
        "vertical": agent.vertical,
        "description": agent.description,
        "instructions": agent.instructions,
        "tools": ", ".join(agent.tools),
    }


def _vertical(request: AnyRequest) -> str | None:
    raw = request.query_params.get("vertical", "").strip()
    if len(raw) > MAX_VERTICAL:
        raise ValidationFailed(f"vertical: at most {MAX_VERTICAL} characters", code="invalid_vertical")
    return raw or None


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _verticals() -> list[Any]:
        return list((await console.uc.agents.verticals(PageRequest(limit=500))).items)

    async def _list(
        request: AnyRequest,
        status: int = 200,
        error: str | None = None,
        typed: Mapping[str, str] = {},
        picked: list[dict[str, str]] | None = None,
    ) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        vertical = _vertical(request)
        page = await console.uc.agents.list(pager.request, AgentFilter(vertical=vertical), actor)
        return render(
            request,
            "agents.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            verticals=await _verticals(),
            filters={"vertical": vertical or ""},
            form={k: "" for k in FIELDS} | dict(typed),
            installation_tools=await installation_tools.offered(console.uc, actor, []),
            picked=installation_tools.values(picked or []),
        )

    async def _agent(
        request: AnyRequest,
        agent_id: str,
        status: int = 200,
        error: str | None = None,
        typed: Mapping[str, str] = {},
        picked: list[dict[str, str]] | None = None,
    ) -> Template:
        session, actor = await console.signed_in(request)
        agent = await console.uc.agents.get_private(actor, agent_id)
        return render(
            request,
            "agent.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            agent=agent,
            verticals=await _verticals(),
            form=dict(typed) or form_of(agent),
            installation_tools=await installation_tools.offered(console.uc, actor, agent.installation_tools),
            picked=installation_tools.values(agent.installation_tools if picked is None else picked),
        )

    @get("/agents")
    async def agents_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/agents")
    async def create_agent(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed, picked = typed_fields(form), installation_tools.chosen(form)
        body = agent_body(typed) | {installation_tools.FIELD: picked}
        try:
            created = await console.uc.agents.create_private(actor, msgspec.convert(body, NewAgent))
        except msgspec.ValidationError as exc:
            return await _list(request, 400, f"this agent cannot be made: {exc}", typed, picked)
        except REFUSED as exc:
            return await _list(request, exc.status, exc.message, typed, picked)
        return back_to(href(f"/agents/{created.id}"))

    @get("/agents/{agent_id:str}")
    async def agent_page(request: AnyRequest, agent_id: FromPath[str]) -> Template:
        return await _agent(request, agent_id)

    @post("/agents/{agent_id:str}")
    async def update_agent(request: AnyRequest, agent_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed, picked = typed_fields(form), installation_tools.chosen(form)
        body = agent_body(typed) | {installation_tools.FIELD: picked}  # none checked: none kept
        try:
            changes = msgspec.convert(body, AgentChanges)
            await console.uc.agents.update_private(actor, agent_id, changes)
        except msgspec.ValidationError as exc:
            return await _agent(request, agent_id, 400, f"this agent cannot be saved: {exc}", typed, picked)
        except REFUSED as exc:
            return await _agent(request, agent_id, exc.status, exc.message, typed, picked)
        return back_to(href(f"/agents/{agent_id}"))

    @post("/agents/{agent_id:str}/delete")
    async def delete_agent(request: AnyRequest, agent_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.agents.delete_private(actor, agent_id)
        return back_to(href("/agents"))

    return [agents_page, create_agent, agent_page, update_agent, delete_agent]
