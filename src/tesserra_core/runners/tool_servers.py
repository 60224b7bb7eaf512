"""Running installed tool servers: one workload and one pooled MCP session per installation.

``ToolServers`` is the only thing that starts, reaches or stops an installation's workload, so the
rules live in one place:

- an install runs in the background: the workload is created (owner ``installation:<id>``), an MCP
  session is opened over its stdio, the tool list is recorded, and the status moves to ``ready``
  (or ``failed`` with the reason, or ``needs_auth``);
- calls share the installation's one session (MCP multiplexes requests); a missing or crashed
  server is started again by the next call, once, however many calls wait for it;
- removing an installation cancels whatever is starting for it and removes its workloads; a start
  that loses a race with a removal sees the removal and cleans up after itself;
- the reconciler (``reconcile``) removes workloads nobody owns and marks installations whose
  workload vanished ``stopped`` (they start again on next use).

A user-scoped installation is visible to its installer only, so its session never serves another
user. Entries that need a user's OAuth account wait in ``needs_auth`` (see ``LinkedAccounts``).

This module keeps the rules; ``tool_server_start.py`` starts one server and
``tool_server_reconcile.py`` reconciles the workloads with the installations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from tesserra_core.domain.tools import OWNER_PREFIX, Installation, InstallationStatus, installation_of
from tesserra_core.errors import Conflict, NotFound, TesserraError, Unavailable, Unprocessable
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.system import Clock
from tesserra_core.ports.telemetry import NoTelemetry, Telemetry
from tesserra_core.ports.tools import (
    LinkedAccounts,
    PackageResolver,
    ToolCallResult,
    ToolConnector,
    ToolSession,
    Workspaces,
)
from tesserra_core.ports.tracing import NoTracer, Tracer
from tesserra_core.runners.tool_server_reconcile import ReconcileInstallations
from tesserra_core.runners.tool_server_start import LiveServer, NeedsAuth, start_server
from tesserra_core.usecases.credentials import Revoker
from tesserra_core.usecases.installations import installations_tag

log = logging.getLogger("tesserra.tools")


@dataclass(frozen=True, slots=True)
class ToolLimits:
    call_timeout: float = 30.0
    """Seconds a tool call may take unless the caller asks for less (or more, up to ``max_call_timeout``)."""
    max_call_timeout: float = 300.0
    start_timeout: float = 60.0
    """Seconds for a started server to complete the MCP handshake."""
    memory_bytes: int | None = 512 * 1024 * 1024
    cpus: float | None = 1.0
    upload_max_file: int = 10 * 1024 * 1024
    upload_max_total: int = 100 * 1024 * 1024
    reconcile_every: float = 60.0


class _TokenSource(Protocol):
    async def for_user(self, tenant_id: str, user_id: str, tool_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class SharedToolAccounts:
    """Linked accounts through shared-tools OAuth: a catalog entry's ``oauth_provider`` names the
    shared tool whose per-user token its server runs with (refreshed when nearly expired)."""

    tokens: _TokenSource

    async def access_token(self, tenant_id: str, user_id: str, provider: str) -> str | None:
        try:
            return await self.tokens.for_user(tenant_id, user_id, provider)
        except (Conflict, NotFound):  # not linked, to be linked again, or no such shared tool
            return None


@dataclass
class ToolServers:
    uow: UnitOfWorkFactory
    runtime: ContainerRuntime
    connector: ToolConnector
    resolver: PackageResolver
    secret_box: SecretBox
    workspaces: Workspaces
    linked: LinkedAccounts
    clock: Clock
    revoker: Revoker
    """Each recorded status drops the tenant's cached installation lists (``installations_tag``)."""
    limits: ToolLimits = field(default_factory=ToolLimits)
    telemetry: Telemetry = field(default_factory=NoTelemetry)
    tracer: Tracer = field(default_factory=NoTracer)
    _live: dict[str, LiveServer] = field(default_factory=dict)
    _starting: dict[str, asyncio.Task[LiveServer]] = field(default_factory=dict)
    _installs: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _removed: set[str] = field(default_factory=set)
    _started_as: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """What each live server was started with (``_settings``): another node may change it since."""

    # -- install (background) ------------------------------------------------------------------

    def install(self, installation_id: str) -> None:
        """Start the installation's server in the background (replacing any install in flight)."""
        previous = self._installs.pop(installation_id, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._install(installation_id, previous), name=f"install {installation_id}")
        self._installs[installation_id] = task
        task.add_done_callback(
            lambda t: self._installs.pop(installation_id, None) if self._installs.get(installation_id) is t else None
        )

    async def _install(self, installation_id: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            with contextlib.suppress(BaseException):
                await previous
        try:
            await self._discard(installation_id)
            installation = await self._find(installation_id)
            if installation is None:
                return
            live = await self._started(installation)
        except NeedsAuth:
            await self._record(installation_id, InstallationStatus.NEEDS_AUTH, "link your account to use this tool")
        except NotFound:
            return
        except TesserraError as exc:
            await self._record(installation_id, InstallationStatus.FAILED, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("installation %s failed to start: %s", installation_id, type(exc).__name__)
            await self._record(
                installation_id, InstallationStatus.FAILED, f"the server did not start ({type(exc).__name__})"
            )
        else:
            await self._record(installation_id, InstallationStatus.READY, None, live)

    # -- sessions and calls --------------------------------------------------------------------

    async def session(self, installation: Installation) -> ToolSession:
        """The installation's live session; started (once, for every waiter) if missing or dead."""
        live = self._live.get(installation.id)
        if (
            live is not None
            and not live.session.closed
            and self._started_as.get(installation.id) == _settings(installation)
        ):
            return live.session
        if installation.id in self._removed:
            raise NotFound("no such installation", code="installation_not_found")
        task = self._starting.get(installation.id)
        if task is None:
            task = asyncio.create_task(self._restart(installation), name=f"start {installation.id}")
            self._starting[installation.id] = task
            task.add_done_callback(
                lambda t: (
                    self._starting.pop(installation.id, None) if self._starting.get(installation.id) is t else None
                )
            )
        # A cancelled caller must not cancel a start other callers wait for.
        return (await asyncio.shield(task)).session

    async def _restart(self, installation: Installation) -> LiveServer:
        await self._discard(installation.id)
        try:
            live = await self._started(installation)
        except NeedsAuth:
            await self._record(installation.id, InstallationStatus.NEEDS_AUTH, "link your account to use this tool")
            raise Unprocessable("link your account to use this tool", code="needs_auth") from None
        except TesserraError as exc:
            if not isinstance(exc, NotFound):
                await self._record(installation.id, InstallationStatus.FAILED, exc.message)
            raise
        except Exception as exc:
            reason = f"the server did not start ({type(exc).__name__})"
            await self._record(installation.id, InstallationStatus.FAILED, reason)
            raise Unavailable(reason, code="tool_server_unavailable") from exc
        await self._record(installation.id, InstallationStatus.READY, None, live)
        return live

    async def call(
        self, installation: Installation, name: str, arguments: dict[str, Any], time_limit: float | None
    ) -> ToolCallResult:
        """The call's result; its time and outcome are reported per tool server (the catalog entry), in
        a span of its own when tracing is on (the tool's name and server, never its arguments)."""
        started = self.clock.monotonic()
        error: str | None = "internal"
        try:
            if self.tracer.enabled:
                attributes = {"tesserra.tool_server": installation.entry_id, "tesserra.tool": name}
                with self.tracer.span("tool_server.call", attributes):
                    result = await self._call(installation, name, arguments, time_limit)
            else:
                result = await self._call(installation, name, arguments, time_limit)
            error = None
            return result
        except TesserraError as exc:
            error = exc.code
            raise
        finally:
            self.telemetry.tool_call(installation.entry_id, self.clock.monotonic() - started, error)

    async def _call(
        self, installation: Installation, name: str, arguments: dict[str, Any], time_limit: float | None
    ) -> ToolCallResult:
        limit = min(time_limit or self.limits.call_timeout, self.limits.max_call_timeout)
        session = await self.session(installation)
        try:
            return await session.call_tool(name, arguments, seconds=limit)
        except Unavailable as exc:
            if exc.code != "tool_server_gone":
                raise
            await self._lost(installation.id, session, "the tool server exited; it starts again on next use")
            raise Unavailable(
                "the tool server crashed during the call; it starts again on next use", code="tool_server_crashed"
            ) from None

    async def _lost(self, installation_id: str, session: ToolSession, reason: str) -> None:
        live = self._live.get(installation_id)
        if live is not None and live.session is session:
            self._live.pop(installation_id, None)
            await self._close(live)
            await self._record(installation_id, InstallationStatus.STOPPED, reason)

    # -- stopping ------------------------------------------------------------------------------

    async def stop(self, installation_id: str, *, removed: bool = False) -> None:
        """Cancel what is starting, close the session and remove every workload of the installation."""
        if removed:
            self._removed.add(installation_id)
        for tasks in (self._installs, self._starting):
            task = tasks.pop(installation_id, None)
            if task is not None and task is not asyncio.current_task():  # a start may find its own removal
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        await self._discard(installation_id)

    async def mark(self, installation_id: str, status: InstallationStatus, reason: str | None) -> None:
        await self._record(installation_id, status, reason)

    async def forget(self, installation_id: str) -> None:
        """Drop the session (after its workload was stopped or restarted from outside)."""
        live = self._live.pop(installation_id, None)
        if live is not None:
            await live.session.aclose()

    async def _discard(self, installation_id: str) -> None:
        live = self._live.pop(installation_id, None)
        if live is not None:
            await self._close(live)
        for workload_id, workload in (await self.runtime.statuses(f"{OWNER_PREFIX}{installation_id}")).items():
            if installation_of(workload.owner) == installation_id:
                await self.runtime.remove(workload_id)

    async def _close(self, live: LiveServer) -> None:
        with contextlib.suppress(Exception):
            await live.session.aclose()
        await self.runtime.remove(live.workload_id)

    def ready(self, installation_id: str) -> Installation | None:
        """The installation, if this process holds a live session for it (no database read)."""
        live = self._live.get(installation_id)
        if live is None or live.session.closed:
            return None
        return live.installation

    def evict(self, tag: str) -> None:
        """A revocation of a tenant's installations (``installations_tag``), from this process or,
        through the revocation feed, from another node that changed or removed one: their next calls
        here authorize against the database again instead of the installation cached with the session."""
        for live in self._live.values():
            if live.installation is not None and installations_tag(live.installation.tenant_id) == tag:
                live.installation = None

    def busy(self, installation_id: str) -> bool:
        return installation_id in self._starting or installation_id in self._installs

    def serves(self, workload_id: str) -> bool:
        return any(live.workload_id == workload_id for live in self._live.values())

    async def close(self) -> None:
        """At shutdown: cancel starts and installs, close every session, remove their workloads."""
        tasks = [*self._installs.values(), *self._starting.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        lives, self._live = list(self._live.values()), {}
        for live in lives:
            with contextlib.suppress(Exception):
                await self._close(live)

    # -- starting one server -------------------------------------------------------------------

    async def _started(self, installation: Installation) -> LiveServer:
        live = await start_server(self, installation)
        self._live[installation.id] = live
        self._started_as[installation.id] = _settings(installation)
        return live

    async def wanted(self, installation_id: str) -> bool:
        """The installation exists and was not removed through this process."""
        return installation_id not in self._removed and await self._find(installation_id) is not None

    async def _find(self, installation_id: str) -> Installation | None:
        async with self.uow(read_only=True) as uow:
            return await uow.installations.find(installation_id)

    async def _record(
        self, installation_id: str, status: InstallationStatus, reason: str | None, live: LiveServer | None = None
    ) -> None:
        """Store the outcome; if the installation was removed meanwhile, remove what was started."""
        async with self.uow() as uow:
            current = await uow.installations.find(installation_id)
            updated = None
            if current is not None:
                updated = msgspec.structs.replace(
                    current,
                    status=status,
                    status_reason=reason,
                    tools=tuple(live.tools) if live is not None else current.tools,
                    workload_id=live.workload_id if live is not None else None,
                    updated_at=self.clock.now(),
                )
                await uow.installations.update(updated)
                await self.revoker.publish(uow, installations_tag(current.tenant_id))
                await uow.commit()
                self.revoker.evict(installations_tag(current.tenant_id))
            if live is not None and status is InstallationStatus.READY:
                live.installation = updated
        if updated is None and live is not None:
            await self.stop(installation_id, removed=True)

    # -- reconciling ---------------------------------------------------------------------------

    async def reconcile(self, *, full: bool = True) -> tuple[int, int]:
        """Remove strays and mark vanished servers ``stopped`` (``ReconcileInstallations`` says how)."""
        return await ReconcileInstallations(self.uow, self.runtime, self)(full=full)

    def removing(self, installation_id: str) -> bool:
        return installation_id in self._removed

    def holds(self, installation_id: str) -> bool:
        return installation_id in self._live

    def serving(self, installation_id: str) -> bool:
        return installation_id in self._live and not self._live[installation_id].session.closed

    @contextlib.asynccontextmanager
    async def running(self, *, reconcile: bool = True) -> AsyncIterator[None]:
        """Reconcile now and then every ``reconcile_every`` seconds; close everything at the end.
        Without ``reconcile`` (a process sharing the store with a server, whose workloads are its
        own to keep) it only closes, at the end, the servers this process started."""
        if not reconcile:
            try:
                yield
            finally:
                await self.close()
            return
        await self._reconcile_logged(full=True)

        async def loop() -> None:
            while True:
                await asyncio.sleep(self.limits.reconcile_every)
                await self._reconcile_logged(full=False)

        task = asyncio.create_task(loop(), name="reconcile installations")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            await self.close()

    async def _reconcile_logged(self, *, full: bool) -> None:
        try:
            removed, marked = await self.reconcile(full=full)
        except Exception:
            log.exception("reconciling installations failed")
            return
        if removed or marked:
            log.info("reconciled installations: %d stray workloads removed, %d installations stopped", removed, marked)


def _settings(installation: Installation) -> tuple[object, ...]:
    """What a server runs with: a live server started with other settings (changed through another
    node, which the revocation feed tells this one) is started again on its next call here."""
    return (installation.entry_version, installation.config, installation.sealed_secrets)
