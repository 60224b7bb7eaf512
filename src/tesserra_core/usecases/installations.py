"""Installations: install from the marketplace, inspect, reconfigure, remove, list and call tools,
upload files into the workspace. The servers themselves are run by ``ToolServers`` (runners).

Lists are answered from each worker's cache of what the store returned, per tenant, user and page.
Every change to a tenant's installations (install, update, remove, and each status the servers
record) publishes ``installations_tag(tenant)`` in its transaction and evicts this worker's entries
after commit; other workers drop theirs when their revocation watcher polls (every 0.5 s). A list
whose read an eviction overtook is not kept, and the requests that miss together read once
(``TaggedCache.fetch``); entries expire after ``LIST_CACHE_SECONDS`` in any case.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Protocol

import msgspec

from tesserra_core.domain.identity import Principal, Role, Scope
from tesserra_core.domain.jsonbounds import check_json
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Line
from tesserra_core.domain.tools import (
    Installation,
    InstallationStatus,
    InstallScope,
    safe_file_name,
    secret_context,
    validate_config,
)
from tesserra_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.ports.tools import ToolCallResult, Workspaces
from tesserra_core.usecases.caching import Fresh, TaggedCache
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.marketplace import catalog_entry
from tesserra_core.usecases.tool_views import (
    InstallationToolsView,
    InstallationView,
    ToolCallView,
    ToolView,
    UploadView,
)


class InstallationServers(Protocol):
    """What the use cases ask of the installations' running servers (``runners.tool_servers``)."""

    def install(self, installation_id: str) -> None: ...

    def ready(self, installation_id: str) -> Installation | None: ...

    async def call(
        self, installation: Installation, name: str, arguments: dict[str, Any], time_limit: float | None
    ) -> ToolCallResult: ...

    async def stop(self, installation_id: str, *, removed: bool = False) -> None: ...

    async def mark(self, installation_id: str, status: InstallationStatus, reason: str | None) -> None: ...

    async def forget(self, installation_id: str) -> None: ...


_MANAGERS = frozenset({Role.OWNER, Role.ADMIN})

Listed = tuple[list[Installation], int]
LIST_CACHE_SECONDS = 10.0


def installations_tag(tenant_id: str) -> str:
    """The revocation that drops every cached list of the tenant's installations."""
    return f"installations:{tenant_id}"


class InstallRequest(Input, frozen=True, forbid_unknown_fields=True):
    config: Annotated[
        dict[str, Any],
        msgspec.Meta(description="Settings of the tool's package, by name; secret ones are stored encrypted."),
    ] = msgspec.field(default_factory=dict)
    scope: Annotated[InstallScope, msgspec.Meta(description="tenant: every member; user: only you (the default).")] = (
        InstallScope.USER
    )


class InstallationChanges(Input, frozen=True, forbid_unknown_fields=True):
    config: Annotated[
        dict[str, Any],
        msgspec.Meta(description="The new settings. Secret settings left out keep their stored values."),
    ]


class ToolCall(Input, frozen=True, forbid_unknown_fields=True):
    name: Annotated[Line, msgspec.Meta(min_length=1, max_length=200, examples=["get_current_time"])]
    arguments: Annotated[dict[str, Any], msgspec.Meta(examples=[{"timezone": "UTC"}])] = msgspec.field(
        default_factory=dict
    )
    timeout: Annotated[float, msgspec.Meta(gt=0, le=300, description="Seconds (default 30).")] | None = None


class Upload(msgspec.Struct, frozen=True):
    name: str
    data: bytes


def _manages(actor: Principal) -> bool:
    return actor.role in _MANAGERS or actor.is_platform_admin


def _may_change(actor: Principal, installation: Installation) -> None:
    if installation.user_id != actor.user_id and not _manages(actor):
        raise Forbidden("only its installer or a tenant owner or admin may change this installation", code="not_yours")


async def visible(uow: UnitOfWorkFactory, actor: Principal, installation_id: str) -> Installation:
    """The installation if the actor may see it; another tenant's, or another user's private one, is 404."""
    async with uow(read_only=True) as u:
        installation = await u.installations.get(actor.tenant_id, installation_id)
    if installation is None or not installation.visible_to(actor.tenant_id, actor.user_id):
        raise NotFound("no such installation", code="installation_not_found")
    return installation


def _seal(box: SecretBox, installation: Installation, secrets: dict[str, str]) -> str | None:
    if not secrets:
        return None
    return box.seal(json.dumps(secrets).encode(), context=secret_context(installation))


@dataclass(frozen=True, slots=True)
class InstallTool:
    """Install a marketplace tool, for the caller (scope ``user``) or for the whole tenant (``tenant``: owners
    and admins). Answers at once with status ``installing``; the server starts in the background and the
    installation moves to ``ready`` (its tools recorded), ``failed`` (with the reason) or ``needs_auth``. Secret
    settings are stored encrypted and never shown again."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    uow: UnitOfWorkFactory
    entitlements: Entitlements
    secret_box: SecretBox
    servers: InstallationServers
    ids: IdFactory
    clock: Clock
    revoker: Revoker

    async def __call__(self, actor: Principal, tool_id: str, request: InstallRequest) -> InstallationView:
        actor.require(self.scope)
        if request.scope is InstallScope.TENANT and not _manages(actor):
            raise Forbidden("only tenant owners and admins install for the whole tenant", code="not_a_manager")
        entry = await catalog_entry(self.uow, tool_id)
        if entry.package is None:
            raise ValidationFailed(f"{entry.name} has no stdio package this platform runs", code="not_installable")
        if entry.oauth_provider is not None and request.scope is not InstallScope.USER:
            raise ValidationFailed(
                f"{entry.name} acts with each user's own account: install it with scope user", code="per_user_tool"
            )
        plain, secrets = validate_config(entry, request.config)
        entitlement = await self.entitlements.of(actor.tenant_id)
        now = self.clock.now()
        installation = Installation(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            scope=request.scope,
            entry_id=entry.id,
            entry_version=entry.version,
            config=plain,
            sealed_secrets=None,
            secret_names=tuple(sorted(secrets)),
            status=InstallationStatus.INSTALLING,
            status_reason=None,
            tools=(),
            workload_id=None,
            created_at=now,
            updated_at=now,
        )
        installation = msgspec.structs.replace(
            installation, sealed_secrets=_seal(self.secret_box, installation, secrets)
        )
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)  # the count below holds until commit
            entitlement.allow("installations", await uow.installations.count(actor.tenant_id))
            await uow.installations.add(installation)
            await self.revoker.publish(uow, installations_tag(actor.tenant_id))
            await uow.commit()
        self.revoker.evict(installations_tag(actor.tenant_id))
        self.servers.install(installation.id)
        return InstallationView.of(installation)


@dataclass(frozen=True, slots=True)
class ListInstallations:
    """The tenant's installed tool servers and the caller's own, newest first, with their status."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory
    clock: Clock
    cache: TaggedCache[Listed]

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[InstallationView]:
        actor.require(self.scope)
        key = f"{actor.tenant_id} {actor.user_id} {page.limit} {page.offset}"
        now = self.clock.monotonic()

        async def list_visible() -> Fresh[Listed]:
            async with self.uow(read_only=True) as uow:
                listed = await uow.installations.list_visible(actor.tenant_id, actor.user_id, page)
            return listed, now + LIST_CACHE_SECONDS, (installations_tag(actor.tenant_id),)

        return page.answer(await self.cache.fetch(key, now, list_visible), InstallationView.of)


@dataclass(frozen=True, slots=True)
class GetInstallation:
    """One installation, with its status."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, installation_id: str) -> InstallationView:
        actor.require(self.scope)
        return InstallationView.of(await visible(self.uow, actor, installation_id))


@dataclass(frozen=True, slots=True)
class UpdateInstallation:
    """New settings for an installation, checked as on install; the server restarts with them (status
    ``installing`` until it is ready again)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    uow: UnitOfWorkFactory
    secret_box: SecretBox
    servers: InstallationServers
    clock: Clock
    revoker: Revoker

    async def __call__(self, actor: Principal, installation_id: str, changes: InstallationChanges) -> InstallationView:
        actor.require(self.scope)
        installation = await visible(self.uow, actor, installation_id)
        _may_change(actor, installation)
        async with self.uow(read_only=True) as uow:
            entry = await uow.catalog.get(installation.entry_id)
        if entry is None:
            raise Conflict(f"the catalog no longer lists {installation.entry_id}", code="tool_not_in_catalog")
        kept: dict[str, Any] = {}
        if installation.sealed_secrets is not None:
            opened = self.secret_box.open(installation.sealed_secrets, context=secret_context(installation))
            kept = {k: v for k, v in json.loads(opened).items() if k not in changes.config}
        plain, secrets = validate_config(entry, {**kept, **changes.config})
        updated = msgspec.structs.replace(
            installation,
            entry_version=entry.version,
            config=plain,
            sealed_secrets=_seal(self.secret_box, installation, secrets),
            secret_names=tuple(sorted(secrets)),
            status=InstallationStatus.INSTALLING,
            status_reason=None,
            updated_at=self.clock.now(),
        )
        async with self.uow() as uow:
            if not await uow.installations.update(updated):
                raise NotFound("no such installation", code="installation_not_found")
            await self.revoker.publish(uow, installations_tag(actor.tenant_id))
            await uow.commit()
        self.revoker.evict(installations_tag(actor.tenant_id))
        self.servers.install(installation.id)
        return InstallationView.of(updated)


@dataclass(frozen=True, slots=True)
class RemoveInstallation:
    """Stop and remove an installed server's container or process, its stored secrets and its workspace."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    uow: UnitOfWorkFactory
    servers: InstallationServers
    workspaces: Workspaces
    revoker: Revoker

    async def __call__(self, actor: Principal, installation_id: str) -> None:
        actor.require(self.scope)
        installation = await visible(self.uow, actor, installation_id)
        _may_change(actor, installation)
        async with self.uow() as uow:
            deleted = await uow.installations.delete(actor.tenant_id, installation_id)
            await self.revoker.publish(uow, installations_tag(actor.tenant_id))
            await uow.commit()
        self.revoker.evict(installations_tag(actor.tenant_id))
        if not deleted:
            raise NotFound("no such installation", code="installation_not_found")
        await self.servers.stop(installation_id, removed=True)
        await self.workspaces.remove(installation_id)


@dataclass(frozen=True, slots=True)
class ListInstallationTools:
    """The tools an installed server reported."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, installation_id: str) -> InstallationToolsView:
        actor.require(self.scope)
        installation = await visible(self.uow, actor, installation_id)
        return InstallationToolsView(
            installation_id=installation.id,
            status=installation.status,
            tools=[ToolView.of(t) for t in installation.tools],
        )


_CALLABLE = frozenset({InstallationStatus.READY, InstallationStatus.STOPPED, InstallationStatus.NEEDS_AUTH})
"""A stopped server starts again on the call; one waiting for its user's account retries (and answers
422 ``needs_auth`` while the account is still not linked)."""


@dataclass(frozen=True, slots=True)
class CallInstallationTool:
    """Call a tool of an installed server. A timeout answers ``tool_call_timeout``; a server that crashed
    answers ``tool_server_crashed`` and is started again by the next call. ``arguments`` nested deeper than 32
    levels are refused (``arguments_too_deep``), as are more than 10,000 items in all or more than 256 KiB as
    JSON (``arguments_too_large``): the server never sees them."""

    # Proxied to the installed server over its pooled MCP session.

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    uow: UnitOfWorkFactory
    servers: InstallationServers

    async def __call__(self, actor: Principal, installation_id: str, call: ToolCall) -> ToolCallView:
        actor.require(self.scope)
        check_json(call.arguments)  # before anything reaches a tool server
        installation = self.servers.ready(installation_id)
        if installation is None or not installation.visible_to(actor.tenant_id, actor.user_id):
            installation = await visible(self.uow, actor, installation_id)
        if installation.status not in _CALLABLE:
            reason = f": {installation.status_reason}" if installation.status_reason else ""
            raise Conflict(
                f"the installation is {installation.status.value}{reason}",
                code=f"installation_{installation.status.value}",
            )
        if installation.tools and call.name not in {t.name for t in installation.tools}:
            raise NotFound(f"the installation has no tool {call.name!r}", code="tool_not_found")
        started = time.perf_counter()
        result = await self.servers.call(installation, call.name, call.arguments, call.timeout)
        elapsed = round((time.perf_counter() - started) * 1000, 3)
        return ToolCallView(
            installation_id=installation.id,
            tool=call.name,
            is_error=result.is_error,
            content=result.content,
            structured_content=result.structured_content,
            duration_ms=elapsed,
        )


@dataclass(frozen=True, slots=True)
class UploadInstallationFiles:
    """Put files into an installation's workspace, which its server sees at /workspace in a container (its
    working directory for Python servers). Names are reduced to safe base names; 10 MiB per file, 100 MiB in all
    by default. Only its installer or a tenant owner or admin may upload (``not_yours``), as only they may
    change or remove it."""

    # Uploading changes what the server runs on: only whoever may change the installation may upload.

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE

    uow: UnitOfWorkFactory
    workspaces: Workspaces
    max_file: int
    max_total: int

    async def __call__(self, actor: Principal, installation_id: str, files: list[Upload]) -> UploadView:
        actor.require(self.scope)
        installation = await visible(self.uow, actor, installation_id)
        _may_change(actor, installation)
        if not files:
            raise ValidationFailed("no file in the upload (send multipart/form-data)", code="no_files")
        names = [safe_file_name(f.name) for f in files]
        for upload, name in zip(files, names, strict=True):
            if len(upload.data) > self.max_file:
                raise ValidationFailed(f"{name}: larger than {self.max_file} bytes", code="file_too_large")
        stored = [
            await self.workspaces.save(installation.id, name, upload.data, max_total=self.max_total)
            for upload, name in zip(files, names, strict=True)
        ]
        return UploadView(installation_id=installation.id, files=[{"name": s.name, "size": s.size} for s in stored])


@dataclass(frozen=True, slots=True)
class Installations:
    """/api/installations, and installing: POST /api/marketplace/tools/{id}/install."""

    install: InstallTool
    list: ListInstallations
    get: GetInstallation
    update: UpdateInstallation
    remove: RemoveInstallation
    list_tools: ListInstallationTools
    call_tool: CallInstallationTool
    upload_files: UploadInstallationFiles


def installations(
    p: Ports,
    *,
    servers: InstallationServers,
    revoker: Revoker,
    lists: TaggedCache[Listed],
    max_file: int,
    max_total: int,
) -> Installations:
    return Installations(
        install=InstallTool(p.uow, p.entitlements, p.secret_box, servers, p.ids, p.clock, revoker),
        list=ListInstallations(p.uow, p.clock, lists),
        get=GetInstallation(p.uow),
        update=UpdateInstallation(p.uow, p.secret_box, servers, p.clock, revoker),
        remove=RemoveInstallation(p.uow, servers, p.workspaces, revoker),
        list_tools=ListInstallationTools(p.uow),
        call_tool=CallInstallationTool(p.uow, servers),
        upload_files=UploadInstallationFiles(p.uow, p.workspaces, max_file, max_total),
    )
