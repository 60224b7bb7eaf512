"""Runs of named actions: every attempt, allowed or refused, is exactly one audit record. An allowed run
answers within ``wait_seconds`` (at most 20) with its result, or as running, to poll and cancel. Runs in
flight live in this worker's ``RunBoard``; a finished run is also found through its audit record."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.infra_ssh import (
    Action,
    ActionCatalog,
    Host,
    Outcome,
    ParamValue,
    RemoteKind,
    credential_context,
    decide,
)
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditFilter, AuditRecord, Via
from tesserra_core.domain.infra_ssh_leases import Lease
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import (
    Forbidden,
    NotFound,
    RemoteFailed,
    SecretUnreadable,
    TesserraError,
    ValidationFailed,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.ssh import SshClient, SshCommand, SshResult, SshTarget, Stream
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail
from tesserra_core.usecases.infra_ssh_guard import action_of, argv_sha256, operator_of
from tesserra_core.usecases.infra_ssh_views import NewRun, OutputView, RunState, RunView

if TYPE_CHECKING:
    from tesserra_core.usecases.infra_ssh_certificates import LoginCertificates
    from tesserra_core.usecases.infra_ssh_leases import LeaseBook

KEEP_FINISHED = 1000
"""Finished runs this worker keeps with their output (older ones answer from the audit, without it)."""
CANCEL_GRACE = 15.0
LEASE_POLL_SECONDS = 0.5
"""How often a worker running under a lease reads the lease's state: a revocation (or expiry) written by
any worker ends the runs here within this, plus the cancellation itself."""
_AUDITED_TEXT = 256


def _audited(value: object) -> ParamValue:
    """A parameter as the audit keeps it when it was refused: printable, bounded."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text[:_AUDITED_TEXT].encode("unicode_escape").decode("ascii")


@dataclass
class _Slot:
    tenant_id: str
    view: RunView
    task: asyncio.Task[RunView] | None = None
    cancelled_by: str | None = None
    lease_id: str | None = None


@dataclass
class RunBoard:
    """This worker's runs: those in flight, and the last ``KEEP_FINISHED`` finished ones; and the timers
    that end runs (and leases) when their lease ends."""

    _slots: OrderedDict[str, _Slot] = field(default_factory=OrderedDict)
    _timers: set[asyncio.Task[None]] = field(default_factory=set)
    _guards: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def cancel(self, slot: _Slot, by: str) -> asyncio.Task[RunView] | None:
        """Cancel a run in flight (its remote process is ended); its task, if it was still going."""
        task = slot.task
        if task is None or task.done():
            return None
        if slot.cancelled_by is None:  # once: a second cancel would interrupt the run writing its record
            slot.cancelled_by = by
            task.cancel()
        return task

    async def cancel_lease(self, tenant_id: str, lease_id: str, by: str) -> None:
        """Cancel every run in flight under a lease, and wait (at most ``CANCEL_GRACE``) for them to end."""
        slots = [s for s in self._slots.values() if s.tenant_id == tenant_id and s.lease_id == lease_id]
        tasks = [t for t in (self.cancel(s, by) for s in slots) if t is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_GRACE)

    def runs_under(self, tenant_id: str, lease_id: str) -> bool:
        """Whether a run of this worker is still going under the lease."""
        return any(
            s.tenant_id == tenant_id and s.lease_id == lease_id and s.task is not None and not s.task.done()
            for s in self._slots.values()
        )

    def guard(
        self,
        lease_id: str,
        busy: Callable[[], bool],
        ended: Callable[[], Awaitable[str | None]],
        end: Callable[[str], Awaitable[None]],
    ) -> None:
        """While ``busy`` (this worker has work under the lease), ask ``ended`` every ``LEASE_POLL_SECONDS``
        whether the lease ended (and by whom); when it did, ``end`` that work. One guard per lease."""
        if lease_id in self._guards:
            return

        async def poll() -> None:
            try:
                while busy():
                    await asyncio.sleep(LEASE_POLL_SECONDS)
                    by = await ended()
                    if by is not None:
                        await end(by)
                        return
            finally:
                self._guards.pop(lease_id, None)

        guard = asyncio.create_task(poll(), name=f"ssh-lease-guard-{lease_id}")
        self._guards[lease_id] = guard
        self._timers.add(guard)
        guard.add_done_callback(self._timers.discard)

    def later(self, seconds: float, work: Callable[[], Awaitable[None]], name: str) -> None:
        """Run ``work`` in ``seconds`` (cancelled with the board)."""

        async def wait_then_work() -> None:
            await asyncio.sleep(max(0.0, seconds))
            await work()

        timer = asyncio.create_task(wait_then_work(), name=name)
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    def add(self, slot: _Slot) -> None:
        self._slots[slot.view.id] = slot

    def get(self, tenant_id: str, run_id: str) -> _Slot | None:
        slot = self._slots.get(run_id)
        return slot if slot is not None and slot.tenant_id == tenant_id else None

    def finish(self, run_id: str, view: RunView) -> None:
        slot = self._slots.get(run_id)
        if slot is not None:
            slot.view = view
        finished = [k for k, s in self._slots.items() if s.view.state is not RunState.RUNNING]
        for stale in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._slots[stale]

    async def aclose(self) -> None:
        """Cancel the runs in flight (their remote processes are ended, their records written)."""
        for timer in list(self._timers):
            timer.cancel()
        tasks = [s.task for s in self._slots.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=CANCEL_GRACE)


def _output(stream: Stream) -> OutputView:
    return OutputView(
        text=stream.head.decode("utf-8", errors="replace"),
        bytes=stream.size,
        sha256=stream.sha256,
        truncated=stream.truncated,
    )


@dataclass(frozen=True, slots=True)
class RunAction:
    """Run a named action on a host: the parameters are checked against the action's template (400
    validation_failed otherwise, and nothing reaches the host), the host must allow the action (403 denied),
    an action that needs a lease answers 403 approval_required (leases come next). Allowed, it runs as an
    argument vector with the host key pinned, its time limit enforced on the host. Answers within
    wait_seconds (default and most 20) with the result; a remote failure is 502 remote_failed with its kind
    (exit_nonzero, signal, timeout, unreachable, auth_failed, host_key_mismatch) and the run id; a run
    still going answers 202 with its id, to poll (get run) or cancel. Every attempt is one audit record."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    ssh: SshClient
    box: SecretBox
    catalog: ActionCatalog
    audit: AuditTrail
    board: RunBoard
    clock: Clock
    ids: IdFactory
    leases: LeaseBook
    certificates: LoginCertificates

    async def __call__(self, actor: Principal, cmd: NewRun, via: Via = Via.REST) -> RunView:
        user = operator_of(actor, self.scope)
        refused = dict(action=cmd.action, parameters={k: _audited(v) for k, v in cmd.parameters.items()})
        try:
            action = action_of(self.catalog, cmd.action)
        except ValidationFailed as exc:
            raise await self._refuse(actor, via, Outcome.VALIDATION_FAILED, exc, refused) from None
        async with self.uow(read_only=True) as uow:
            host = await uow.ssh_hosts.get(actor.tenant_id, cmd.host_id)
        if host is None:  # audited as denied; answered 404, like another tenant's host
            missing = NotFound("no such host", code="host_not_found")
            raise await self._refuse(actor, via, Outcome.DENIED, missing, refused, detail=f"no host {cmd.host_id!r}")
        refused |= dict(host_id=host.id, host_name=host.name)
        try:
            argv, checked = action.render(dict[str, object](cmd.parameters))
        except ValidationFailed as exc:
            raise await self._refuse(actor, via, Outcome.VALIDATION_FAILED, exc, refused) from None
        refused |= dict(parameters=checked, argv_sha256=argv_sha256(argv))
        decision = decide(host, action)
        lease = None
        if decision.outcome is Outcome.APPROVAL_REQUIRED:
            lease = await self.leases.take(actor, user, host, action, cmd.lease_id)
            if lease is None:
                named = f"lease {cmd.lease_id} does not cover it" if cmd.lease_id else "no active lease covers it"
                refusal = Forbidden(f"{decision.reason}: {named}", code=Outcome.APPROVAL_REQUIRED.value)
                raise await self._refuse(actor, via, Outcome.APPROVAL_REQUIRED, refusal, refused, lease_id=cmd.lease_id)
        elif decision.outcome is not Outcome.OK:
            refusal = Forbidden(decision.reason, code=decision.outcome.value)
            raise await self._refuse(actor, via, decision.outcome, refusal, refused)
        view = RunView(
            id=self.ids.new(),
            host_id=host.id,
            host_name=host.name,
            action=action.id,
            parameters=checked,
            argv=argv,
            state=RunState.RUNNING,
            outcome=None,
            remote_kind=None,
            exit_status=None,
            signal=None,
            stdout=None,
            stderr=None,
            duration_ms=None,
            started_at=self.clock.now(),
            finished_at=None,
            audit_id=None,
            lease_id=None if lease is None else lease.id,
        )
        slot = _Slot(actor.tenant_id, view, lease_id=view.lease_id)
        run = self._execute(actor, via, host, action, slot, lease)
        slot.task = asyncio.create_task(run, name=f"ssh-run-{view.id}")
        self.board.add(slot)
        if lease is not None:
            self.leases.watch(lease)
            self.leases.guard(lease)
        done, _ = await asyncio.wait({slot.task}, timeout=cmd.wait_seconds)
        if not done:
            return slot.view
        return raise_if_failed(slot.task.result())

    async def _refuse(
        self, actor: Principal, via: Via, outcome: Outcome, exc: TesserraError, fields: dict[str, Any], **more: Any
    ) -> TesserraError:
        more.setdefault("detail", exc.message)
        await self.audit.append(actor, via, AuditEvent.RUN, outcome, **fields, **more)
        return exc

    async def _execute(
        self, actor: Principal, via: Via, host: Host, action: Action, slot: _Slot, lease: Lease | None
    ) -> RunView:
        view = slot.view
        result: SshResult | None = None
        failure: RemoteFailed | None = None
        cancelled = False
        try:
            key = self.box.open(host.sealed_key, context=credential_context(host.tenant_id, host.id))
            target = SshTarget(address=host.address, port=host.port, login=host.login, host_key=host.host_key)
            command = SshCommand(
                argv=view.argv, time_limit_seconds=action.time_limit_seconds, output_cap_bytes=action.output_cap_bytes
            )
            if host.certificate_login:
                line = self.ssh.command_line(command)
                login = await self.certificates.for_run(host, lease, view.id, action.time_limit_seconds, line)
                result = await self.ssh.run(target, login.private_key, command, login.certificate)
            else:
                result = await self.ssh.run(target, key, command)
        except SecretUnreadable:
            failure = RemoteFailed("the host's login key cannot be opened", kind=RemoteKind.AUTH_FAILED.value)
        except RemoteFailed as exc:
            failure = exc
        except asyncio.CancelledError:
            cancelled = True
        finished = self._finished(view, result, failure, cancelled)
        detail = f"cancelled by {slot.cancelled_by or 'shutdown'}" if cancelled else failure.message if failure else ""
        record = await self._record(actor, via, host, finished, detail)
        finished = msgspec.structs.replace(finished, audit_id=record.id)
        self.board.finish(view.id, finished)
        return finished

    def _finished(
        self,
        view: RunView,
        result: SshResult | None,
        failure: RemoteFailed | None,
        cancelled: bool,
    ) -> RunView:
        now = self.clock.now()
        duration = int((now - view.started_at).total_seconds() * 1000)
        if cancelled:
            kind, state = RemoteKind.SIGNAL.value, RunState.CANCELLED
            return msgspec.structs.replace(
                view,
                state=state,
                outcome=Outcome.REMOTE_FAILED,
                remote_kind=kind,
                signal="TERM",
                duration_ms=duration,
                finished_at=now,
            )
        if result is None:
            assert failure is not None
            return msgspec.structs.replace(
                view,
                state=RunState.FAILED,
                outcome=Outcome.REMOTE_FAILED,
                remote_kind=failure.kind,
                duration_ms=duration,
                finished_at=now,
            )
        how = result.failure
        return msgspec.structs.replace(
            view,
            state=RunState.SUCCEEDED if how is None else RunState.FAILED,
            outcome=Outcome.OK if how is None else Outcome.REMOTE_FAILED,
            remote_kind=None if how is None else how.value,
            exit_status=result.exit_status,
            signal=result.signal,
            stdout=_output(result.stdout),
            stderr=_output(result.stderr),
            duration_ms=result.duration_ms,
            finished_at=now,
        )

    async def _record(self, actor: Principal, via: Via, host: Host, run: RunView, detail: str) -> AuditRecord:
        outputs = _output_fields("stdout", run.stdout) | _output_fields("stderr", run.stderr)
        return await self.audit.append(
            actor,
            via,
            AuditEvent.RUN,
            run.outcome or Outcome.REMOTE_FAILED,
            host_id=host.id,
            host_name=host.name,
            action=run.action,
            parameters=run.parameters,
            argv_sha256=argv_sha256(run.argv),
            remote_kind=run.remote_kind,
            exit_status=run.exit_status,
            signal=run.signal,
            duration_ms=run.duration_ms,
            run_id=run.id,
            lease_id=run.lease_id,
            detail=detail,
            **outputs,
        )


def _output_fields(name: str, output: OutputView | None) -> dict[str, Any]:
    if output is None:
        return {}
    return {f"{name}_sha256": output.sha256, f"{name}_bytes": output.bytes}


def raise_if_failed(view: RunView) -> RunView:
    """The view of a run that succeeded or is still going; RemoteFailed (502, with its kind) otherwise."""
    if view.outcome is Outcome.REMOTE_FAILED and view.state is not RunState.CANCELLED:
        kind = view.remote_kind or RemoteKind.EXIT_NONZERO.value
        raise RemoteFailed(_failure_message(view, kind), kind=kind, run_id=view.id)
    return view


def _failure_message(view: RunView, kind: str) -> str:
    if kind == RemoteKind.EXIT_NONZERO:
        return f"{view.action} on {view.host_name} exited with status {view.exit_status}"
    if kind == RemoteKind.SIGNAL:
        return f"{view.action} on {view.host_name} was ended by signal {view.signal}"
    if kind == RemoteKind.TIMEOUT:
        return f"{view.action} on {view.host_name} passed its time limit and was ended on the host"
    return f"{view.action} on {view.host_name} failed: {kind}"


def _from_record(record: AuditRecord, catalog: ActionCatalog) -> RunView:
    """A finished run as its audit record tells it (its output is not kept there, only sizes and hashes)."""
    action = catalog.get(record.action or "")
    argv: tuple[str, ...] = ()
    if action is not None:
        with contextlib.suppress(ValidationFailed):
            argv, _ = action.render(dict[str, object](record.parameters))

    def output(sha: str | None, size: int | None) -> OutputView | None:
        return None if sha is None or size is None else OutputView(text=None, bytes=size, sha256=sha, truncated=False)

    cancelled = record.detail.startswith("cancelled")
    ok = record.outcome is Outcome.OK
    return RunView(
        id=record.run_id or "",
        host_id=record.host_id or "",
        host_name=record.host_name or "",
        action=record.action or "",
        parameters=record.parameters,
        argv=argv,
        state=RunState.CANCELLED if cancelled else RunState.SUCCEEDED if ok else RunState.FAILED,
        outcome=record.outcome,
        remote_kind=record.remote_kind,
        exit_status=record.exit_status,
        signal=record.signal,
        stdout=output(record.stdout_sha256, record.stdout_bytes),
        stderr=output(record.stderr_sha256, record.stderr_bytes),
        duration_ms=record.duration_ms,
        started_at=record.at,
        finished_at=record.at,
        audit_id=record.id,
        lease_id=record.lease_id,
    )


@dataclass(frozen=True, slots=True)
class GetRun:
    """A run: running, or how it ended (succeeded, failed with its remote kind, cancelled), its exit status or
    signal, the head of its output with sizes and SHA-256, its duration and its audit record. A run of another
    tenant is a 404."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory
    board: RunBoard
    catalog: ActionCatalog

    async def __call__(self, actor: Principal, run_id: str) -> RunView:
        operator_of(actor, self.scope)
        slot = self.board.get(actor.tenant_id, run_id)
        if slot is not None:
            return slot.view
        async with self.uow(read_only=True) as uow:
            found, _ = await uow.ssh_audit.query(actor.tenant_id, AuditFilter(run_id=run_id), PageRequest(1, 0))
        if not found:
            raise NotFound("no such run", code="run_not_found")
        return _from_record(found[0], self.catalog)


@dataclass(frozen=True, slots=True)
class CancelRun:
    """Cancel a run in flight: its remote process is sent SIGTERM (and SIGKILL 2 s later) on the host; the run
    ends cancelled and its audit record says so. A finished run answers as it is."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    board: RunBoard

    async def __call__(self, actor: Principal, run_id: str) -> RunView:
        user = operator_of(actor, self.scope)
        slot = self.board.get(actor.tenant_id, run_id)
        if slot is None:
            raise NotFound("no such run in flight", code="run_not_found")
        task = self.board.cancel(slot, user)
        if task is not None:
            await asyncio.wait({task}, timeout=CANCEL_GRACE)
        return slot.view
