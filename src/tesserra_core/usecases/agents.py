"""Agents and verticals: the platform's agents (public, ``/api/agentes``, ``/api/verticais``), platform
admins' CRUD over them (``/api/admin/agentes``) and a tenant's private agents
(``/api/tenants/atual/agentes``), which only its members see: another tenant's is 404 everywhere.

The shipped catalog is data merged with the stored agents (``tesserra_core.domain.agents.merge``): editing
an agent stores its next version, deleting stores a tombstone. A conversation keeps a copy of the version
it started with (``StartConversation``), so an edit never changes a conversation under way."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Protocol

import msgspec

from tesserra_core.domain.agents import (
    MAX_PRIVATE_AGENTS,
    Agent,
    AgentCatalog,
    AgentLimits,
    InstallationToolRef,
    Sampling,
    StoredAgent,
    Vertical,
    merge,
)
from tesserra_core.domain.identity import SLUG_PATTERN, Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Line, Text, check_line, check_name, name_meta
from tesserra_core.errors import Conflict, NotFound, Unprocessable
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.views import View

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_INSTRUCTIONS = 16_000
MAX_TOOLS = 64
_NOT_FOUND = "no such agent"


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
    private: bool

    @classmethod
    def of(cls, agent: Agent) -> AgentView:
        return cls.read(
            agent,
            tools=list(agent.tools),
            installation_tools=list(agent.installation_tools),
            private=agent.tenant_id is not None,
        )


class AgentDetailView(View[Agent], frozen=True):
    """What those who edit an agent see of it: its instructions too."""

    id: str
    version: int
    vertical: str
    name: str
    description: str
    instructions: str
    model: str | None
    sampling: Sampling
    limits: AgentLimits
    tools: list[str]
    installation_tools: list[InstallationToolRef]
    tenant_id: str | None

    @classmethod
    def of(cls, agent: Agent) -> AgentDetailView:
        return cls.read(agent, tools=list(agent.tools), installation_tools=list(agent.installation_tools))


class VerticalView(View[Vertical], frozen=True):
    id: str
    name: str
    description: str


class AgentFilter(msgspec.Struct, frozen=True, kw_only=True):
    vertical: str | None = None


_TOOLS_DOC = "Tesserra's own tools, by name (422 unknown_tool for a name the platform lacks)."
_VERTICAL_DOC = "A vertical of /api/verticais (422 unknown_vertical otherwise)."


class NewAgent(Input, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=64,
                pattern=SLUG_PATTERN,
                description="A platform agent's id (lowercase letters, digits, dashes); "
                "omitted, or for a private agent, one is made (409 agent_exists if taken).",
            ),
        ]
        | None
    ) = None
    vertical: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description=_VERTICAL_DOC)]
    name: Annotated[str, name_meta(MAX_NAME)]
    description: Annotated[Text, msgspec.Meta(max_length=MAX_DESCRIPTION)] = ""
    instructions: Annotated[Text, msgspec.Meta(min_length=1, max_length=MAX_INSTRUCTIONS)]
    model: Annotated[Line, msgspec.Meta(min_length=1, max_length=200)] | None = None
    sampling: Sampling = Sampling()
    limits: AgentLimits = AgentLimits()
    tools: Annotated[list[str], msgspec.Meta(max_length=MAX_TOOLS, description=_TOOLS_DOC)] = msgspec.field(
        default_factory=list
    )
    installation_tools: Annotated[list[InstallationToolRef], msgspec.Meta(max_length=MAX_TOOLS)] = msgspec.field(
        default_factory=list
    )


class AgentChanges(Input, frozen=True, forbid_unknown_fields=True):
    """What to change; each change makes the agent's next version."""

    vertical: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description=_VERTICAL_DOC)] | None = None
    name: Annotated[str, name_meta(MAX_NAME)] | None = None
    description: Annotated[Text, msgspec.Meta(max_length=MAX_DESCRIPTION)] | None = None
    instructions: Annotated[Text, msgspec.Meta(min_length=1, max_length=MAX_INSTRUCTIONS)] | None = None
    model: Annotated[Line, msgspec.Meta(min_length=1, max_length=200)] | None = None
    sampling: Sampling | None = None
    limits: AgentLimits | None = None
    tools: Annotated[list[str], msgspec.Meta(max_length=MAX_TOOLS, description=_TOOLS_DOC)] | None = None
    installation_tools: Annotated[list[InstallationToolRef], msgspec.Meta(max_length=MAX_TOOLS)] | None = None


@dataclass(frozen=True, slots=True)
class AgentDirectory:
    """The live agents (the shipped catalog merged with the stored ones) and who sees which: everyone the
    platform's, a tenant's members its private ones. Checks what an edit may hold."""

    catalog: AgentCatalog
    known_tools: Set[str]

    async def visible(self, uow: UnitOfWork, tenant_id: str | None) -> list[Agent]:
        return merge(self.catalog.agents, await uow.agents.visible(tenant_id))

    async def find(self, uow: UnitOfWork, agent_id: str, tenant_id: str | None) -> Agent:
        """The agent, if the tenant (None: anyone) sees it; otherwise 404 ``agent_not_found``."""
        stored = await uow.agents.get(agent_id)
        if stored is not None and stored.agent.tenant_id not in (None, tenant_id):
            stored = None
        shipped = [a for a in self.catalog.agents if a.id == agent_id]
        found = merge(shipped, [stored] if stored is not None else [])
        if not found:
            raise NotFound(_NOT_FOUND, code="agent_not_found")
        return found[0]

    def checked(self, agent: Agent) -> Agent:
        """The agent with its name stripped, if its vertical and tools exist; 422 otherwise."""
        if agent.vertical not in {v.id for v in self.catalog.verticals}:
            raise Unprocessable(f"no such vertical: {agent.vertical!r}", code="unknown_vertical")
        unknown = sorted(set(agent.tools) - self.known_tools)
        if unknown:
            raise Unprocessable(f"unknown tools: {', '.join(unknown)}", code="unknown_tool")
        if len(set(agent.tools)) != len(agent.tools):
            raise Unprocessable("a tool is listed twice", code="duplicate_tool")
        for ref in agent.installation_tools:
            check_line("installation_tools.entry_id", ref.entry_id)
            check_line("installation_tools.tool", ref.tool)
        return msgspec.structs.replace(agent, name=check_name("name", agent.name, MAX_NAME))

    async def create(self, uow: UnitOfWork, agent: Agent, now: datetime) -> Agent:
        if any(a.id == agent.id for a in self.catalog.agents):
            raise Conflict("an agent with this id exists already", code="agent_exists")
        agent = self.checked(agent)
        await uow.agents.add(StoredAgent(agent=agent, created_at=now, updated_at=now))
        return agent

    async def change(self, uow: UnitOfWork, current: Agent, changes: AgentChanges, now: datetime) -> Agent:
        """Store the agent's next version with ``changes``."""
        edits = {f: getattr(changes, f) for f in changes.__struct_fields__ if getattr(changes, f) is not None}
        for field in ("tools", "installation_tools"):
            if field in edits:
                edits[field] = tuple(edits[field])
        agent = self.checked(msgspec.structs.replace(current, version=current.version + 1, **edits))
        await self._store(uow, current, StoredAgent(agent=agent, created_at=now, updated_at=now))
        return agent

    async def delete(self, uow: UnitOfWork, current: Agent, now: datetime) -> None:
        """The agent is gone from every list; conversations keep their copy. A shipped agent leaves a
        tombstone (to hide it); any other is forgotten, so deleting never grows what a tenant stores."""
        if not any(a.id == current.id for a in self.catalog.agents):
            await uow.agents.remove(current.id)
            return
        agent = msgspec.structs.replace(current, version=current.version + 1)
        await self._store(uow, current, StoredAgent(agent=agent, deleted=True, created_at=now, updated_at=now))

    @staticmethod
    async def _store(uow: UnitOfWork, current: Agent, stored: StoredAgent) -> None:
        before = await uow.agents.get(current.id)
        if before is None:  # a shipped agent's first edit
            await uow.agents.add(stored)
            return
        kept = msgspec.structs.replace(stored, created_at=before.created_at)
        if not await uow.agents.replace(kept, before.agent.version):
            raise Conflict("the agent changed meanwhile; read it again", code="agent_changed")


def _window(page: PageRequest, where: AgentFilter, found: list[Agent]) -> Page[AgentView]:
    found = [a for a in found if where.vertical is None or a.vertical == where.vertical]
    return page.answer(page.window(found), AgentView.of)


@dataclass(frozen=True, slots=True)
class ListAgents:
    """The agents one may start a conversation with, in catalog order, narrowed to one vertical if asked:
    the platform's (public); with a caller, its tenant's private agents too."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory
    directory: AgentDirectory

    async def __call__(self, page: PageRequest, where: AgentFilter, actor: Principal | None = None) -> Page[AgentView]:
        if actor is not None:
            actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            found = await self.directory.visible(uow, actor.tenant_id if actor else None)
        return _window(page, where, found)


@dataclass(frozen=True, slots=True)
class GetAgent:
    """One agent in its current version: the platform's (public); with a caller, its tenant's private too."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory
    directory: AgentDirectory

    async def __call__(self, agent_id: str, actor: Principal | None = None) -> AgentView:
        if actor is not None:
            actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return AgentView.of(await self.directory.find(uow, agent_id, actor.tenant_id if actor else None))


@dataclass(frozen=True, slots=True)
class ListVerticals:
    """The verticals (industries or uses) that group the agents. Public."""

    catalog: AgentCatalog

    async def __call__(self, page: PageRequest) -> Page[VerticalView]:
        return page.answer(page.window(list(self.catalog.verticals)), VerticalView.of)


@dataclass(frozen=True, slots=True)
class AdminListAgents:
    """The platform's agents with their instructions (platform administrators)."""

    scope: ClassVar[Scope] = Scope.ADMIN

    uow: UnitOfWorkFactory
    directory: AgentDirectory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[AgentDetailView]:
        actor.require_platform_admin()
        async with self.uow(read_only=True) as uow:
            found = await self.directory.visible(uow, None)
        return page.answer(page.window(found), AgentDetailView.of)


def _agent(cmd: NewAgent, agent_id: str, tenant_id: str | None) -> Agent:
    return Agent(
        id=agent_id,
        version=1,
        vertical=cmd.vertical,
        name=cmd.name,
        description=cmd.description,
        instructions=cmd.instructions,
        model=cmd.model,
        sampling=cmd.sampling,
        limits=cmd.limits,
        tools=tuple(cmd.tools),
        installation_tools=tuple(cmd.installation_tools),
        tenant_id=tenant_id,
    )


class AgentOwner(Protocol):
    """Who edits a kind of agent and what an edit of it may hold: the rule that tells the platform's agents
    (``PLATFORM``) from a tenant's private ones (``TENANT``); the use cases below are written once for both."""

    @property
    def scope(self) -> Scope:
        """The scope its use cases declare."""
        ...

    def admit(self, actor: Principal) -> None:
        """Refuse (403) a caller who may not edit agents of this kind."""
        ...

    def check_model(self, model: str | None) -> None:
        """Refuse (422) a model this kind of agent may not name."""
        ...

    async def ensure_room(self, uow: UnitOfWork, actor: Principal) -> None:
        """Refuse (409) one agent more than this kind allows."""
        ...

    def new_agent(self, actor: Principal, cmd: NewAgent, ids: IdFactory) -> Agent:
        """Version 1 of a new agent of this kind."""
        ...

    async def find(self, directory: AgentDirectory, uow: UnitOfWork, actor: Principal, agent_id: str) -> Agent:
        """The agent of this kind the caller edits (404 agent_not_found otherwise)."""
        ...


@dataclass(frozen=True, slots=True)
class PlatformOwner:
    """The platform's agents: platform administrators edit them, and may choose their ids and models."""

    scope: Scope = Scope.ADMIN

    def admit(self, actor: Principal) -> None:
        actor.require_platform_admin()

    def check_model(self, model: str | None) -> None:
        return None

    async def ensure_room(self, uow: UnitOfWork, actor: Principal) -> None:
        return None

    def new_agent(self, actor: Principal, cmd: NewAgent, ids: IdFactory) -> Agent:
        return _agent(cmd, cmd.id or ids.new().lower(), None)

    async def find(self, directory: AgentDirectory, uow: UnitOfWork, actor: Principal, agent_id: str) -> Agent:
        return await directory.find(uow, agent_id, None)


@dataclass(frozen=True, slots=True)
class TenantOwner:
    """A tenant's private agents: its owners and admins edit them; at most ``MAX_PRIVATE_AGENTS`` each; they
    answer with the platform's model (which model, and what it costs, is the platform's choice)."""

    scope: Scope = Scope.TENANT_WRITE

    def admit(self, actor: Principal) -> None:
        actor.require(self.scope)

    def check_model(self, model: str | None) -> None:
        if model is not None:
            raise Unprocessable("a private agent answers with the platform's model", code="model_not_allowed")

    async def ensure_room(self, uow: UnitOfWork, actor: Principal) -> None:
        if await uow.agents.count_private(actor.tenant_id) >= MAX_PRIVATE_AGENTS:
            raise Conflict(f"a tenant keeps at most {MAX_PRIVATE_AGENTS} private agents", code="agent_limit")

    def new_agent(self, actor: Principal, cmd: NewAgent, ids: IdFactory) -> Agent:
        return _agent(cmd, ids.new(), actor.tenant_id)

    async def find(self, directory: AgentDirectory, uow: UnitOfWork, actor: Principal, agent_id: str) -> Agent:
        """The tenant's own private agent; a platform agent or another tenant's is 404 here."""
        agent = await directory.find(uow, agent_id, actor.tenant_id)
        if agent.tenant_id != actor.tenant_id:
            raise NotFound(_NOT_FOUND, code="agent_not_found")
        return agent


PLATFORM: AgentOwner = PlatformOwner()
TENANT: AgentOwner = TenantOwner()


class OwnedBy:
    """A use case written once for both kinds of agent. A subclass names its kind and takes that kind's scope:
    ``class CreateAgent(CreateOwnedAgent, owner=PLATFORM)``."""

    __slots__ = ()
    owner: ClassVar[AgentOwner]
    scope: ClassVar[Scope]

    def __init_subclass__(cls, owner: AgentOwner | None = None, **more: object) -> None:
        super().__init_subclass__(**more)
        if owner is not None:
            cls.owner = owner
            cls.scope = owner.scope


@dataclass(frozen=True, slots=True)
class CreateOwnedAgent(OwnedBy):
    """Add an agent of the ``owner``'s kind, version 1."""

    uow: UnitOfWorkFactory
    directory: AgentDirectory
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, cmd: NewAgent) -> AgentDetailView:
        self.owner.admit(actor)
        self.owner.check_model(cmd.model)
        async with self.uow() as uow:
            await self.owner.ensure_room(uow, actor)
            agent = await self.directory.create(uow, self.owner.new_agent(actor, cmd, self.ids), self.clock.now())
            await uow.commit()
        return AgentDetailView.of(agent)


@dataclass(frozen=True, slots=True)
class GetOwnedAgent(OwnedBy):
    """One agent of the ``owner``'s kind, with its instructions."""

    uow: UnitOfWorkFactory
    directory: AgentDirectory

    async def __call__(self, actor: Principal, agent_id: str) -> AgentDetailView:
        self.owner.admit(actor)
        async with self.uow(read_only=True) as uow:
            return AgentDetailView.of(await self.owner.find(self.directory, uow, actor, agent_id))


@dataclass(frozen=True, slots=True)
class UpdateOwnedAgent(OwnedBy):
    """Edit an agent of the ``owner``'s kind: its next version. Conversations under way keep the version
    they started with."""

    uow: UnitOfWorkFactory
    directory: AgentDirectory
    clock: Clock

    async def __call__(self, actor: Principal, agent_id: str, changes: AgentChanges) -> AgentDetailView:
        self.owner.admit(actor)
        self.owner.check_model(changes.model)
        async with self.uow() as uow:
            current = await self.owner.find(self.directory, uow, actor, agent_id)
            agent = await self.directory.change(uow, current, changes, self.clock.now())
            await uow.commit()
        return AgentDetailView.of(agent)


@dataclass(frozen=True, slots=True)
class DeleteOwnedAgent(OwnedBy):
    """Remove an agent of the ``owner``'s kind from every list; its conversations stay."""

    uow: UnitOfWorkFactory
    directory: AgentDirectory
    clock: Clock

    async def __call__(self, actor: Principal, agent_id: str) -> None:
        self.owner.admit(actor)
        async with self.uow() as uow:
            current = await self.owner.find(self.directory, uow, actor, agent_id)
            await self.directory.delete(uow, current, self.clock.now())
            await uow.commit()


# The platform's agents (/api/admin/agentes) and a tenant's private ones (/api/tenants/atual/agentes): the
# same use cases under each ownership rule, named (with their scope and description) for the drivers.


class AdminGetAgent(GetOwnedAgent, owner=PLATFORM):
    """One platform agent with its instructions (platform administrators)."""


class CreateAgent(CreateOwnedAgent, owner=PLATFORM):
    """Add a platform agent, version 1 (platform administrators)."""


class UpdateAgent(UpdateOwnedAgent, owner=PLATFORM):
    """Edit a platform agent: its next version (platform administrators). Conversations under way keep
    the version they started with."""


class DeleteAgent(DeleteOwnedAgent, owner=PLATFORM):
    """Remove a platform agent from every list (platform administrators); its conversations stay."""


class CreatePrivateAgent(CreateOwnedAgent, owner=TENANT):
    """Add a private agent to the caller's tenant (owners and admins): only its members see it. At most
    ``MAX_PRIVATE_AGENTS`` per tenant (409 agent_limit); it answers with the platform's model (422
    model_not_allowed if it names one)."""


class GetPrivateAgent(GetOwnedAgent, owner=TENANT):
    """One of the tenant's private agents with its instructions (owners and admins)."""


class UpdatePrivateAgent(UpdateOwnedAgent, owner=TENANT):
    """Edit one of the tenant's private agents: its next version (owners and admins)."""


class DeletePrivateAgent(DeleteOwnedAgent, owner=TENANT):
    """Remove one of the tenant's private agents (owners and admins); its conversations stay."""


@dataclass(frozen=True, slots=True)
class OwnedAgents:
    """The four edits of one kind of agent, for a driver written once for both kinds (``Agents.owned_by``)."""

    create: CreateOwnedAgent
    get: GetOwnedAgent
    update: UpdateOwnedAgent
    delete: DeleteOwnedAgent


@dataclass(frozen=True, slots=True)
class Agents:
    """/api/agentes, /api/verticais, /api/admin/agentes and /api/tenants/atual/agentes."""

    list: ListAgents
    get: GetAgent
    verticals: ListVerticals
    admin_list: AdminListAgents
    admin_get: AdminGetAgent
    create: CreateAgent
    update: UpdateAgent
    delete: DeleteAgent
    create_private: CreatePrivateAgent
    get_private: GetPrivateAgent
    update_private: UpdatePrivateAgent
    delete_private: DeletePrivateAgent
    directory: AgentDirectory

    def owned_by(self, owner: AgentOwner) -> OwnedAgents:
        """The use cases that edit the ``owner``'s agents (``PLATFORM`` or ``TENANT``)."""
        if owner is PLATFORM:
            return OwnedAgents(self.create, self.admin_get, self.update, self.delete)
        if owner is TENANT:
            return OwnedAgents(self.create_private, self.get_private, self.update_private, self.delete_private)
        raise ValueError(f"no agent use cases for the owner {owner!r}")


def agents(uow: UnitOfWorkFactory, ids: IdFactory, clock: Clock, directory: AgentDirectory) -> Agents:
    return Agents(
        list=ListAgents(uow, directory),
        get=GetAgent(uow, directory),
        verticals=ListVerticals(directory.catalog),
        admin_list=AdminListAgents(uow, directory),
        admin_get=AdminGetAgent(uow, directory),
        create=CreateAgent(uow, directory, ids, clock),
        update=UpdateAgent(uow, directory, clock),
        delete=DeleteAgent(uow, directory, clock),
        create_private=CreatePrivateAgent(uow, directory, ids, clock),
        get_private=GetPrivateAgent(uow, directory),
        update_private=UpdatePrivateAgent(uow, directory, clock),
        delete_private=DeletePrivateAgent(uow, directory, clock),
        directory=directory,
    )
