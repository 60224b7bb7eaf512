"""Infra SSH use cases on the in-memory adapters: who may call them, the inventory and its audit, the
templates and the injection corpus, the policy, runs and their outcomes, and the audit chain."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import msgspec
import pytest

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh import HostTier, Outcome, credential_context, shipped_catalog
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditRecord, Via
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, NotFound, RemoteFailed, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_views import CheckAction, HostChanges, NewHostKey, NewRun, RunState, RunView
from tests.servers.sshd import KeyPair
from tests.unit.helpers import Team, store
from tests.unit.infra_ssh_support import operator, operator_key, simulated_host

PAGE = PageRequest(50, 0)


async def _records(uc: UseCases, actor: Principal, **where: object) -> list[AuditRecord]:
    return (await uc.infra_ssh.query_audit(actor, AuditQuery(**where), PAGE)).items  # type: ignore[arg-type]


async def _until(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


# -- who may call ------------------------------------------------------------------------------------


async def test_only_an_admin_key_acting_for_a_person_gets_in(uc: UseCases, admin: Principal, team: Team) -> None:
    key = await operator_key(uc)
    for refused in (admin, team.owner, await uc.authenticate(key)):
        with pytest.raises((Forbidden, ValidationFailed)):
            await uc.infra_ssh.list_hosts(refused, PAGE)
    with pytest.raises(Forbidden) as jwt:
        await uc.infra_ssh.list_hosts(admin, PAGE)
    assert jwt.value.code == "admin_key_required"
    with pytest.raises(ValidationFailed) as unnamed:
        await uc.infra_ssh.list_hosts(await uc.authenticate(key), PAGE)
    assert unnamed.value.code == "user_id_required"
    assert (await uc.infra_ssh.list_hosts(await uc.authenticate(key, "alice"), PAGE)).total == 0


# -- the inventory -----------------------------------------------------------------------------------


async def test_a_host_keeps_its_login_key_sealed_and_never_shows_it(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    shown = msgspec.json.encode(await uc.infra_ssh.list_hosts(ops, PAGE)).decode()
    assert "PRIVATE KEY" not in shown
    assert "private_key" not in shown
    stored = store(uc).ssh_hosts[view.id]
    assert "PRIVATE KEY" not in stored.sealed_key
    opened = uc.ports.secret_box.open(stored.sealed_key, context=credential_context(ops.tenant_id, view.id))
    assert b"PRIVATE KEY" in opened
    assert view.public_key.startswith("ssh-ed25519 ")
    assert view.approvers_required == 1


async def test_every_inventory_change_is_audited(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops, tier=HostTier.PROD)
    assert view.approvers_required == 2
    await uc.infra_ssh.change_host(ops, view.id, HostChanges(labels=["db"], port=2222))
    await uc.infra_ssh.repin_host_key(ops, view.id, NewHostKey(host_key=KeyPair.generate().public), Via.MCP)
    await uc.infra_ssh.remove_host(ops, view.id)
    events = [r.event for r in reversed(await _records(uc, ops))]
    assert events == [
        AuditEvent.HOST_ADDED,
        AuditEvent.HOST_CHANGED,
        AuditEvent.HOST_KEY_REPINNED,
        AuditEvent.HOST_REMOVED,
    ]
    repinned = (await _records(uc, ops, event=AuditEvent.HOST_KEY_REPINNED))[0]
    assert repinned.via is Via.MCP
    assert repinned.user_id == "alice@example.com"
    assert repinned.key_id == ops.credential_id
    with pytest.raises(NotFound):
        await uc.infra_ssh.get_host(ops, view.id)


async def test_bad_host_input_is_refused(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    with pytest.raises(ValidationFailed):
        await uc.infra_ssh.change_host(ops, view.id, HostChanges(private_key="-----BEGIN nothing-----"))
    with pytest.raises(ValidationFailed):
        await uc.infra_ssh.repin_host_key(ops, view.id, NewHostKey(host_key="ssh-ed25519 AAAAC3Nzanot"))
    with pytest.raises(ValidationFailed):
        await uc.infra_ssh.change_host(ops, view.id, HostChanges(actions=["rm_everything"]))
    with pytest.raises(ValidationFailed):
        await uc.infra_ssh.change_host(ops, view.id, HostChanges())


async def test_another_tenants_hosts_runs_and_audit_are_not_found(uc: UseCases) -> None:
    ops, other = await operator(uc, "ops-a"), await operator(uc, "ops-b")
    view, _ = await simulated_host(uc, ops)
    run = await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="uptime"))
    for attempt in (
        uc.infra_ssh.get_host(other, view.id),
        uc.infra_ssh.change_host(other, view.id, HostChanges(port=2)),
        uc.infra_ssh.remove_host(other, view.id),
        uc.infra_ssh.check_action(other, "uptime", CheckAction(host_id=view.id)),
        uc.infra_ssh.run_action(other, NewRun(host_id=view.id, action="uptime")),
        uc.infra_ssh.get_run(other, run.id),
        uc.infra_ssh.cancel_run(other, run.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert (await uc.infra_ssh.list_hosts(other, PAGE)).total == 0
    assert all(r.host_id != view.id for r in await _records(uc, other))


# -- templates and injection -------------------------------------------------------------------------

INJECTIONS = ["; rm -rf /", "$(id)", "`id`", "a\nb", "it's", '"q"', "two  spaces", " ", "-n", "\\", "x" * 256]


async def test_each_injection_reaches_the_host_as_exactly_one_argument(uc: UseCases) -> None:
    ops = await operator(uc)
    view, host = await simulated_host(uc, ops)
    for word in INJECTIONS:
        run = await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="echo", parameters={"message": word}))
        assert host.received[-1] == ("echo", word)
        assert run.argv == ("echo", word)


@pytest.mark.parametrize(
    ("action", "parameters"),
    [
        ("echo", {"message": "x" * 257}),
        ("echo", {"message": 5}),
        ("echo", {}),
        ("echo", {"message": "hi", "extra": "x"}),
        ("wait", {"seconds": 0}),
        ("wait", {"seconds": 61}),
        ("wait", {"seconds": "3"}),
        ("wait", {"seconds": True}),
        ("disk_usage", {"path": "/etc; rm -rf /"}),
        ("disk_usage", {"path": "/"[:0]}),
        ("no_such_action", {}),
    ],
)
async def test_values_that_do_not_fit_never_reach_the_host(
    uc: UseCases, action: str, parameters: dict[str, object]
) -> None:
    ops = await operator(uc)
    view, host = await simulated_host(uc, ops)
    await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="uptime", parameters={}))  # fits
    with pytest.raises(ValidationFailed) as refused:
        await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action=action, parameters=parameters))  # type: ignore[arg-type]
    assert refused.value.code == "validation_failed"
    assert len(host.received) == 1  # only the uptime
    last = (await _records(uc, ops, event=AuditEvent.RUN))[0]
    assert last.outcome is Outcome.VALIDATION_FAILED
    assert "\x00" not in msgspec.json.encode(last.parameters).decode()


async def test_a_nul_is_refused_with_the_input(uc: UseCases) -> None:
    """A control character other than white space is refused where any input is built (REST and MCP
    decode it there): a 400 before the use case, so not an attempt the audit sees."""
    ops = await operator(uc)
    view, host = await simulated_host(uc, ops)
    with pytest.raises(ValidationFailed):
        await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="echo", parameters={"message": "a\x00b"}))
    assert host.received == []


def test_the_shipped_catalog_renders_every_placeholder_as_one_word() -> None:
    catalog = shipped_catalog()
    assert catalog.version >= 1
    argv, _ = catalog.get("disk_usage").render({"path": "/var"})  # type: ignore[union-attr]
    assert argv == ("df", "-h", "/var")


# -- policy ------------------------------------------------------------------------------------------


async def test_actions_the_host_does_not_allow_are_denied_and_leases_are_required(uc: UseCases) -> None:
    ops = await operator(uc)
    view, host = await simulated_host(uc, ops, actions=["uptime", "restart_service"])
    with pytest.raises(Forbidden) as denied:
        await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="echo", parameters={"message": "x"}))
    assert denied.value.code == "denied"
    with pytest.raises(Forbidden) as lease:
        await uc.infra_ssh.run_action(
            ops, NewRun(host_id=view.id, action="restart_service", parameters={"name": "cron"})
        )
    assert lease.value.code == "approval_required"
    check = await uc.infra_ssh.check_action(
        ops, "restart_service", CheckAction(host_id=view.id, parameters={"name": "cron"})
    )
    assert check.decision is Outcome.APPROVAL_REQUIRED
    assert check.argv == ("systemctl", "restart", "cron")
    assert host.received == []
    outcomes = [r.outcome for r in await _records(uc, ops, event=AuditEvent.RUN)]
    assert outcomes == [Outcome.APPROVAL_REQUIRED, Outcome.DENIED]  # the dry run is not an attempt


async def test_a_missing_host_is_not_found_and_audited(uc: UseCases) -> None:
    ops = await operator(uc)
    with pytest.raises(NotFound):
        await uc.infra_ssh.run_action(ops, NewRun(host_id="01NOPE", action="uptime"))
    record = (await _records(uc, ops))[0]
    assert record.outcome is Outcome.DENIED
    assert "01NOPE" in record.detail


# -- runs --------------------------------------------------------------------------------------------


async def test_a_run_answers_with_its_result_and_one_audit_record(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    run = await uc.infra_ssh.run_action(
        ops, NewRun(host_id=view.id, action="echo", parameters={"message": "hi"}), Via.MCP
    )
    assert run.state is RunState.SUCCEEDED
    assert run.stdout is not None
    assert run.stdout.text == "hi\n"
    records = await _records(uc, ops, run_id=run.id)
    assert len(records) == 1
    assert records[0].outcome is Outcome.OK
    assert records[0].stdout_bytes == 3
    assert records[0].via is Via.MCP
    assert records[0].id == run.audit_id


async def test_a_nonzero_exit_is_a_remote_failure_with_its_kind(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    with pytest.raises(RemoteFailed) as failed:
        await uc.infra_ssh.run_action(
            ops, NewRun(host_id=view.id, action="path_exists", parameters={"path": "/etc/nologin"})
        )
    assert failed.value.kind == "exit_nonzero"
    assert failed.value.status == 502
    run = await uc.infra_ssh.get_run(ops, failed.value.run_id or "")
    assert run.exit_status == 1
    assert run.state is RunState.FAILED


async def test_an_unreachable_host_is_a_remote_failure(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    await uc.infra_ssh.change_host(ops, view.id, HostChanges(address="10.255.255.1"))
    with pytest.raises(RemoteFailed) as failed:
        await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="uptime"))
    assert failed.value.kind == "unreachable"
    assert (await _records(uc, ops, event=AuditEvent.RUN))[0].remote_kind == "unreachable"


async def test_a_long_run_is_polled_and_cancelled_and_its_process_is_gone(uc: UseCases) -> None:
    ops = await operator(uc)
    view, host = await simulated_host(uc, ops)
    run = await uc.infra_ssh.run_action(
        ops, NewRun(host_id=view.id, action="wait", parameters={"seconds": 4}, wait_seconds=0)
    )
    assert run.state is RunState.RUNNING
    await _until(lambda: bool(host.processes("sleep 4")))
    assert (await uc.infra_ssh.get_run(ops, run.id)).state is RunState.RUNNING
    cancelled = await uc.infra_ssh.cancel_run(ops, run.id)
    assert cancelled.state is RunState.CANCELLED
    assert host.processes("sleep 4") == []
    record = (await _records(uc, ops, run_id=run.id))[0]
    assert record.outcome is Outcome.REMOTE_FAILED
    assert record.remote_kind == "signal"
    assert record.detail == "cancelled by alice@example.com"


async def test_a_finished_run_is_found_through_its_audit_record(uc: UseCases) -> None:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    run = await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="uptime"))
    uc.infra_ssh.run_action.board._slots.clear()  # as another worker sees it
    again = await uc.infra_ssh.get_run(ops, run.id)
    assert isinstance(again, RunView)
    assert again.state is RunState.SUCCEEDED
    assert again.argv == ("uptime",)
    assert again.stdout is not None
    assert again.stdout.sha256 == run.stdout.sha256  # type: ignore[union-attr]


# -- the audit chain ---------------------------------------------------------------------------------


async def _chain_of_five(uc: UseCases) -> tuple[Principal, list[AuditRecord]]:
    ops = await operator(uc)
    view, _ = await simulated_host(uc, ops)
    for message in ("one", "two", "three", "four"):
        await uc.infra_ssh.run_action(ops, NewRun(host_id=view.id, action="echo", parameters={"message": message}))
    assert (await uc.infra_ssh.verify_audit(ops)).ok
    return ops, store(uc).ssh_audit[ops.tenant_id]


async def test_an_edit_is_found(uc: UseCases) -> None:
    ops, records = await _chain_of_five(uc)
    records[2] = msgspec.structs.replace(records[2], user_id="mallory")
    result = await uc.infra_ssh.verify_audit(ops)
    assert not result.ok
    assert result.first_bad_seq == 3


async def test_a_deletion_is_found(uc: UseCases) -> None:
    ops, records = await _chain_of_five(uc)
    del records[1]
    assert (await uc.infra_ssh.verify_audit(ops)).first_bad_seq == 3


async def test_a_reordering_is_found(uc: UseCases) -> None:
    ops, records = await _chain_of_five(uc)
    a, b = records[1], records[2]
    records[1], records[2] = msgspec.structs.replace(b, seq=2), msgspec.structs.replace(a, seq=3)
    result = await uc.infra_ssh.verify_audit(ops)
    assert result.first_bad_seq == 2
    assert result.first_bad_id == b.id


async def test_an_insertion_is_found(uc: UseCases) -> None:
    ops, records = await _chain_of_five(uc)
    forged = msgspec.structs.replace(records[1], id="forged", detail="nothing happened")
    records.insert(2, forged)
    result = await uc.infra_ssh.verify_audit(ops)
    assert not result.ok
    assert result.first_bad_id == "forged"
