"""Two workers (two facades, each with its own runs and forwards in memory) on one database and real sshd:
a lease revoked on one worker ends, within 2 s, the run going under it on the other (its process gone on
the host) and the forward open under it there (its client sees the end). SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.domain.infra_ssh import HostTier
from tesserra_core.domain.paging import PageRequest
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_forward_views import ForwardState, NewForward
from tesserra_core.usecases.infra_ssh_lease_views import NewLease
from tesserra_core.usecases.infra_ssh_views import NewHost, NewRun, RunState
from tests.cli.command import BACKENDS, SECRET
from tests.servers.sshd import SshLab, processes
from tests.support import database_url
from tests.unit.infra_ssh_support import ALL_ACTIONS, operator_keys


async def _within(seconds: float, check: Callable[[], Awaitable[bool]]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return await check()


def _on_host(pattern: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await asyncio.to_thread(processes, pattern))

    return check


def _not(check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    async def negated() -> bool:
        return not await check()

    return negated


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_revocation_on_one_worker_ends_the_run_on_another(kind: str, tmp_path: Path, ssh_lab: SshLab) -> None:
    async with database_url(kind, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET)
        async with running(settings) as one, running(settings) as two:
            asker_key, approver_key = await operator_keys(one, 2, "workers")
            asker_on_two = await two.authenticate(asker_key, "asker@example.com")
            approver_on_one = await one.authenticate(approver_key, "approver@example.com")
            dev = ssh_lab.dev
            new = NewHost(
                name="shared",
                address=dev.address,
                port=dev.port,
                login=dev.login,
                host_key=dev.host_key,
                private_key=dev.user_key.private.decode(),
                actions=ALL_ACTIONS,
                tier=HostTier.DEV,
            )
            host = await one.infra_ssh.add_host(approver_on_one, new)
            ask = NewLease(host_ids=[host.id], actions=["hold_maintenance"], reason="two workers")
            lease = await two.infra_ssh.request_lease(asker_on_two, ask)
            await one.infra_ssh.approve_lease(approver_on_one, lease.id)
            seconds = random.randint(400, 599)  # the process to look for on the host: sleep <seconds>
            hold = NewRun(host_id=host.id, action="hold_maintenance", parameters={"seconds": seconds}, wait_seconds=0)
            run = await two.infra_ssh.run_action(asker_on_two, hold)
            assert run.state is RunState.RUNNING
            sleeping = _on_host(f"sleep {seconds}")
            assert await _within(15, sleeping)
            assert one.infra_ssh.run_action.board.get(asker_on_two.tenant_id, run.id) is None  # not worker one's

            started = time.monotonic()
            await one.infra_ssh.revoke_lease(approver_on_one, lease.id)  # worker one has no run of it
            assert await _within(3.0, _not(sleeping)), "the run's process outlived the revocation"
            took = time.monotonic() - started

            async def cancelled() -> bool:
                return (await two.infra_ssh.get_run(asker_on_two, run.id)).state is RunState.CANCELLED

            assert await _within(10, cancelled)  # its audit record written
            records = await one.infra_ssh.query_audit(approver_on_one, AuditQuery(run_id=run.id), PageRequest(5, 0))
            assert "revocation by approver@example.com" in records.items[0].detail
    assert took < 3.0  # 2 s, with slack for a loaded machine


@pytest.mark.parametrize("kind", BACKENDS)
async def test_a_revocation_on_one_worker_closes_the_forward_on_another(
    kind: str, tmp_path: Path, ssh_lab: SshLab
) -> None:
    async with database_url(kind, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET)
        async with running(settings) as one, running(settings) as two:
            asker_key, approver_key = await operator_keys(one, 2, "forwards")
            asker_on_two = await two.authenticate(asker_key, "asker@example.com")
            approver_on_one = await one.authenticate(approver_key, "approver@example.com")
            echo, prod = ssh_lab.echo.destination, ssh_lab.prod
            new = NewHost(
                name="shared-forward",
                address=prod.address,
                port=prod.port,
                login=prod.login,
                host_key=prod.host_key,
                private_key=prod.user_key.private.decode(),
                actions=["touch_file"],
                forwards=[echo],
                tier=HostTier.DEV,
            )
            host = await one.infra_ssh.add_host(approver_on_one, new)
            ask = NewLease(host_ids=[host.id], actions=["touch_file"], forwards=[echo], reason="two workers")
            lease = await two.infra_ssh.request_lease(asker_on_two, ask)
            await one.infra_ssh.approve_lease(approver_on_one, lease.id)
            forward = await two.infra_ssh.open_forward(asker_on_two, NewForward(host_id=host.id, destination=echo))
            reader, writer = await asyncio.open_connection(forward.local_address, forward.local_port)
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 20) == b"ping"

            started = time.monotonic()
            await one.infra_ssh.revoke_lease(approver_on_one, lease.id)  # worker one holds no forward of it
            assert await asyncio.wait_for(reader.read(), 10) == b""  # end of file
            took = time.monotonic() - started
            writer.close()

            async def recorded_closed() -> bool:  # its closing record follows the connections' end
                shown = await two.infra_ssh.get_forward(asker_on_two, forward.id)
                return (shown.state, shown.closed_by) == (ForwardState.CLOSED, "revocation by approver@example.com")

            assert await _within(10, recorded_closed)
    assert took < 3.0  # 2 s, with slack for a loaded machine
