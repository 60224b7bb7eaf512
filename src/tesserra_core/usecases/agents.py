"""Agents and verticals: the platform's catalog, public (``/api/agentes``, ``/api/verticais``)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from tesserra_core.domain.agents import Agent, AgentCatalog, AgentLimits, InstallationToolRef, Sampling, Vertical
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.usecases.views import View


class AgentView(View[Agent], frozen=True):
    id: str
    version: int
    vertical: str
    name: str
    description: str
    model: str | None
    sampling: Sampling
    limits: AgentLimits
    tools: list[str]
    installation_tools: list[InstallationToolRef]

    @classmethod
    def of(cls, agent: Agent) -> AgentView:
        return cls.read(agent, tools=list(agent.tools), installation_tools=list(agent.installation_tools))


class VerticalView(View[Vertical], frozen=True):
    id: str
    name: str
    description: str


class AgentFilter(msgspec.Struct, frozen=True, kw_only=True):
    vertical: str | None = None


@dataclass(frozen=True, slots=True)
class ListAgents:
    """The platform's agents, in catalog order, narrowed to one vertical if asked. Public."""

    catalog: AgentCatalog

    async def __call__(self, page: PageRequest, where: AgentFilter) -> Page[AgentView]:
        found = [a for a in self.catalog.agents if where.vertical is None or a.vertical == where.vertical]
        return page.answer(page.window(found), AgentView.of)


@dataclass(frozen=True, slots=True)
class GetAgent:
    """One agent of the platform's catalog, in its current version. Public."""

    catalog: AgentCatalog

    async def __call__(self, agent_id: str) -> AgentView:
        return AgentView.of(self.catalog.agent(agent_id))


@dataclass(frozen=True, slots=True)
class ListVerticals:
    """The verticals (industries or uses) that group the agents. Public."""

    catalog: AgentCatalog

    async def __call__(self, page: PageRequest) -> Page[VerticalView]:
        return page.answer(page.window(list(self.catalog.verticals)), VerticalView.of)


@dataclass(frozen=True, slots=True)
class Agents:
    """/api/agentes and /api/verticais."""

    list: ListAgents
    get: GetAgent
    verticals: ListVerticals


def agents(catalog: AgentCatalog) -> Agents:
    return Agents(list=ListAgents(catalog), get=GetAgent(catalog), verticals=ListVerticals(catalog))
