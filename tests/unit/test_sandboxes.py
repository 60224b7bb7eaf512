"""Sandbox use cases on the memory adapters, with a clock the test moves: create within the plan,
every action and its events, idempotent delete, tenant scoping, the reaper's clocks, and the
reconciler settling what a crash left behind."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.sandboxes import Cause, SandboxAction, SandboxState, owner_of
from tesserra_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    Unauthenticated,
    Unprocessable,
    ValidationFailed,
)
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadStatus
from tesserra_core.usecases.sandbox_reads import FRESH
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxChanges, SandboxView
from tests.unit.conftest import make_team
from tests.unit.helpers import FakeClock, Team

A = SandboxAction


def new(**fields: Any) -> NewSandbox:
    return msgspec.convert({"name": "box", "command": ["sleep", "60"], "ports": [8000], **fields}, NewSandbox)


async def workloads(uc: UseCases, sandbox_id: str) -> list[Any]:
    return await uc.ports.runtime.list(owner_of(sandbox_id))


async def test_create_runs_the_sandbox_and_records_its_events(uc: UseCases, team: Team) -> None:
    created = await uc.sandboxes.create(
        team.member, new(env=[{"name": "TOKEN", "value": "secret"}], idle_timeout_seconds=30)
    )
    assert created.state is SandboxState.RUNNING
    assert created.owner_id == team.member.user_id
    assert created.generation == 1
    assert [(e.previous, e.state, e.cause) for e in created.events] == [
        (None, SandboxState.CREATING, Cause.REQUEST),
        (SandboxState.CREATING, SandboxState.RUNNING, Cause.REQUEST),
    ]
    assert created.template.env_names == ["TOKEN"]
    assert "secret" not in msgspec.json.encode(created).decode()
    assert created.idle_expires_at is not None
    assert (created.expires_at - created.created_at).total_seconds() == 3600
    [workload] = await workloads(uc, created.id)
    assert workload.ports.keys() == {8000}
    assert (await uc.sandboxes.get(team.owner, created.id)) == created
    listed = await uc.sandboxes.list(team.owner, PageRequest())
    assert [s.id for s in listed.items] == [created.id]


async def test_every_action_moves_through_its_states_and_repeating_is_a_noop(uc: UseCases, team: Team) -> None:
    box = await uc.sandboxes.create(team.member, new())
    runtime = uc.ports.runtime

    async def act(action: SandboxAction) -> SandboxView:
        return await uc.sandboxes.action(team.member, box.id, action)

    paused = await act(A.PAUSE)
    assert paused.state is SandboxState.PAUSED
    assert [e.state for e in paused.events[-2:]] == [SandboxState.PAUSING, SandboxState.PAUSED]
    assert (await runtime.list(owner_of(box.id)))[0].paused
    again = await act(A.PAUSE)
    assert again.state is SandboxState.PAUSED
    assert len(again.events) == len(paused.events)
    with pytest.raises(Conflict) as caught:
        await act(A.KEEPALIVE)
    assert caught.value.code == "sandbox_paused"
    resumed = await act(A.RESUME)
    assert resumed.state is SandboxState.RUNNING
    assert resumed.generation == box.generation
    assert not (await runtime.list(owner_of(box.id)))[0].paused
    stopped = await act(A.STOP)
    assert stopped.state is SandboxState.STOPPED
    with pytest.raises(Conflict) as caught:
        await act(A.RESUME)
    assert caught.value.code == "sandbox_stopped"
    started = await act(A.START)
    assert started.state is SandboxState.RUNNING
    assert started.generation == box.generation + 1
    restarted = await act(A.RESTART)
    assert restarted.state is SandboxState.RUNNING
    assert restarted.generation == box.generation + 2
    assert len(await runtime.list(owner_of(box.id))) == 1
    kept = await act(A.KEEPALIVE)
    assert kept.state is SandboxState.RUNNING
    assert len(kept.events) == len(restarted.events)
    with pytest.raises(ValidationFailed):
        await uc.sandboxes.action(team.member, box.id, "explode")


async def test_delete_works_from_every_state_and_again(uc: UseCases, team: Team) -> None:
    box = await uc.sandboxes.create(team.member, new())
    await uc.sandboxes.action(team.member, box.id, A.PAUSE)
    deleted = await uc.sandboxes.delete(team.member, box.id)
    assert deleted.state is SandboxState.DELETED
    assert deleted.events[-1].previous is SandboxState.DELETING
    assert deleted.generation == box.generation + 1
    assert await workloads(uc, box.id) == []
    assert await uc.sandboxes.delete(team.owner, box.id) == deleted
    assert await uc.sandboxes.action(team.owner, box.id, A.DELETE) == deleted
    assert (await uc.sandboxes.get(team.owner, box.id)).state is SandboxState.DELETED
    assert (await uc.sandboxes.list(team.owner, PageRequest())).total == 0
    with pytest.raises(Conflict) as caught:
        await uc.sandboxes.action(team.owner, box.id, A.START)
    assert caught.value.code == "sandbox_deleted"
    stuck = await uc.sandboxes.create(team.member, new(name="stuck"))
    await _force(uc, stuck.id, state=SandboxState.STARTING)
    assert (await uc.sandboxes.delete(team.member, stuck.id)).state is SandboxState.DELETED


async def test_another_tenants_sandbox_is_not_found(uc: UseCases, team: Team, admin: Any) -> None:
    box = await uc.sandboxes.create(team.member, new())
    other = await make_team(uc, admin)
    for call in (
        uc.sandboxes.get(other.owner, box.id),
        uc.sandboxes.delete(other.owner, box.id),
        uc.sandboxes.action(other.owner, box.id, A.STOP),
        uc.sandboxes.update(other.owner, box.id, SandboxChanges(name="x")),
        uc.sandboxes.get(other.owner, "missing"),
    ):
        with pytest.raises(NotFound) as caught:
            await call
        assert caught.value.code == "sandbox_not_found"
    assert (await uc.sandboxes.get(team.owner, box.id)).state is SandboxState.RUNNING


async def test_the_plan_limits_how_many_and_how_long(uc: UseCases, team: Team) -> None:
    boxes = [await uc.sandboxes.create(team.member, new(name=f"b{n}")) for n in range(3)]
    with pytest.raises(PaymentRequired) as caught:
        await uc.sandboxes.create(team.member, new(name="fourth"))
    assert "sandboxes" in caught.value.message
    await uc.sandboxes.delete(team.member, boxes[0].id)
    await uc.sandboxes.create(team.member, new(name="fourth"))
    with pytest.raises(PaymentRequired):
        await uc.sandboxes.update(team.member, boxes[1].id, SandboxChanges(ttl_seconds=2 * 24 * 3600))
    with pytest.raises(Unprocessable) as refused:
        await uc.sandboxes.create(team.member, new(command=[], ports=[]))
    assert refused.value.code == "template_incomplete"
    with pytest.raises(Unprocessable) as refused:
        await uc.sandboxes.create(team.member, new(ports=[80, 80]))
    assert refused.value.code == "duplicate_ports"
    with pytest.raises(msgspec.ValidationError):
        new(ttl_seconds=0)
    with pytest.raises(Unprocessable) as refused:
        await uc.sandboxes.create(team.member, new(ports=[0]))
    assert refused.value.code == "invalid_port"
    with pytest.raises(msgspec.ValidationError, match="regex"):
        new(env=[{"name": "NOT A NAME", "value": "x"}])


async def test_the_idle_clock_pauses_and_a_keepalive_postpones_it(uc: UseCases, team: Team, clock: FakeClock) -> None:
    box = await uc.sandboxes.create(team.member, new(idle_timeout_seconds=10, on_idle="pause"))
    clock.advance(8)
    await uc.sandboxes.action(team.member, box.id, A.KEEPALIVE)
    clock.advance(8)
    assert await uc.sandbox_reaper.sweep() == 0
    assert (await uc.sandboxes.get(team.member, box.id)).state is SandboxState.RUNNING
    clock.advance(3)
    assert await uc.sandbox_reaper.sweep() == 1
    paused = await uc.sandboxes.get(team.member, box.id)
    assert paused.state is SandboxState.PAUSED
    assert paused.events[-1].cause is Cause.IDLE
    assert paused.idle_expires_at is None
    clock.advance(60)
    assert await uc.sandbox_reaper.sweep() == 0
    resumed = await uc.sandboxes.action(team.member, box.id, A.RESUME)
    assert resumed.idle_expires_at is not None
    assert resumed.idle_expires_at > clock.now()


async def test_the_ttl_stops_then_refuses_a_start_until_a_new_ttl(uc: UseCases, team: Team, clock: FakeClock) -> None:
    box = await uc.sandboxes.create(team.member, new(ttl_seconds=5))
    doomed = await uc.sandboxes.create(team.member, new(name="doomed", ttl_seconds=5, on_ttl="delete"))
    clock.advance(4)
    await uc.sandboxes.action(team.member, box.id, A.KEEPALIVE)  # activity does not move a hard cap
    clock.advance(1)
    assert await uc.sandbox_reaper.sweep() == 2
    stopped = await uc.sandboxes.get(team.member, box.id)
    assert stopped.state is SandboxState.STOPPED
    assert stopped.events[-1].cause is Cause.TTL
    gone = await uc.sandboxes.get(team.member, doomed.id)
    assert gone.state is SandboxState.DELETED
    assert gone.events[-1].cause is Cause.TTL
    assert await workloads(uc, doomed.id) == []
    with pytest.raises(Conflict) as caught:
        await uc.sandboxes.action(team.member, box.id, A.START)
    assert caught.value.code == "sandbox_expired"
    renewed = await uc.sandboxes.update(team.member, box.id, SandboxChanges(ttl_seconds=60, name="renewed"))
    assert renewed.name == "renewed"
    assert (await uc.sandboxes.action(team.member, box.id, A.START)).state is SandboxState.RUNNING


async def test_a_failed_run_is_an_error_with_its_reason_and_can_be_restarted(uc: UseCases, team: Team) -> None:
    runtime = uc.ports.runtime
    original = runtime.run

    async def failing(spec: WorkloadSpec) -> Any:
        raise ValidationFailed("cannot run nope: not found", code="command_failed")

    runtime.run = failing  # type: ignore[method-assign]
    try:
        box = await uc.sandboxes.create(team.member, new(command=["nope"]))
    finally:
        runtime.run = original  # type: ignore[method-assign]
    assert box.state is SandboxState.ERROR
    assert "cannot run nope" in box.state_reason
    assert box.events[-1].cause is Cause.ERROR
    assert (await uc.sandboxes.action(team.member, box.id, A.RESTART)).state is SandboxState.RUNNING


async def test_a_dead_workload_is_an_error_and_the_kernels_kill_is_oom(uc: UseCases, team: Team) -> None:
    box = await uc.sandboxes.create(team.member, new())
    [workload] = await workloads(uc, box.id)
    await uc.ports.runtime.stop(workload.id)
    await uc.sandbox_reaper.check()
    dead = await uc.sandboxes.get(team.member, box.id)
    assert dead.state is SandboxState.ERROR
    assert dead.events[-1].cause in (Cause.ERROR, Cause.OOM)
    assert "exited" in dead.state_reason


async def test_the_reconciler_settles_what_a_crash_left(uc: UseCases, team: Team, admin: Any) -> None:
    other = await make_team(uc, admin)
    creating = await uc.sandboxes.create(team.member, new(name="creating"))
    deleting = await uc.sandboxes.create(team.member, new(name="deleting"))
    starting = await uc.sandboxes.create(team.member, new(name="starting"))
    stopping = await uc.sandboxes.create(other.member, new(name="stopping"))
    await _force(uc, creating.id, state=SandboxState.CREATING, workload_id=None)
    await _force(uc, deleting.id, state=SandboxState.DELETING)
    await _force(uc, starting.id, state=SandboxState.STARTING)
    await _force(uc, stopping.id, state=SandboxState.STOPPING)
    stray = await uc.ports.runtime.run(WorkloadSpec(owner=owner_of("gone"), tenant_id="t", command=("x",)))
    assert await uc.sandbox_reaper.reconcile() == 4
    states = {s: (await uc.sandboxes.get(team.member, s)).state for s in (creating.id, deleting.id, starting.id)}
    assert states == {
        creating.id: SandboxState.ERROR,
        deleting.id: SandboxState.DELETED,
        starting.id: SandboxState.RUNNING,
    }
    assert (await uc.sandboxes.get(other.member, stopping.id)).state is SandboxState.STOPPED
    assert await workloads(uc, creating.id) == []
    assert await workloads(uc, deleting.id) == []
    assert await uc.ports.runtime.inspect(stray.id) is None
    repaired = await uc.sandboxes.get(team.member, starting.id)
    assert repaired.events[-1].cause is Cause.RECONCILE


async def _force(uc: UseCases, sandbox_id: str, **changes: Any) -> None:
    """What a server killed mid-action leaves in the store."""
    async with uc.ports.uow() as uow:
        current = await uow.sandboxes.find(sandbox_id)
        assert current is not None
        await uow.sandboxes.update(msgspec.structs.replace(current, **changes))
        await uow.commit()


async def test_a_sandbox_created_while_strays_are_sought_is_kept(
    uc: UseCases, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = uc.ports.runtime
    real_statuses = runtime.statuses
    made: list[SandboxView] = []

    async def statuses_while_one_is_created(owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        if not made:  # another request creates a sandbox while the reaper looks
            made.append(await uc.sandboxes.create(team.member, new()))
        return await real_statuses(owner_prefix)

    monkeypatch.setattr(runtime, "statuses", statuses_while_one_is_created)
    assert await uc.sandbox_reaper.remove_strays() == 0
    assert (await uc.sandboxes.get(team.member, made[0].id)).state is SandboxState.RUNNING
    assert len(await runtime.list(owner_of(made[0].id))) == 1


async def test_the_proxy_sees_a_change_at_once_here_and_within_half_a_second_elsewhere(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    other_worker = use_cases(uc.ports)
    box = await uc.sandboxes.create(team.member, new())
    minted = await uc.runtime.mint_token(team.member, box.id, None, None, "http://testserver")
    for worker in (uc, other_worker):  # each worker has read the sandbox for a request
        assert (await worker.runtime.open(box.id, None, token=minted.token)).sandbox_id == box.id

    await uc.runtime.revoke_tokens(team.member, box.id)

    with pytest.raises(Unauthenticated) as caught:
        await uc.runtime.open(box.id, None, token=minted.token)
    assert caught.value.code == "proxy_token_revoked"
    clock.advance(FRESH)
    with pytest.raises(Unauthenticated) as caught:
        await other_worker.runtime.open(box.id, None, token=minted.token)
    assert caught.value.code == "proxy_token_revoked"
    stopped = await uc.sandboxes.action(team.member, box.id, A.STOP)
    fresh = await uc.runtime.mint_token(team.member, box.id, None, None, "http://testserver")
    with pytest.raises(Conflict) as stopped_now:
        await uc.runtime.open(box.id, None, token=fresh.token)
    assert (stopped.state, stopped_now.value.code) == (SandboxState.STOPPED, "sandbox_stopped")


async def test_a_token_verified_once_is_still_checked_for_its_sandbox_port_and_expiry_on_every_use(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    """The proxy keeps tokens whose signature it checked, by token and sandbox: a token for A stays
    refused for B (before and after A's use of it), a tampered token is refused, and an expired one."""
    a = await uc.sandboxes.create(team.member, new())
    b = await uc.sandboxes.create(team.member, new())
    minted = await uc.runtime.mint_token(team.member, a.id, None, 60, "http://testserver")
    for _ in range(2):  # the first use verifies the token and keeps it; the second finds it kept
        with pytest.raises(Forbidden) as other:
            await uc.runtime.open(b.id, None, token=minted.token)
        assert other.value.code == "proxy_token_scope"
        assert (await uc.runtime.open(a.id, None, token=minted.token)).sandbox_id == a.id
    tampered = minted.token[:-2] + ("A" if minted.token[-2] != "A" else "B") + minted.token[-1]
    with pytest.raises(Unauthenticated) as bad:
        await uc.runtime.open(a.id, None, token=tampered)
    assert bad.value.code == "invalid_proxy_token"
    clock.advance(61)
    with pytest.raises(Unauthenticated) as expired:
        await uc.runtime.open(a.id, None, token=minted.token)
    assert expired.value.code == "proxy_token_expired"


async def test_a_sandbox_just_started_here_is_proxied_without_reading_it_or_its_workload_again(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    """The worker that started a sandbox keeps the row it committed and where its workload answers (the
    runtime's answer to the start), so its first proxied request asks neither the database nor the
    runtime; a change another worker makes is seen within ``FRESH``, as for any read."""
    box = await uc.sandboxes.create(team.member, new())
    minted = await uc.runtime.mint_token(team.member, box.id, None, None, "http://testserver")
    other_worker = use_cases(uc.ports)
    stopped = await other_worker.sandboxes.action(team.member, box.id, A.STOP)
    assert stopped.state == SandboxState.STOPPED
    [workload] = await workloads(uc, box.id)
    target = await uc.runtime.open(box.id, None, token=minted.token)  # neither read: the start's own answer
    assert (target.host, target.port) == (workload.address, 8000)
    with pytest.raises(Conflict) as elsewhere:
        await other_worker.runtime.open(box.id, None, token=minted.token)
    assert elsewhere.value.code == "sandbox_stopped"
    clock.advance(FRESH)
    with pytest.raises(Conflict) as here:
        await uc.runtime.open(box.id, None, token=minted.token)
    assert here.value.code == "sandbox_stopped"
