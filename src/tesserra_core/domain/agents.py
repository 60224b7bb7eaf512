"""Agents and the verticals that group them, shipped as versioned data (``agents.json``).

An agent has instructions, model and sampling settings, limits on one answer (model steps, tool calls,
tokens) and the Tesserra tools it may call (by name, from the core's registry,
``tesserra_core.usecases.agent_tools``). An agent is versioned: a conversation keeps a copy of the
version it started with, so a later edit never changes a conversation under way.

Platform admins edit and add agents (``/api/admin/agentes``), and a tenant's owners and admins add private
agents that only the tenant's members see; those are stored (``StoredAgent``) and merged over the shipped
catalog by id, the higher version winning (``merge``), so a release that ships a newer version of an agent
takes over from an older edit, and a deleted agent is a stored tombstone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated

import msgspec

from tesserra_core.errors import NotFound

MAX_STEPS = 50
MAX_TOOL_CALLS = 100
MAX_TOKENS_PER_TURN = 32_768
MAX_PRIVATE_AGENTS = 100
"""Private agents one tenant may keep."""


class Sampling(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None


class AgentLimits(msgspec.Struct, frozen=True, kw_only=True):
    """What one answer may spend: model calls (steps), tool calls and completion tokens."""

    max_steps: Annotated[int, msgspec.Meta(ge=1, le=MAX_STEPS)] = 6
    max_tool_calls: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOOL_CALLS)] = 8
    max_tokens_per_turn: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS_PER_TURN)] = 2048

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

    entry_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    """The marketplace entry, e.g. ``io.github.modelcontextprotocol-time``."""
    tool: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


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
    tenant_id: str | None = None
    """The tenant whose members alone see it (a private agent); None: a platform agent."""


class StoredAgent(msgspec.Struct, frozen=True, kw_only=True):
    """An agent as stored: the current version of an edited or added one, or the tombstone of a deleted one."""

    agent: Agent
    deleted: bool = False
    created_at: datetime
    updated_at: datetime


def merge(shipped: Iterable[Agent], stored: Iterable[StoredAgent]) -> list[Agent]:
    """The live agents: the shipped ones in catalog order, each replaced by its stored version when that is
    higher (dropped if that is a tombstone), then the stored agents the catalog lacks, oldest first."""
    by_id = {s.agent.id: s for s in stored}
    merged: list[Agent] = []
    for agent in shipped:
        kept = by_id.pop(agent.id, None)
        if kept is None or kept.agent.version < agent.version:
            merged.append(agent)
        elif not kept.deleted:
            merged.append(kept.agent)
    rest = sorted(by_id.values(), key=lambda s: (s.created_at, s.agent.id))
    merged.extend(s.agent for s in rest if not s.deleted)
    return merged


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
