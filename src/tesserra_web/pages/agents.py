"""Agents, in two sets of pages written once and told apart by who owns the agents (the core's ``PLATFORM``
and ``TENANT`` owners):

- ``/agents``: the agents the signed-in tenant may talk to (the platform's and its private ones,
  uc.agents.list as /api/tenants/atual/agentes), a vertical filter, and for owners and admins a form to add
  a private agent, edit it and delete it, as the REST API allows them;
- ``/admin/agents``: the platform's agents for platform administrators (uc.agents.admin_list as
  /api/admin/agentes), with the same forms plus the id, model, sampling and limits a platform agent may have.

The page is in the URL; each save makes the agent's next version. Anyone else gets the use cases' 403 page,
as REST answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.agents import InstallationToolRef
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.usecases.agents import (
    PLATFORM,
    TENANT,
    AgentChanges,
    AgentDetailView,
    AgentFilter,
    AgentOwner,
    NewAgent,
)
from tesserra_web.pages import agent_installation_tools as installation_tools
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
REFUSED = (Conflict, Unprocessable, ValidationFailed)
FIELDS = ("name", "vertical", "description", "instructions", "tools")
MAX_VERTICAL = 64
SAMPLING = ("temperature", "top_p")
LIMITS = ("max_steps", "max_tool_calls", "max_tokens_per_turn")
PLATFORM_FIELDS = ("id", "model", *SAMPLING, *LIMITS)
"""What a platform agent has beside a private one's fields; an empty sampling or limit field is the default."""


def _tools(raw: str) -> list[str]:
    """Tesserra's own tools by name, separated by commas or white space."""
    return [t for t in raw.replace(",", " ").split() if t]


def _number(raw: str) -> float | str:
    """A number as typed, or the text itself (which the agent's type then refuses, with its message)."""
    try:
        return float(raw) if len(raw) <= 32 else raw
    except ValueError:
        return raw


def _whole(raw: str) -> int | str:
    return int(raw) if raw.isdigit() and len(raw) <= 20 else raw


def _vertical(request: AnyRequest) -> str | None:
    raw = request.query_params.get("vertical", "").strip()
    if len(raw) > MAX_VERTICAL:
        raise ValidationFailed(f"vertical: at most {MAX_VERTICAL} characters", code="invalid_vertical")
    return raw or None


class AgentPages:
    """The pages of a tenant's private agents; ``PlatformAgentPages`` says what the platform's add. The
    templates read ``kind`` (this object) for the URLs, the forms' ids and what only one kind shows."""

    owner: AgentOwner = TENANT
    base = "/agents"
    list_template = "agents.html"
    noun = "agent"
    """The stem of the forms' HTML ids (new-agent, edit-agent, delete-agent), which scripts and tests find."""

    @property
    def platform(self) -> bool:
        return self.owner is PLATFORM

    def empty_form(self) -> dict[str, str]:
        return dict.fromkeys(FIELDS, "")

    def typed(self, form: Mapping[str, Any]) -> dict[str, str]:
        return {k: str(form.get(k, "")) for k in FIELDS}

    offers_installation_tools = True
    """A private agent may call its tenant's installations' tools; the platform has no installations."""

    def picked(self, form: Any) -> list[dict[str, str]]:
        """The installation tools checked (none checked: none kept)."""
        return installation_tools.chosen(form) if self.offers_installation_tools else []

    def body(self, typed: Mapping[str, str], picked: list[dict[str, str]]) -> dict[str, Any]:
        """What was typed and checked as the REST body."""
        return {
            "name": typed["name"],
            "vertical": typed["vertical"],
            "description": typed["description"],
            "instructions": typed["instructions"],
            "tools": _tools(typed["tools"]),
        } | ({installation_tools.FIELD: picked} if self.offers_installation_tools else {})

    async def tool_boxes(
        self,
        console: Console,
        actor: Principal,
        current: list[InstallationToolRef],
        picked: list[dict[str, str]] | None,
    ) -> dict[str, Any]:
        """What the form offers of the tenant's installations' tools, and which boxes are checked."""
        if not self.offers_installation_tools:
            return {}
        return {
            "installation_tools": await installation_tools.offered(console.uc, actor, current),
            "picked": installation_tools.values(current if picked is None else picked),
        }

    def form_of(self, agent: AgentDetailView) -> dict[str, str]:
        return {
            "name": agent.name,
            "vertical": agent.vertical,
            "description": agent.description,
            "instructions": agent.instructions,
            "tools": ", ".join(agent.tools),
        }

    async def listed(
        self, console: Console, request: AnyRequest, actor: Principal, pager: Pager
    ) -> tuple[Page[Any], dict[str, str]]:
        """The list's page and its filters: every agent the tenant may talk to, by vertical."""
        vertical = _vertical(request)
        page = await console.uc.agents.list(pager.request, AgentFilter(vertical=vertical), actor)
        return page, {"vertical": vertical or ""}


class PlatformAgentPages(AgentPages):
    """The platform's agents: an id and a model may be typed, and their sampling and limits."""

    owner = PLATFORM
    base = "/admin/agents"
    list_template = "admin_agents.html"
    noun = "platform-agent"
    offers_installation_tools = False

    def empty_form(self) -> dict[str, str]:
        return dict.fromkeys((*FIELDS, *PLATFORM_FIELDS), "")

    def typed(self, form: Mapping[str, Any]) -> dict[str, str]:
        return super().typed(form) | {k: str(form.get(k, "")).strip() for k in PLATFORM_FIELDS}

    def body(self, typed: Mapping[str, str], picked: list[dict[str, str]]) -> dict[str, Any]:
        """The private agent's body, the id and model when typed, its sampling and limits."""
        return (
            super().body(typed, picked)
            | {k: typed[k] for k in ("id", "model") if typed.get(k)}
            | {
                "sampling": {k: _number(typed[k]) for k in SAMPLING if typed.get(k)},
                "limits": {k: _whole(typed[k]) for k in LIMITS if typed.get(k)},
            }
        )

    def form_of(self, agent: AgentDetailView) -> dict[str, str]:
        values = {k: getattr(agent.sampling, k) for k in SAMPLING}
        sampling = {k: "" if v is None else f"{v:g}" for k, v in values.items()}
        return (
            super().form_of(agent)
            | {"id": agent.id, "model": agent.model or ""}
            | sampling
            | {k: str(getattr(agent.limits, k)) for k in LIMITS}
        )

    async def listed(
        self, console: Console, request: AnyRequest, actor: Principal, pager: Pager
    ) -> tuple[Page[Any], dict[str, str]]:
        return await console.uc.agents.admin_list(actor, pager.request), {}


PRIVATE_AGENTS = AgentPages()
PLATFORM_AGENTS = PlatformAgentPages()


def routes(console: Console, kind: AgentPages) -> list[HTTPRouteHandler]:
    """The list (with the form that adds one), one agent's page (its edit form), its save and its delete."""
    cases = console.uc.agents.owned_by(kind.owner)

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
        page, filters = await kind.listed(console, request, actor, pager)
        return render(
            request,
            kind.list_template,
            status=status,
            error=error,
            session=session,
            actor=actor,
            kind=kind,
            page=page,
            pager=pager,
            verticals=await _verticals(),
            filters=filters,
            form=kind.empty_form() | dict(typed),
            **await kind.tool_boxes(console, actor, [], picked),
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
        agent = await cases.get(actor, agent_id)
        return render(
            request,
            "agent.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            kind=kind,
            agent=agent,
            verticals=await _verticals(),
            form=dict(typed) or kind.form_of(agent),
            **await kind.tool_boxes(console, actor, agent.installation_tools, picked),
        )

    @get(kind.base)
    async def agents_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post(kind.base)
    async def create_agent(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed, picked = kind.typed(form), kind.picked(form)
        try:
            created = await cases.create(actor, msgspec.convert(kind.body(typed, picked), NewAgent))
        except msgspec.ValidationError as exc:
            return await _list(request, 400, f"this agent cannot be made: {exc}", typed, picked)
        except REFUSED as exc:
            return await _list(request, exc.status, exc.message, typed, picked)
        return back_to(href(f"{kind.base}/{created.id}"))

    @get(kind.base + "/{agent_id:str}")
    async def agent_page(request: AnyRequest, agent_id: FromPath[str]) -> Template:
        return await _agent(request, agent_id)

    @post(kind.base + "/{agent_id:str}")
    async def update_agent(request: AnyRequest, agent_id: FromPath[str]) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed, picked = kind.typed(form), kind.picked(form)
        try:
            body = {k: v for k, v in kind.body(typed, picked).items() if k != "id"}  # an agent's id never changes
            await cases.update(actor, agent_id, msgspec.convert(body, AgentChanges))
        except msgspec.ValidationError as exc:
            return await _agent(request, agent_id, 400, f"this agent cannot be saved: {exc}", typed, picked)
        except REFUSED as exc:
            return await _agent(request, agent_id, exc.status, exc.message, typed, picked)
        return back_to(href(f"{kind.base}/{agent_id}"))

    @post(kind.base + "/{agent_id:str}/delete")
    async def delete_agent(request: AnyRequest, agent_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await cases.delete(actor, agent_id)
        return back_to(href(kind.base))

    return [agents_page, create_agent, agent_page, update_agent, delete_agent]
