"""Infra SSH benchmark: the issue 12 targets, in process, against real sshd servers on loopback.

Run by hand, as root with openssh-server installed (see bench/README.md, "Infra SSH"):

    .venv/bin/python bench/infra_ssh.py [--runs 15] [--records 100000]

It starts three sshd (tests/servers/sshd.py), builds the facade on SQLite (as ``tesserra serve`` does, real
SSH adapter), adds the hosts through the use cases, and prints PASS or MISS per target:

- list_hosts p50 (the use case on SQLite, 3 hosts): under 5 ms;
- run_action overhead: p50 of an ``echo`` run through the use case (policy, unsealing the key, the audit
  record) minus p50 of a bare asyncssh connect + run of the same command line: under 50 ms;
- 20 concurrent runs over the 3 hosts: all ok;
- a lease's path (request, approval, first run under it) p50, printed without a target;
- audit append p50, one record per transaction: under 1 ms (measured on memory and on SQLite);
- verifying a chain of ``--records`` records (100,000 by default) read back from SQLite: under 5 s (the
  process's CPU time is printed too: on a loaded machine the wall time is mostly waiting for a core);
- forwards (no target in the issue, figures only): open_forward p50 through the use case (lease lookup, SSH
  login, the channel check, the audit record) to the lab's echo server, and the throughput of one connection
  through a forward (``--forward-mib`` MiB echoed back through sshd).

Figures on a shared 2-core machine drift; run it when the machine is quiet.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncssh
import msgspec
from bench.harness import say
from sqlalchemy import insert
from tests.servers.sshd import Sshd, SshLab, ssh_lab
from tests.unit.infra_ssh_support import operator, operator_keys

from tesserra_adapters.bootstrap import build, memory_ports, running
from tesserra_adapters.settings import Settings
from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_adapters.ssh.client import remote_command
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import GENESIS, AuditEvent, AuditRecord, Via, sealed
from tesserra_core.domain.paging import PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.ports.ssh import SshCommand
from tesserra_core.usecases.infra_ssh_audit import AuditTrail
from tesserra_core.usecases.infra_ssh_forward_views import NewForward
from tesserra_core.usecases.infra_ssh_lease_views import NewLease
from tesserra_core.usecases.infra_ssh_views import NewHost, NewRun

LIST_MS, OVERHEAD_MS, APPEND_MS, VERIFY_S = 5.0, 50.0, 1.0, 5.0
CONCURRENT = 20


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> list[float]:
    """Milliseconds of ``n`` sequential calls (after one warm-up call)."""
    await call()
    found = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        found.append((time.perf_counter() - started) * 1000)
    return found


async def add_hosts(uc: UseCases, ops: Principal, hosts: tuple[Sshd, ...]) -> list[str]:
    ids = []
    for i, sshd in enumerate(hosts):
        new = NewHost(
            name=f"bench-{i}",
            address=sshd.address,
            port=sshd.port,
            login=sshd.login,
            host_key=sshd.host_key,
            private_key=sshd.user_key.private.decode(),
            actions=["echo"],
        )
        ids.append((await uc.infra_ssh.add_host(ops, new)).id)
    return ids


async def bare_run(sshd: Sshd, line: str) -> None:
    async with asyncssh.connect(
        sshd.address,
        port=sshd.port,
        username=sshd.login,
        client_keys=[asyncssh.import_private_key(sshd.user_key.private)],
        known_hosts=([asyncssh.import_public_key(sshd.host_key)], [], []),
        config=None,
        agent_path=None,
    ) as conn:
        result = await conn.run(line, check=True)
        assert result.stdout == "bench\n"


def chain(tenant_id: str, n: int) -> list[dict[str, Any]]:
    """``n`` sealed records as column values, built the way AuditTrail builds them."""
    rows, prev = [], GENESIS
    at = time.time()
    for i in range(1, n + 1):
        record = sealed(
            AuditRecord(
                id=f"{i:026d}",
                tenant_id=tenant_id,
                seq=i,
                at=datetime.fromtimestamp(at + i, UTC),
                event=AuditEvent.RUN,
                key_id="bench-key",
                user_id="bench@example.com",
                via=Via.REST,
                host_id="bench-host",
                host_name="bench-0",
                action="echo",
                parameters={"message": f"record {i}"},
                argv_sha256="a" * 64,
                outcome=Outcome.OK,
                remote_kind=None,
                exit_status=0,
                signal=None,
                stdout_sha256="b" * 64,
                stdout_bytes=13,
                stderr_sha256="c" * 64,
                stderr_bytes=0,
                duration_ms=40,
                run_id=f"r{i:025d}",
                detail="",
                prev_hash=prev,
                hash="",
            )
        )
        prev = record.hash
        row = {f: getattr(record, f) for f in record.__struct_fields__}
        row.update(event=record.event.value, via=record.via.value, outcome=record.outcome.value)
        row["parameters"] = f'{{"message":"record {i}"}}'
        rows.append(row)
    return rows


async def measure_runs(uc: UseCases, ops: Principal, hosts: tuple[Sshd, ...], host_ids: list[str], runs: int) -> None:
    def echo(host_id: str) -> Callable[[], Awaitable[Any]]:
        return lambda: uc.infra_ssh.run_action(
            ops, NewRun(host_id=host_id, action="echo", parameters={"message": "bench"})
        )

    line = remote_command(SshCommand(argv=("echo", "bench"), time_limit_seconds=10, output_cap_bytes=4096))
    bares, throughs = [], []
    for _ in range(runs):  # interleaved, so that both see the same load
        bares += await timed(1, lambda: bare_run(hosts[0], line))
        throughs += await timed(1, echo(host_ids[0]))
    bare, through = statistics.median(bares), statistics.median(throughs)
    overhead = through - bare
    say(
        f"run_action p50 {through:.1f} ms, bare asyncssh p50 {bare:.1f} ms: overhead {overhead:.1f} ms "
        f"(target < {OVERHEAD_MS:.0f}) {verdict(overhead < OVERHEAD_MS)}"
    )

    started = time.perf_counter()
    results = await asyncio.gather(
        *(echo(host_ids[i % len(host_ids)])() for i in range(CONCURRENT)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException) or r.outcome is not Outcome.OK]
    took = time.perf_counter() - started
    say(
        f"{CONCURRENT} concurrent runs over {len(host_ids)} hosts: {CONCURRENT - len(errors)} ok, {len(errors)} "
        f"errors in {took:.2f} s {verdict(not errors)}"
    )
    for error in errors[:3]:
        say(f"  {error!r}")


async def measure_append(uc: UseCases, ops: Principal, label: str, n: int) -> None:
    trail = AuditTrail(uc.ports.uow, uc.ports.clock, uc.ports.ids, uc.ports.audit_checkpoints)
    fields = {"host_id": "h", "host_name": "bench", "action": "echo", "parameters": {"message": "x"}}
    append = await timed(n, lambda: trail.append(ops, Via.REST, AuditEvent.RUN, Outcome.OK, **fields))
    p50 = statistics.median(append)
    say(f"audit append p50 ({label}) {p50:.3f} ms (target < {APPEND_MS:.0f}) {verdict(p50 < APPEND_MS)}")


async def measure_verify(uc: UseCases, ops: Principal, records: int) -> None:
    uow = uc.ports.uow
    assert isinstance(uow, SqlUnitOfWorkFactory)
    tenant_id = (await operator(uc, "bench-verify")).tenant_id
    rows = chain(tenant_id, records)
    async with uow.engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(insert(t.ssh_audit), rows[start : start + 5000])
    started, cpu = time.perf_counter(), time.process_time()
    result = await uc.infra_ssh.verify_audit.tenant(tenant_id)
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert result.ok, result
    assert result.checked == records, result
    say(
        f"verify {records:,} records (SQLite) {took:.2f} s, {cpu:.2f} s of CPU (target < {VERIFY_S:.0f} s) "
        f"{verdict(took < VERIFY_S)}"
    )


async def measure_lease(uc: UseCases, sshd: Sshd, runs: int) -> None:
    """A lease's path: request, approval by another person with another key, the first run under it."""
    asker_key, approver_key = await operator_keys(uc, 2, "bench-lease")
    asker = await uc.authenticate(asker_key, "asker@example.com")
    approver = await uc.authenticate(approver_key, "approver@example.com")
    new = NewHost(
        name="bench-lease",
        address=sshd.address,
        port=sshd.port,
        login=sshd.login,
        host_key=sshd.host_key,
        private_key=sshd.user_key.private.decode(),
        actions=["echo", "touch_file"],
    )
    host = await uc.infra_ssh.add_host(asker, new)
    touch = NewRun(host_id=host.id, action="touch_file", parameters={"path": "/tmp/tesserra-bench-lease"})
    ask = NewLease(host_ids=[host.id], actions=["touch_file"], reason="bench")

    async def lease_path() -> None:
        lease = await uc.infra_ssh.request_lease(asker, ask)
        await uc.infra_ssh.approve_lease(approver, lease.id)
        await uc.infra_ssh.run_action(asker, msgspec.structs.replace(touch, lease_id=lease.id))

    p50 = statistics.median(await timed(runs, lease_path))
    say(f"lease path p50 (request, approve, first run; SQLite, real sshd) {p50:.1f} ms (no target)")


async def measure_forwards(uc: UseCases, lab: SshLab, runs: int, mib: int) -> None:
    asker_key, approver_key = await operator_keys(uc, 2, "bench-fwd")
    asker = await uc.authenticate(asker_key, "asker@example.com")
    approver = await uc.authenticate(approver_key, "approver@example.com")
    echo, p = lab.echo.destination, lab.prod
    new = NewHost(
        name="bench-fwd",
        address=p.address,
        port=p.port,
        login=p.login,
        host_key=p.host_key,
        private_key=p.user_key.private.decode(),
        actions=["touch_file"],
        forwards=[echo],
    )
    host_id = (await uc.infra_ssh.add_host(asker, new)).id
    ask = NewLease(host_ids=[host_id], actions=["touch_file"], reason="bench", forwards=[echo])
    lease = await uc.infra_ssh.request_lease(asker, ask)
    await uc.infra_ssh.approve_lease(approver, lease.id)
    opens = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        forward = await uc.infra_ssh.open_forward(asker, NewForward(host_id=host_id, destination=echo))
        opens.append((time.perf_counter() - started) * 1000)
        await uc.infra_ssh.close_forward(asker, forward.id)
    say(f"open_forward p50 (SQLite, through sshd) {statistics.median(opens[1:]):.1f} ms (no target)")

    forward = await uc.infra_ssh.open_forward(asker, NewForward(host_id=host_id, destination=echo))
    reader, writer = await asyncio.open_connection(forward.local_address, forward.local_port)
    block, total = bytes(65536), mib << 20

    async def send() -> None:
        for _ in range(total // len(block)):
            writer.write(block)
            await writer.drain()
        writer.write_eof()

    started = time.perf_counter()
    _, echoed = await asyncio.gather(send(), reader.read(-1))
    took = time.perf_counter() - started
    writer.close()
    closed = await uc.infra_ssh.close_forward(asker, forward.id)
    assert len(echoed) == total == closed.bytes_sent == closed.bytes_received, closed
    say(f"through a forward: {mib} MiB each way in {took:.2f} s, {mib / took:.1f} MiB/s each way (no target)")


async def main(runs: int, records: int, forward_mib: int) -> None:
    async with ssh_lab() as lab:
        with tempfile.TemporaryDirectory() as work:
            settings = Settings(
                data_dir=Path(work), database_url=f"sqlite+aiosqlite:///{work}/bench.db", secret_key="b" * 48
            )
            async with running(settings) as uc:
                ops = await operator(uc, "bench")
                host_ids = await add_hosts(uc, ops, lab.hosts)
                listed = await timed(runs * 10, lambda: uc.infra_ssh.list_hosts(ops, PageRequest(50, 0)))
                p50 = statistics.median(listed)
                say(f"list_hosts p50 (SQLite) {p50:.2f} ms (target < {LIST_MS:.0f}) {verdict(p50 < LIST_MS)}")
                await measure_runs(uc, ops, lab.hosts, host_ids, runs)
                await measure_lease(uc, lab.dev, runs)
                await measure_append(uc, ops, "SQLite", runs * 10)
                await measure_verify(uc, ops, records)
                await measure_forwards(uc, lab, runs, forward_mib)
            async with AsyncExitStack() as stack:
                memory = await build(memory_ports(settings, stack), settings)
                await measure_append(memory, await operator(memory, "bench-mem"), "memory", runs * 10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--forward-mib", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.records, args.forward_mib))
