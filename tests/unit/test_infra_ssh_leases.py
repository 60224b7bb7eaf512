"""Infra SSH approval leases on the in-memory adapters: who may approve (another key AND another person,
two on prod, never over MCP), scope escalation, the clock starting at approval, uses counted under concurrency,
revocation and expiry ending the lease (and the runs under it), one audit record per lease event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh import HostTier, Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditRecord, Via
from tesserra_core.domain.infra_ssh_leases import LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_lease_views import LeaseView, NewLease
from tesserra_core.usecases.infra_ssh_views import NewRun, RunState, RunView
from tests.unit.helpers import FakeClock
from tests.unit.infra_ssh_support import operator, operator_keys, simulated_host

PAGE = PageRequest(100, 0)


KEYS: dict[str, str] = {}
"""Each operator's key by credential id, to act with the same key for another person."""


async def _team(uc: UseCases, count: int = 3) -> list[Principal]:
    """Operators of one tenant: key i acting for person i."""
    keys = await operator_keys(uc, count)
    team = [await uc.authenticate(key, f"person{i}@example.com") for i, key in enumerate(keys)]
    KEYS.update({actor.credential_id: key for actor, key in zip(team, keys, strict=True)})
    return team


async def _as(uc: UseCases, key_of: Principal, person_of: Principal) -> Principal:
    """``key_of``'s key acting for ``person_of``'s person."""
    return await uc.authenticate(KEYS[key_of.credential_id], person_of.acting_user_id)


async def _lease_events(uc: UseCases, actor: Principal, lease_id: str) -> list[AuditRecord]:
    records = (await uc.infra_ssh.query_audit(actor, AuditQuery(lease_id=lease_id), PAGE)).items
    return sorted(records, key=lambda r: r.seq)


async def _touch(uc: UseCases, actor: Principal, host_id: str, lease_id: str | None = None) -> RunView:
    cmd = NewRun(host_id=host_id, action="touch_file", parameters={"path": "/tmp/marker"}, lease_id=lease_id)
    return await uc.infra_ssh.run_action(actor, cmd)


async def _until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


def _ask(host_id: str, **more: object) -> NewLease:
    fields: dict[str, object] = {"host_ids": [host_id], "actions": ["touch_file"], "reason": "deploy"} | more
    return NewLease(**fields)  # type: ignore[arg-type]


async def test_a_lease_is_approved_by_another_key_and_another_person_and_then_covers_runs(uc: UseCases) -> None:
    asker, other, third = await _team(uc)
    host, fake_host = await simulated_host(uc, asker)
    with pytest.raises(Forbidden) as before:
        await _touch(uc, asker, host.id)
    assert before.value.code == "approval_required"
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id, max_uses=2))
    assert lease.state is LeaseState.PENDING
    assert lease.starts_at is None
    assert lease.approvers_required == 1
    same_person_other_key = await _as(uc, other, asker)
    same_key_other_person = await _as(uc, asker, other)
    for refused in (asker, same_person_other_key, same_key_other_person):
        with pytest.raises(Forbidden) as self_approval:
            await uc.infra_ssh.approve_lease(refused, lease.id)
        assert self_approval.value.code == "denied"
    with pytest.raises(Forbidden):
        await _touch(uc, asker, host.id)
    approved = await uc.infra_ssh.approve_lease(other, lease.id)
    assert approved.state is LeaseState.ACTIVE
    assert approved.starts_at is not None
    assert approved.ends_at is not None
    assert (approved.ends_at - approved.starts_at).total_seconds() == lease.duration_seconds
    with pytest.raises(Conflict) as again:
        await uc.infra_ssh.approve_lease(third, lease.id)
    assert again.value.code == "lease_not_pending"
    with pytest.raises(Forbidden) as not_theirs:  # a lease covers the runs of the person who asked, only
        await _touch(uc, other, host.id)
    assert not_theirs.value.code == "approval_required"
    run = await _touch(uc, asker, host.id)
    assert run.state is RunState.SUCCEEDED
    assert run.lease_id == lease.id
    assert "/tmp/marker" in fake_host.files
    await _touch(uc, asker, host.id, lease.id)
    with pytest.raises(Forbidden) as spent:
        await _touch(uc, asker, host.id)
    assert spent.value.code == "approval_required"
    assert (await uc.infra_ssh.get_lease(asker, lease.id)).uses == 2
    events = [(r.event, r.outcome) for r in await _lease_events(uc, asker, lease.id)]
    assert events == [
        (AuditEvent.LEASE_REQUESTED, Outcome.OK),
        (AuditEvent.LEASE_APPROVED, Outcome.DENIED),
        (AuditEvent.LEASE_APPROVED, Outcome.DENIED),
        (AuditEvent.LEASE_APPROVED, Outcome.DENIED),
        (AuditEvent.LEASE_APPROVED, Outcome.OK),
        (AuditEvent.LEASE_APPROVED, Outcome.DENIED),
        (AuditEvent.RUN, Outcome.OK),
        (AuditEvent.RUN, Outcome.OK),
    ]
    assert (await uc.infra_ssh.verify_audit(asker)).ok


async def test_a_prod_lease_needs_two_different_approvers(uc: UseCases) -> None:
    asker, first, second = await _team(uc)
    host, _ = await simulated_host(uc, asker, tier=HostTier.PROD)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id))
    assert lease.approvers_required == 2
    half = await uc.infra_ssh.approve_lease(first, lease.id)
    assert half.state is LeaseState.PENDING
    assert len(half.approvals) == 1
    with pytest.raises(Forbidden):
        await _touch(uc, asker, host.id)
    for repeated in (first, await _as(uc, first, second), await _as(uc, second, first)):
        with pytest.raises(Forbidden) as twice:
            await uc.infra_ssh.approve_lease(repeated, lease.id)
        assert twice.value.code == "denied"
    assert (await uc.infra_ssh.approve_lease(second, lease.id)).state is LeaseState.ACTIVE
    assert (await _touch(uc, asker, host.id)).state is RunState.SUCCEEDED


async def test_a_lease_never_widens_what_a_host_allows(uc: UseCases) -> None:
    asker, approver, _ = await _team(uc)
    host, _ = await simulated_host(uc, asker, actions=["touch_file"], forwards=["127.0.0.1:7"], max_lease_seconds=900)
    narrow, _ = await simulated_host(uc, asker, name="narrow", actions=["uptime"])
    refusals = [
        (_ask(host.id, actions=["touch_file", "restart_service"]), Forbidden, "denied"),
        (_ask(narrow.id), Forbidden, "denied"),
        (_ask(host.id, forwards=["127.0.0.1:22"]), Forbidden, "denied"),
        (_ask(host.id, duration_seconds=901), ValidationFailed, "validation_failed"),
        (_ask(host.id, actions=["no_such_action"]), ValidationFailed, "validation_failed"),
        (_ask("01HNOSUCHHOST0000000000000"), NotFound, "host_not_found"),
    ]
    for ask, error, code in refusals:
        with pytest.raises(error) as refused:
            await uc.infra_ssh.request_lease(asker, ask)
        assert refused.value.code == code, ask
    other_tenant = await operator(uc, "elsewhere")
    with pytest.raises(NotFound):
        await uc.infra_ssh.request_lease(other_tenant, _ask(host.id))
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id, forwards=["127.0.0.1:7"]))
    with pytest.raises(NotFound):
        await uc.infra_ssh.get_lease(other_tenant, lease.id)
    with pytest.raises(NotFound):
        await uc.infra_ssh.approve_lease(other_tenant, lease.id)
    await uc.infra_ssh.approve_lease(approver, lease.id)
    with pytest.raises(Forbidden) as outside:  # a lease does not make the host allow more
        await uc.infra_ssh.run_action(
            asker, NewRun(host_id=host.id, action="restart_service", parameters={"name": "cron"})
        )
    assert outside.value.code == "denied"
    with pytest.raises(Forbidden) as other_host:  # nor cover a host it does not name
        await _touch(uc, asker, narrow.id)
    assert other_host.value.code == "denied"
    requested = [
        r for r in (await uc.infra_ssh.query_audit(asker, AuditQuery(), PAGE)).items if r.event == "lease_requested"
    ]
    assert len(requested) == len(refusals) + 1
    assert sorted(r.outcome for r in requested).count(Outcome.OK) == 1


async def test_leases_are_approved_over_rest_only(uc: UseCases) -> None:
    asker, approver, _ = await _team(uc)
    host, _ = await simulated_host(uc, asker)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id), Via.MCP)
    for decide in (uc.infra_ssh.approve_lease, uc.infra_ssh.deny_lease):
        with pytest.raises(Forbidden) as over_mcp:
            await decide(approver, lease.id, Via.MCP)
        assert over_mcp.value.code == "denied"
    assert (await uc.infra_ssh.get_lease(asker, lease.id)).state is LeaseState.PENDING
    denied = await uc.infra_ssh.deny_lease(approver, lease.id)
    assert denied.state is LeaseState.DENIED
    with pytest.raises(Conflict):
        await uc.infra_ssh.approve_lease(approver, lease.id)


async def test_the_clock_starts_at_approval_and_an_expired_or_revoked_lease_cannot_be_approved_or_used(
    uc: UseCases, clock: FakeClock
) -> None:
    asker, approver, _ = await _team(uc)
    host, _ = await simulated_host(uc, asker)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id, duration_seconds=300, max_uses=10))
    clock.advance(3600)  # waiting for approval does not eat the lease
    active = await uc.infra_ssh.approve_lease(approver, lease.id)
    assert active.starts_at == clock.now()
    await _touch(uc, asker, host.id)
    clock.advance(301)
    with pytest.raises(Forbidden) as expired:
        await _touch(uc, asker, host.id)
    assert expired.value.code == "approval_required"
    assert (await uc.infra_ssh.get_lease(asker, lease.id)).state is LeaseState.EXPIRED
    with pytest.raises(Conflict):
        await uc.infra_ssh.revoke_lease(asker, lease.id)
    revoked = await uc.infra_ssh.request_lease(asker, _ask(host.id))
    assert (await uc.infra_ssh.revoke_lease(asker, revoked.id, Via.MCP)).state is LeaseState.REVOKED
    with pytest.raises(Conflict) as not_pending:
        await uc.infra_ssh.approve_lease(approver, revoked.id)
    assert not_pending.value.code == "lease_not_pending"
    expiry = [r for r in await _lease_events(uc, asker, lease.id) if r.event == AuditEvent.LEASE_EXPIRED]
    assert len(expiry) == 1
    assert expiry[0].user_id == "server"


async def test_concurrent_runs_never_pass_max_uses(uc: UseCases) -> None:
    asker, approver, _ = await _team(uc)
    host, _ = await simulated_host(uc, asker)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id, max_uses=3))
    await uc.infra_ssh.approve_lease(approver, lease.id)
    outcomes = await asyncio.gather(*(_touch(uc, asker, host.id) for _ in range(12)), return_exceptions=True)
    ok = [o for o in outcomes if isinstance(o, RunView)]
    refused = [o for o in outcomes if isinstance(o, Forbidden) and o.code == "approval_required"]
    assert (len(ok), len(refused)) == (3, 9), outcomes
    assert (await uc.infra_ssh.get_lease(asker, lease.id)).uses == 3


async def test_revoking_a_lease_ends_the_runs_going_under_it(uc: UseCases) -> None:
    asker, approver, _ = await _team(uc)
    host, fake_host = await simulated_host(uc, asker)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id, actions=["hold_maintenance", "wait"]))
    await uc.infra_ssh.approve_lease(approver, lease.id)
    cmd = NewRun(host_id=host.id, action="hold_maintenance", parameters={"seconds": 300}, wait_seconds=0)
    running = await uc.infra_ssh.run_action(asker, cmd)
    assert running.state is RunState.RUNNING
    assert running.lease_id == lease.id
    await _until(lambda: bool(fake_host.processes("sleep 300")))
    started = time.monotonic()
    await uc.infra_ssh.revoke_lease(approver, lease.id)
    assert time.monotonic() - started < 2.0
    ended = await uc.infra_ssh.get_run(asker, running.id)
    assert ended.state is RunState.CANCELLED
    assert not fake_host.processes("sleep 300")
    run_record = (await uc.infra_ssh.query_audit(asker, AuditQuery(run_id=running.id), PAGE)).items[0]
    assert run_record.lease_id == lease.id
    assert "revocation" in run_record.detail
    with pytest.raises(Forbidden) as after:
        await uc.infra_ssh.run_action(asker, cmd)
    assert after.value.code == "approval_required"


def test_the_lease_view_hides_nothing_it_should_show() -> None:
    assert "tenant_id" not in LeaseView.__struct_fields__
