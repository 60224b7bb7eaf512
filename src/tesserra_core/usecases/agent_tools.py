"""The tools an agent may call: Tesserra's own use cases (a small explicit registry) and the tools of the
tenant's installations that the agent names.

Each names the use case it calls: the tool needs the scope that use case states (and a tier), and it runs
through that same use case, as the conversation's user, with every check of the REST call. A registry
tool's description is its use case's docstring; an installation's tool keeps the server's own
description and input schema, and runs through CallInstallationTool. Arguments are checked against the
tool's JSON Schema first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tesserra_core.domain.agents import Agent
from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.paging import MAX_LIMIT, PageRequest
from tesserra_core.domain.projects import MAX_NAME, ProjectFilter, ProjectStatus
from tesserra_core.domain.tools import InstallationStatus, ToolInfo
from tesserra_core.errors import Forbidden
from tesserra_core.ports.models import ToolSpec
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.usecases.contract import description_of, scope_of
from tesserra_core.usecases.domains import Domains, ListDomains
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.installations import CallInstallationTool, ToolCall
from tesserra_core.usecases.projects import DeleteProject, GetProject, ListProjects, Projects

Run = Callable[[Principal, dict[str, Any]], Awaitable[Any]]

_UNLINKED = "A tool of a server that acts with the user's own account, which is not linked yet: a call tells so."


@dataclass(frozen=True, slots=True)
class AgentTool:
    name: str
    uses: type
    """The use case it calls: the scope it states is the one the tool needs."""
    parameters: dict[str, Any]
    run: Run
    tier: Tier = Tier.BASIC
    rate_limit: str | None = CONSOLE
    """The core's named rule its REST twin counts against, on the same per-token counter."""
    description: str = ""
    """Its own description (an installation's tool); a registry tool reads as its use case."""
    destructive: bool = False
    """It changes or removes things the user cannot get back (MCP ``destructiveHint``): a call waits for
    the user's approval."""

    @property
    def spec(self) -> ToolSpec:
        """What the model is told of the tool."""
        text = self.description or description_of(self.uses)
        return ToolSpec(name=self.name, description=text, parameters=self.parameters)

    def refusal(self, actor: Principal) -> Forbidden | None:
        """Why ``actor`` may not call it (the same refusal as the use case's), or None."""
        scope = scope_of(self.uses)
        if scope is not None and not actor.has(scope):
            return Forbidden(f"missing scope: {scope.value}", code="insufficient_scope")
        if not actor.tier.covers(self.tier):
            return Forbidden(f"this needs a key of tier {self.tier.value} or higher", code="insufficient_tier")
        return None


def _paging(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "limite": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "Page size."},
            "offset": {"type": "integer", "minimum": 0, "description": "Items to skip."},
            **(extra or {}),
        },
        "additionalProperties": False,
    }


def _page(args: Mapping[str, Any]) -> PageRequest:
    return PageRequest(args.get("limite", 20), args.get("offset", 0))


def builtin_tools(projects: Projects, domains: Domains) -> dict[str, AgentTool]:
    """The registry: tool name -> the use case it calls, its arguments' schema and how it calls it."""

    async def list_projects(actor: Principal, args: dict[str, Any]) -> Any:
        where = ProjectFilter(status=ProjectStatus(args["status"]) if "status" in args else None, name=args.get("name"))
        return await projects.list(actor, _page(args), where)

    async def get_project(actor: Principal, args: dict[str, Any]) -> Any:
        return await projects.get(actor, args["project_id"])

    async def delete_project(actor: Principal, args: dict[str, Any]) -> Any:
        await projects.delete(actor, args["project_id"])
        return {"deleted": args["project_id"]}

    async def list_domains(actor: Principal, args: dict[str, Any]) -> Any:
        return await domains.list(actor, _page(args))

    one_project = {
        "type": "object",
        "properties": {"project_id": {"type": "string", "maxLength": 64}},
        "required": ["project_id"],
        "additionalProperties": False,
    }

    statuses = [s.value for s in ProjectStatus]
    tools = [
        AgentTool(
            "list_projects",
            ListProjects,
            _paging(
                {
                    "status": {"type": "string", "enum": statuses},
                    "name": {"type": "string", "maxLength": MAX_NAME, "description": "A part of the name."},
                }
            ),
            list_projects,
        ),
        AgentTool("get_project", GetProject, one_project, get_project),
        AgentTool("delete_project", DeleteProject, one_project, delete_project, destructive=True),
        AgentTool("list_domains", ListDomains, _paging(), list_domains),
    ]
    return {tool.name: tool for tool in tools}


@dataclass(frozen=True, slots=True)
class InstallationTools:
    """The installation tools an agent names that the user can reach: those of the installations the user
    sees (the tenant's, and the user's own) whose entry and reported tool match; the newest installation
    of an entry wins. A server that acts with a user's own OAuth account is only ever installed for that
    user (``per_user_tool``), so a call reaches the server started with the caller's own token, never
    another user's or a tenant-wide one; without a linked account the call answers ``needs_auth``."""

    uow: UnitOfWorkFactory
    call: CallInstallationTool

    async def offered(self, actor: Principal, agent: Agent) -> dict[str, AgentTool]:
        if not agent.installation_tools:
            return {}
        wanted = {(ref.entry_id, ref.tool) for ref in agent.installation_tools}
        async with self.uow(read_only=True) as uow:
            installations, _ = await uow.installations.list_visible(actor.tenant_id, actor.user_id, PageRequest(500))
        offered: dict[str, AgentTool] = {}
        for installation in installations:
            for info in installation.tools:
                if (installation.entry_id, info.name) in wanted and info.name not in offered:
                    offered[info.name] = self._tool(installation.id, info)
        # An installation waiting for its user's account has reported no tools yet: the agent's tools of its
        # entry are offered all the same, so that a call reaches CallInstallationTool, which starts the server
        # with this user's own token, or answers needs_auth (link your account) while there is none.
        for installation in installations:
            if installation.status is InstallationStatus.NEEDS_AUTH:
                for entry_id, name in sorted(wanted):
                    if entry_id == installation.entry_id and name not in offered:
                        offered[name] = self._tool(installation.id, ToolInfo(name=name, description=_UNLINKED))
        return offered

    def _tool(self, installation_id: str, info: ToolInfo) -> AgentTool:
        async def run(actor: Principal, args: dict[str, Any]) -> Any:
            return await self.call(actor, installation_id, ToolCall(name=info.name, arguments=args))

        schema = info.input_schema or {"type": "object"}
        return AgentTool(
            info.name,
            CallInstallationTool,
            schema,
            run,
            tier=Tier.STANDARD,
            rate_limit=None,
            description=info.description,
            destructive=info.destructive,
        )
