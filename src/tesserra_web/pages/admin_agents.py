"""The platform's agents, for platform administrators (uc.agents as /api/admin/agentes): the list with the
page in the URL, a form to add one (its id and model optional), and one agent's page to edit it (each save its
next version) and delete it. The fields are the private agents' form (pages/agents.py), plus the id and model
a platform agent may have. Anyone else gets the use cases' 403 page, as REST answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.paging import PageRequest
from tesserra_core.usecases.agents import AgentChanges, AgentDetailView, NewAgent
from tesserra_web.pages.agents import FIELDS, REFUSED, agent_body, form_of, typed_fields
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]


_OWN = ("id", "model")
SAMPLING = ("temperature", "top_p")
LIMITS = ("max_steps", "max_tool_calls", "max_tokens_per_turn")
"""What a platform agent has beside a private one's fields; an empty sampling or limit field is the default."""


def _typed(form: Mapping[str, Any]) -> dict[str, str]:
    return typed_fields(form) | {k: str(form.get(k, "")).strip() for k in (*_OWN, *SAMPLING, *LIMITS)}


def _number(raw: str) -> float | str:
    """A number as typed, or the text itself (which the agent's type then refuses, with its message)."""
    try:
        return float(raw) if len(raw) <= 32 else raw
    except ValueError:
        return raw


def _whole(raw: str) -> int | str:
    return int(raw) if raw.isdigit() and len(raw) <= 20 else raw


def _body(typed: Mapping[str, str]) -> dict[str, Any]:
    """As the REST body: the private agent's fields, the id and model when typed, its sampling and limits."""
    return (
        agent_body(typed)
        | {k: typed[k] for k in _OWN if typed.get(k)}
        | {
            "sampling": {k: _number(typed[k]) for k in SAMPLING if typed.get(k)},
            "limits": {k: _whole(typed[k]) for k in LIMITS if typed.get(k)},
        }
    )


def _form(agent: AgentDetailView) -> dict[str, str]:
    sampling = {k: "" if getattr(agent.sampling, k) is None else f"{getattr(agent.sampling, k):g}" for k in SAMPLING}
    return (
        form_of(agent)
        | {"id": agent.id, "model": agent.model or ""}
        | sampling
        | {k: str(getattr(agent.limits, k)) for k in LIMITS}
    )


def routes(console: Console) -> list[HTTPRouteHandler]:
    async def _verticals() -> list[Any]:
        return list((await console.uc.agents.verticals(PageRequest(limit=500))).items)

    async def _list(
        request: AnyRequest, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
    ) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        page = await console.uc.agents.admin_list(actor, pager.request)
        return render(
            request,
            "admin_agents.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            filters={},
            verticals=await _verticals(),
            form={k: "" for k in (*FIELDS, *_OWN, *SAMPLING, *LIMITS)} | dict(typed),
        )

    async def _agent(
        request: AnyRequest, agent_id: str, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
    ) -> Template:
        session, actor = await console.signed_in(request)
        agent = await console.uc.agents.admin_get(actor, agent_id)
        return render(
            request,
            "admin_agent.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            agent=agent,
            verticals=await _verticals(),
            form=dict(typed) or _form(agent),
        )

    @get("/admin/agents")
    async def agents_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/admin/agents")
    async def create_agent(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form())
        try:
            created = await console.uc.agents.create(actor, msgspec.convert(_body(typed), NewAgent))
        except msgspec.ValidationError as exc:
            return await _list(request, 400, f"this agent cannot be made: {exc}", typed)
        except REFUSED as exc:
            return await _list(request, exc.status, exc.message, typed)
        return back_to(href(f"/admin/agents/{created.id}"))

    @get("/admin/agents/{agent_id:str}")
    async def agent_page(request: AnyRequest, agent_id: FromPath[str]) -> Template:
        return await _agent(request, agent_id)

    @post("/admin/agents/{agent_id:str}")
    async def update_agent(request: AnyRequest, agent_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        typed = _typed(await request.form())
        try:
            body = {k: v for k, v in _body(typed).items() if k != "id"}  # an agent's id never changes
            await console.uc.agents.update(actor, agent_id, msgspec.convert(body, AgentChanges))
        except msgspec.ValidationError as exc:
            return await _agent(request, agent_id, 400, f"this agent cannot be saved: {exc}", typed)
        except REFUSED as exc:
            return await _agent(request, agent_id, exc.status, exc.message, typed)
        return back_to(href(f"/admin/agents/{agent_id}"))

    @post("/admin/agents/{agent_id:str}/delete")
    async def delete_agent(request: AnyRequest, agent_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.agents.delete(actor, agent_id)
        return back_to(href("/admin/agents"))

    return [agents_page, create_agent, agent_page, update_agent, delete_agent]
