"""Agents and the verticals that group them, shipped as versioned data (``agents.json``).

An agent has instructions, model and sampling settings, limits on one answer (model steps, tool calls,
tokens) and the Tesserra tools it may call (by name, from the core's registry,
``tesserra_core.usecases.agent_tools``). An agent is versioned: a conversation keeps a copy of the
version it started with, so a later edit of the catalog never changes a conversation under way.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import msgspec

from tesserra_core.errors import NotFound


class Sampling(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    temperature: float | None = None
    top_p: float | None = None


class AgentLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one answer may spend: model calls (steps), tool calls and completion tokens."""

    max_steps: int = 6
    max_tool_calls: int = 8
    max_tokens_per_turn: int = 2048

    def __post_init__(self) -> None:
        if min(self.max_steps, self.max_tool_calls, self.max_tokens_per_turn) < 1:
            raise ValueError("agent limits must be positive")


class Vertical(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str


class InstallationToolRef(msgspec.Struct, frozen=True, kw_only=True):
    """A tool of a tool server the tenant installed from the marketplace: offered to the model when the
    user sees an installation of ``entry_id`` that reports ``tool``."""

    entry_id: str
    """The marketplace entry, e.g. ``io.github.modelcontextprotocol-time``."""
    tool: str


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    version: int
    vertical: str
    name: str
    description: str
    instructions: str
    model: str | None = None
    """None: the server's model (TESSERRA_MODEL)."""
    sampling: Sampling = Sampling()
    limits: AgentLimits = AgentLimits()
    tools: tuple[str, ...] = ()
    """Tesserra's own use cases it may call, by tool name."""
    installation_tools: tuple[InstallationToolRef, ...] = ()
    """Tools of the tenant's installations it may call."""


class AgentCatalog(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    verticals: tuple[Vertical, ...]
    agents: tuple[Agent, ...]

    def __post_init__(self) -> None:
        verticals = {v.id for v in self.verticals}
        seen: set[str] = set()
        for agent in self.agents:
            if agent.vertical not in verticals:
                raise ValueError(f"agent {agent.id}: unknown vertical {agent.vertical!r}")
            if agent.id in seen:
                raise ValueError(f"agent {agent.id} is listed twice")
            seen.add(agent.id)

    def agent(self, agent_id: str) -> Agent:
        for agent in self.agents:
            if agent.id == agent_id:
                return agent
        raise NotFound("no such agent", code="agent_not_found")


@cache
def agent_catalog() -> AgentCatalog:
    """The agents shipped with this version, read and checked once."""
    raw = resources.files("tesserra_core.domain").joinpath("agents.json").read_bytes()
    return msgspec.json.decode(raw, type=AgentCatalog)
