"""Signed audit checkpoints kept outside the database.

The store's contract (files, memory): a kept checkpoint reads back signed and genuine; changed, or signed by
another key, it is not. Verification against them on memory, SQLite and PostgreSQL: a chain whose tail was
removed past a checkpoint, a chain rewritten consistently (every hash recomputed), and a forged checkpoint
are each named; a chain that grew past its last checkpoint is ok."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.audit_checkpoints import FileAuditCheckpoints, MemoryAuditCheckpoints
from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.sql import schema as t
from tesserra_adapters.system import SystemClock, UlidFactory
from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import GENESIS, AuditEvent, AuditRecord, Checkpoint, Via, sealed
from tesserra_core.ports.audit_checkpoints import AuditCheckpoints
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.usecases.infra_ssh_audit import AuditTrail, CheckpointAudit, ServerAuthor, VerifyAudit
from tests.contract.project_entities import seed_tenant

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "files"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AuditCheckpoints:
    return MemoryAuditCheckpoints() if request.param == "memory" else FileAuditCheckpoints(tmp_path / "marks")


async def test_a_kept_checkpoint_reads_back_signed_and_only_it_is_genuine(store: AuditCheckpoints) -> None:
    assert await store.last_seq("t1") == 0
    assert await store.of_tenant("t1") == []
    kept = await store.keep(Checkpoint(tenant_id="t1", seq=5, head_hash="a" * 64, at=AT))
    await store.keep(Checkpoint(tenant_id="t1", seq=2, head_hash="b" * 64, at=AT))
    await store.keep(Checkpoint(tenant_id="t2", seq=9, head_hash="c" * 64, at=AT))
    found = await store.of_tenant("t1")
    assert [c.seq for c in found] == [2, 5]
    assert found[1] == kept
    assert kept.signature
    assert all(store.genuine(c) for c in found)
    assert await store.last_seq("t1") == 5
    assert not store.genuine(msgspec.structs.replace(kept, head_hash="d" * 64))
    assert not store.genuine(msgspec.structs.replace(kept, seq=6))
    assert not store.genuine(msgspec.structs.replace(kept, signature="not base64!"))
    other = MemoryAuditCheckpoints()  # another key
    assert not other.genuine(kept)
    assert not store.genuine(await other.keep(Checkpoint(tenant_id="t1", seq=5, head_hash="a" * 64, at=AT)))


async def test_the_file_store_keeps_its_key_and_files_private(tmp_path: Path) -> None:
    FileAuditCheckpoints(tmp_path / "marks")
    assert not (tmp_path / "marks").exists()  # no key made before the first checkpoint
    first = FileAuditCheckpoints(tmp_path / "marks")
    kept = await first.keep(Checkpoint(tenant_id="t1", seq=1, head_hash="a" * 64, at=AT))
    again = FileAuditCheckpoints(tmp_path / "marks")  # a restart reads the same key
    assert again.genuine(kept)
    assert (tmp_path / "marks" / "signing.key").stat().st_mode & 0o077 == 0
    assert (tmp_path / "marks").stat().st_mode & 0o077 == 0
    assert (tmp_path / "marks" / "t1" / "000000000001.json").exists()
    with pytest.raises(ValueError, match="not a tenant id"):
        await again.keep(Checkpoint(tenant_id="../t1", seq=1, head_hash="a" * 64, at=AT))


async def _chain(uow_factory: UnitOfWorkFactory, marks: AuditCheckpoints, n: int) -> tuple[str, list[AuditRecord]]:
    tenant = await seed_tenant(uow_factory)
    trail = AuditTrail(uow_factory, SystemClock(), UlidFactory(), marks, every=5)
    author = ServerAuthor(tenant.id)
    records = [
        await trail.append(author, Via.REST, AuditEvent.RUN, Outcome.OK, detail=f"n{i}", parameters={"i": i})
        for i in range(n)
    ]
    return tenant.id, records


async def _replace_chain(
    uow_factory: UnitOfWorkFactory, engine: AsyncEngine | None, tenant_id: str, records: list[AuditRecord]
) -> None:
    """Put ``records`` in place of the tenant's chain, behind the trail's back."""
    if engine is None:
        assert isinstance(uow_factory, MemoryUnitOfWorkFactory)
        uow_factory.store.ssh_audit[tenant_id] = list(records)
        return
    async with engine.begin() as conn:
        await conn.execute(delete(t.ssh_audit).where(t.ssh_audit.c.tenant_id == tenant_id))
    async with uow_factory() as uow:
        for record in records:
            await uow.ssh_audit.append(record)
        await uow.commit()


def _rewritten(records: list[AuditRecord], seq: int) -> list[AuditRecord]:
    """The chain with record ``seq`` edited and every hash from it on recomputed: consistent in itself."""
    out, prev = [], GENESIS
    for record in records:
        changed = msgspec.structs.replace(record, prev_hash=prev)
        if record.seq == seq:
            changed = msgspec.structs.replace(changed, detail="nothing happened here")
        changed = sealed(changed)
        out.append(changed)
        prev = changed.hash
    return out


async def test_checkpoints_are_kept_and_a_chain_grown_past_them_verifies(uow_factory: UnitOfWorkFactory) -> None:
    marks = MemoryAuditCheckpoints()
    tenant_id, records = await _chain(uow_factory, marks, 12)
    assert [c.seq for c in await marks.of_tenant(tenant_id)] == [5, 10]
    assert [c.head_hash for c in await marks.of_tenant(tenant_id)] == [records[4].hash, records[9].hash]
    on_demand = await CheckpointAudit(uow_factory, marks, SystemClock()).tenant(tenant_id)
    assert on_demand is not None
    assert (on_demand.seq, on_demand.head_hash) == (12, records[11].hash)
    result = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert (result.ok, result.checked, result.checkpoints) == (True, 12, 3)


async def test_a_tail_removed_past_a_checkpoint_is_named(
    uow_factory: UnitOfWorkFactory, engine: AsyncEngine | None
) -> None:
    marks = MemoryAuditCheckpoints()
    tenant_id, records = await _chain(uow_factory, marks, 12)
    await _replace_chain(uow_factory, engine, tenant_id, records[:8])  # 9..12 gone, checkpoint 10 with them
    result = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert not result.ok
    assert (result.bad_checkpoint_seq, result.first_bad_seq, result.checked) == (10, 9, 8)
    assert "removed" in (result.problem or "")


async def test_a_consistent_rewrite_is_named_by_the_checkpoint_after_it(
    uow_factory: UnitOfWorkFactory, engine: AsyncEngine | None
) -> None:
    marks = MemoryAuditCheckpoints()
    tenant_id, records = await _chain(uow_factory, marks, 12)
    await _replace_chain(uow_factory, engine, tenant_id, _rewritten(records, 7))
    result = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert not result.ok
    assert (result.bad_checkpoint_seq, result.first_bad_seq, result.checkpoints) == (10, 10, 1)
    assert "rewritten" in (result.problem or "")


async def test_a_forged_checkpoint_file_is_named(uow_factory: UnitOfWorkFactory, tmp_path: Path) -> None:
    marks = FileAuditCheckpoints(tmp_path / "marks")
    tenant_id, records = await _chain(uow_factory, marks, 6)
    assert (await VerifyAudit(uow_factory, marks).tenant(tenant_id)).ok
    path = tmp_path / "marks" / tenant_id / "000000000005.json"
    kept = msgspec.json.decode(path.read_bytes(), type=Checkpoint)
    path.write_bytes(msgspec.json.encode(msgspec.structs.replace(kept, head_hash="0" * 64)))
    result = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert not result.ok
    assert result.bad_checkpoint_seq == 5
    assert "bad signature" in (result.problem or "")
    path.write_bytes(b"{not json")
    damaged = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert (damaged.ok, damaged.bad_checkpoint_seq) == (False, 5)
    # another tenant's genuine checkpoint copied in is not this tenant's
    path.unlink()
    theirs = await marks.keep(Checkpoint(tenant_id="someone-else", seq=6, head_hash=records[5].hash, at=AT))
    (tmp_path / "marks" / tenant_id / "000000000006.json").write_bytes(msgspec.json.encode(theirs))
    copied = await VerifyAudit(uow_factory, marks).tenant(tenant_id)
    assert (copied.ok, copied.bad_checkpoint_seq) == (False, 6)


class _Broken(MemoryAuditCheckpoints):
    """A store whose disk is full once."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def keep(self, checkpoint: Checkpoint) -> Checkpoint:
        if self.failures:
            self.failures -= 1
            raise OSError("no space left on device")
        return await super().keep(checkpoint)


async def test_a_checkpoint_not_kept_fails_no_append_and_is_kept_at_the_next(uow_factory: UnitOfWorkFactory) -> None:
    marks = _Broken()
    tenant_id, records = await _chain(uow_factory, marks, 6)  # seq 5's checkpoint failed, seq 6 kept one
    assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
    assert [c.seq for c in await marks.of_tenant(tenant_id)] == [6]
    assert (await VerifyAudit(uow_factory, marks).tenant(tenant_id)).ok
