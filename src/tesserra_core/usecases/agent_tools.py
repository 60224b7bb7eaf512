"""Tesserra's own use cases as tools an agent may call: a small explicit registry.

Each entry names the use case it calls: the tool needs the scope that use case states (and a tier), its
description is the use case's docstring, and it runs through that same use case, as the conversation's
user, with every check of the REST call. Its arguments are checked against its JSON Schema first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.paging import MAX_LIMIT, PageRequest
from tesserra_core.domain.projects import MAX_NAME, ProjectFilter, ProjectStatus
from tesserra_core.errors import Forbidden
from tesserra_core.ports.models import ToolSpec
from tesserra_core.usecases.contract import description_of, scope_of
from tesserra_core.usecases.domains import Domains, ListDomains
from tesserra_core.usecases.guards import CONSOLE
from tesserra_core.usecases.projects import GetProject, ListProjects, Projects

Run = Callable[[Principal, dict[str, Any]], Awaitable[Any]]


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

    @property
    def spec(self) -> ToolSpec:
        """What the model is told of the tool."""
        return ToolSpec(name=self.name, description=description_of(self.uses), parameters=self.parameters)

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

    async def list_domains(actor: Principal, args: dict[str, Any]) -> Any:
        return await domains.list(actor, _page(args))

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
        AgentTool(
            "get_project",
            GetProject,
            {
                "type": "object",
                "properties": {"project_id": {"type": "string", "maxLength": 64}},
                "required": ["project_id"],
                "additionalProperties": False,
            },
            get_project,
        ),
        AgentTool("list_domains", ListDomains, _paging(), list_domains),
    ]
    return {tool.name: tool for tool in tools}
