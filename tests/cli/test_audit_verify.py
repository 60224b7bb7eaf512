"""`tesserra audit verify --tenant-id ID`: ok with the number of records, or exit 1 naming the first bad one
after the database was edited."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, insert, update

import tesserra_http
from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from tesserra_core.usecases.infra_ssh_views import HostChanges
from tests.cli.command import BACKENDS, SECRET, command_env, tesserra
from tests.support import database_url
from tests.unit.infra_ssh_support import operator, simulated_host


@pytest.mark.parametrize("kind", BACKENDS)
async def test_audit_verify_names_the_first_bad_record(kind: str, tmp_path: Path) -> None:
    async with database_url(kind, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET)
        async with running(settings) as uc:
            ops = await operator(uc)
            view, _ = await simulated_host(uc, ops)  # the real SSH port is not called: nothing runs here
            for port in (2201, 2202, 2203):
                await uc.infra_ssh.change_host(ops, view.id, HostChanges(port=port))
            env = command_env(
                TESSERRA_DATABASE_URL=url,
                TESSERRA_SECRET_KEY=SECRET,
                TESSERRA_DATA_DIR=str(tmp_path / "data"),
                PYTHONPATH=str(Path(tesserra_http.__file__).parents[1]),  # this checkout's code
            )
            intact = await tesserra("audit", "verify", "--tenant-id", ops.tenant_id, env=env)
            assert intact.code == 0, intact.stderr
            assert f"audit of tenant {ops.tenant_id}: ok, 4 records, 0 checkpoints" in intact.stdout
            marked = await tesserra("audit", "checkpoint", "--tenant-id", ops.tenant_id, env=env)
            assert marked.code == 0, marked.stderr
            assert "checkpoint at seq 4" in marked.stdout
            assert list((tmp_path / "data" / "audit-checkpoints" / ops.tenant_id).glob("*.json"))
            checked = await tesserra("audit", "verify", "--tenant-id", ops.tenant_id, env=env)
            assert "ok, 4 records, 1 checkpoints" in checked.stdout
            uow = uc.ports.uow
            assert isinstance(uow, SqlUnitOfWorkFactory)
            last = t.ssh_audit.select().where(t.ssh_audit.c.tenant_id == ops.tenant_id, t.ssh_audit.c.seq == 4)
            async with uow.engine.begin() as conn:  # the tail removed, then put back
                row = (await conn.execute(last)).one()
                await conn.execute(delete(t.ssh_audit).where(t.ssh_audit.c.id == row.id))
            cut = await tesserra("audit", "verify", "--tenant-id", ops.tenant_id, env=env)
            assert cut.code == 1
            assert "bad checkpoint seq 4" in cut.stdout
            assert "removed" in cut.stdout
            async with uow.engine.begin() as conn:
                await conn.execute(insert(t.ssh_audit).values(row._asdict()))
            async with uow.engine.begin() as conn:
                stmt = update(t.ssh_audit).where(t.ssh_audit.c.tenant_id == ops.tenant_id, t.ssh_audit.c.seq == 3)
                await conn.execute(stmt.values(detail="changed nothing"))
            broken = await tesserra("audit", "verify", "--tenant-id", ops.tenant_id, env=env)
    assert broken.code == 1
    assert "first bad record seq 3" in broken.stdout
    assert "edited" in broken.stdout
