"""Infra SSH forwards on the in-memory adapters (the fake SSH port forwards over real loopback sockets to a
real echo server): bytes through a forward both ways, counted; every refusal (validation, denied,
approval_required, forward_refused) with no port left listening and nothing reaching the destination; one
audit record per attempt and one at close; revocation closing it at once; other tenants see nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tesserra_adapters.bootstrap import build
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditRecord
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, NotFound, RemoteFailed, TesserraError, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_forward_views import ForwardState, ForwardView, NewForward
from tesserra_core.usecases.infra_ssh_lease_views import NewLease
from tesserra_core.usecases.infra_ssh_runs import LEASE_POLL_SECONDS
from tesserra_core.usecases.infra_ssh_views import NewRun, RunState
from tests.servers.sshd import TcpEnd, listening_ports, tcp_end
from tests.unit.infra_ssh_support import operator, operator_keys, simulated_host

PAGE = PageRequest(100, 0)


@pytest.fixture
async def echo() -> AsyncIterator[TcpEnd]:
    async with tcp_end(answer=True) as end:
        yield end


@pytest.fixture
async def forbidden() -> AsyncIterator[TcpEnd]:
    async with tcp_end(answer=True) as end:
        yield end


async def _team(uc: UseCases) -> tuple[Principal, Principal]:
    asker_key, approver_key = await operator_keys(uc, 2, "fwd")
    return await uc.authenticate(asker_key, "asker@example.com"), await uc.authenticate(approver_key, "ok@example.com")


async def _lease(uc: UseCases, asker: Principal, approver: Principal, host_id: str, forwards: list[str]) -> str:
    ask = NewLease(host_ids=[host_id], actions=["touch_file"], reason="debug", forwards=forwards)
    lease = await uc.infra_ssh.request_lease(asker, ask)
    await uc.infra_ssh.approve_lease(approver, lease.id)
    return lease.id


async def _events(uc: UseCases, actor: Principal) -> list[AuditRecord]:
    records = (await uc.infra_ssh.query_audit(actor, AuditQuery(), PAGE)).items
    kept = (AuditEvent.FORWARD, AuditEvent.FORWARD_CLOSED)
    return [r for r in sorted(records, key=lambda r: r.seq) if r.event in kept]


async def _within(seconds: float, check: Callable[[], Awaitable[bool]]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.02)
    return await check()


async def _through(view: ForwardView, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(view.local_address, view.local_port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    got = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return got


async def test_a_forward_carries_bytes_both_ways_counted_and_its_closing_is_audited(uc: UseCases, echo: TcpEnd) -> None:
    asker, approver = await _team(uc)
    host, fake_host = await simulated_host(uc, asker, forwards=[echo.destination])
    fake_host.permit_open.add(echo.destination)
    lease_id = await _lease(uc, asker, approver, host.id, [echo.destination])
    opened = await uc.infra_ssh.open_forward(asker, NewForward(host_id=host.id, destination=echo.destination))
    assert opened.state is ForwardState.OPEN
    assert opened.lease_id == lease_id
    assert opened.local_address == "127.0.0.1"
    assert opened.local_port in listening_ports()
    payload = bytes(range(256)) * 400
    assert await _through(opened, payload) == payload
    seen = await uc.infra_ssh.get_forward(asker, opened.id)
    assert (seen.bytes_sent, seen.bytes_received, seen.connections) == (len(payload), len(payload), 1)
    assert [f.id for f in (await uc.infra_ssh.list_forwards(asker, PAGE)).items] == [opened.id]
    closed = await uc.infra_ssh.close_forward(asker, opened.id)
    assert closed.state is ForwardState.CLOSED
    assert closed.closed_by == "asker@example.com"
    assert closed.bytes_sent == len(payload)
    assert opened.local_port not in listening_ports()
    assert (await uc.infra_ssh.close_forward(asker, opened.id)) == closed
    events = await _events(uc, asker)
    assert [(r.event, r.outcome) for r in events] == [
        (AuditEvent.FORWARD, Outcome.OK),
        (AuditEvent.FORWARD_CLOSED, Outcome.OK),
    ]
    assert events[0].id == opened.audit_id
    assert events[1].parameters["bytes_sent"] == len(payload)
    assert events[1].parameters["bytes_received"] == len(payload)
    assert events[1].parameters["destination"] == echo.destination
    assert events[1].lease_id == lease_id
    assert (await uc.infra_ssh.verify_audit(asker)).ok


async def test_every_refused_forward_is_audited_and_leaves_no_port(
    uc: UseCases, echo: TcpEnd, forbidden: TcpEnd
) -> None:
    asker, approver = await _team(uc)
    host, fake_host = await simulated_host(uc, asker, forwards=[echo.destination, forbidden.destination])
    fake_host.permit_open.add(echo.destination)  # the host's sshd: PermitOpen the echo server only
    other_host, _ = await simulated_host(uc, asker, name="web-2", forwards=[echo.destination])
    stranger = await operator(uc, "fwd-other")

    async def refused(actor: Principal, destination: str, host_id: str = host.id) -> TesserraError:
        before = listening_ports()
        with pytest.raises(TesserraError) as caught:
            await uc.infra_ssh.open_forward(actor, NewForward(host_id=host_id, destination=destination))
        assert listening_ports() <= before
        return caught.value

    no_lease = await refused(asker, echo.destination)
    assert isinstance(no_lease, Forbidden)
    assert no_lease.code == "approval_required"
    await _lease(uc, asker, approver, host.id, [echo.destination, forbidden.destination])
    not_theirs = await refused(approver, echo.destination)  # a lease covers the forwards of its asker only
    assert not_theirs.code == "approval_required"
    not_this_host = await refused(asker, echo.destination, other_host.id)
    assert not_this_host.code == "approval_required"
    not_allowed = await refused(asker, "127.0.0.1:22")
    assert isinstance(not_allowed, Forbidden)
    assert not_allowed.code == "denied"
    bad_port = await refused(asker, "127.0.0.1:99999")
    assert isinstance(bad_port, ValidationFailed)
    assert bad_port.code == "validation_failed"
    by_sshd = await refused(asker, forbidden.destination)
    assert isinstance(by_sshd, RemoteFailed)
    assert by_sshd.kind == "forward_refused"
    other_tenant = await refused(stranger, echo.destination)
    assert isinstance(other_tenant, NotFound)
    assert forbidden.accepted == 0
    outcomes = [(r.event, r.outcome, r.remote_kind) for r in await _events(uc, asker)]
    assert outcomes == [
        (AuditEvent.FORWARD, Outcome.APPROVAL_REQUIRED, None),
        (AuditEvent.FORWARD, Outcome.APPROVAL_REQUIRED, None),
        (AuditEvent.FORWARD, Outcome.APPROVAL_REQUIRED, None),
        (AuditEvent.FORWARD, Outcome.DENIED, None),
        (AuditEvent.FORWARD, Outcome.VALIDATION_FAILED, None),
        (AuditEvent.FORWARD, Outcome.REMOTE_FAILED, "forward_refused"),
    ]
    assert [r.outcome for r in await _events(uc, stranger)] == [Outcome.DENIED]


async def test_revoking_the_lease_closes_the_forward_at_once_and_other_tenants_see_nothing(
    uc: UseCases, echo: TcpEnd
) -> None:
    asker, approver = await _team(uc)
    host, fake_host = await simulated_host(uc, asker, forwards=[echo.destination])
    fake_host.permit_open.add(echo.destination)
    lease_id = await _lease(uc, asker, approver, host.id, [echo.destination])
    opened = await uc.infra_ssh.open_forward(asker, NewForward(host_id=host.id, destination=echo.destination))
    stranger = await operator(uc, "fwd-peek")
    with pytest.raises(NotFound):
        await uc.infra_ssh.get_forward(stranger, opened.id)
    with pytest.raises(NotFound):
        await uc.infra_ssh.close_forward(stranger, opened.id)
    assert (await uc.infra_ssh.list_forwards(stranger, PAGE)).items == []
    reader, writer = await asyncio.open_connection(opened.local_address, opened.local_port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
    started = time.monotonic()
    await uc.infra_ssh.revoke_lease(approver, lease_id)
    assert await asyncio.wait_for(reader.read(), 2.0) == b""  # the connected client sees end of file
    assert time.monotonic() - started < 2.0
    writer.close()
    gone = await uc.infra_ssh.get_forward(asker, opened.id)
    assert gone.state is ForwardState.CLOSED
    assert gone.closed_by == "revocation by ok@example.com"
    assert opened.local_port not in listening_ports()
    with pytest.raises(Forbidden) as after:
        await uc.infra_ssh.open_forward(asker, NewForward(host_id=host.id, destination=echo.destination))
    assert after.value.code == "approval_required"


async def test_a_revocation_on_another_worker_ends_the_run_and_the_forward_here_together(
    uc: UseCases, settings: Settings, echo: TcpEnd
) -> None:
    """The lease's one guard on this worker: revoked elsewhere, its run and its forward here end together,
    within ``LEASE_POLL_SECONDS`` and their cancel (2 s promised)."""
    asker_key, approver_key = await operator_keys(uc, 2, "guard")
    asker = await uc.authenticate(asker_key, "asker@example.com")
    host, fake_host = await simulated_host(uc, asker, forwards=[echo.destination])
    fake_host.permit_open.add(echo.destination)
    ask = NewLease(host_ids=[host.id], actions=["hold_maintenance"], reason="guard", forwards=[echo.destination])
    lease = await uc.infra_ssh.request_lease(asker, ask)
    there = await build(uc.ports, settings)  # another worker: its own runs and forwards, the same database
    approver_there = await there.authenticate(approver_key, "ok@example.com")
    await there.infra_ssh.approve_lease(approver_there, lease.id)
    hold = NewRun(host_id=host.id, action="hold_maintenance", parameters={"seconds": 300}, wait_seconds=0)
    running = await uc.infra_ssh.run_action(asker, hold)
    assert (running.state, running.lease_id) == (RunState.RUNNING, lease.id)
    opened = await uc.infra_ssh.open_forward(asker, NewForward(host_id=host.id, destination=echo.destination))
    assert opened.lease_id == lease.id
    reader, writer = await asyncio.open_connection(opened.local_address, opened.local_port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"

    async def holding() -> bool:
        return bool(fake_host.processes("sleep 300"))

    async def cancelled() -> bool:
        return (await uc.infra_ssh.get_run(asker, running.id)).state is RunState.CANCELLED

    assert await _within(10, holding)

    started = time.monotonic()
    await there.infra_ssh.revoke_lease(approver_there, lease.id)  # that worker holds neither of them
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the forward's client sees end of file
    assert await _within(5, cancelled)
    took = time.monotonic() - started
    writer.close()
    assert took < LEASE_POLL_SECONDS + 1.5
    assert not fake_host.processes("sleep 300")
    forward = await uc.infra_ssh.get_forward(asker, opened.id)
    assert (forward.state, forward.closed_by) == (ForwardState.CLOSED, "revocation by ok@example.com")
    run_record = (await uc.infra_ssh.query_audit(asker, AuditQuery(run_id=running.id), PAGE)).items[0]
    assert "revocation by ok@example.com" in run_record.detail
    assert opened.local_port not in listening_ports()
