"""A server restart resumes what the last one left unsettled: on SQLite with the process runtime
(whose workloads outlive the server), a resource left ``provisioning`` by a crash is provisioned
again on start, its half-made workload and a stray of a deleted resource are removed."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from tesserra_adapters.bootstrap import running
from tesserra_core.domain.resources import ResourceStatus, owner_of
from tesserra_core.ports.runtime import WorkloadSpec
from tesserra_core.usecases.projects import NewProject
from tesserra_core.usecases.resources import NewResource
from tesserra_core.usecases.sessions import Credentials
from tests import support

EMAIL = "owner@restart.tesserra.test"
PASSWORD = "restart-password-1"
SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


async def test_a_restart_resumes_provisioning_and_reaps_strays(tmp_path: Path) -> None:
    settings = support.test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", runtime="process")
    async with running(settings) as uc:
        assert await uc.operators.ensure_first_owner(EMAIL, PASSWORD)
        owner = await uc.authenticate((await uc.sessions.login(Credentials(EMAIL, PASSWORD))).access_token)
        pid = (await uc.projects.create(owner, NewProject(name="p"))).id
        config = {"image": "n/a", "command": SLEEPER, "schedule": "@daily"}
        created = await uc.resources.create(owner, pid, NewResource(type="cron_job", name="job", config=config))
        await uc.provisioner.settled()
        first = await uc.resources.get(owner, created.id)
        assert first.status is ResourceStatus.RUNNING, first
        half_made = (await uc.ports.runtime.list(owner_of(created.id)))[0]
        # The crash: the row says provisioning, with no workload recorded; a workload runs anyway.
        async with uc.ports.uow() as uow:
            stored = await uow.resources.find(created.id)
            assert stored is not None
            await uow.resources.update(
                msgspec.structs.replace(stored, status=ResourceStatus.PROVISIONING, workload_id=None)
            )
            await uow.commit()
        stray = await uc.ports.runtime.run(
            WorkloadSpec(owner=owner_of("01deletedresource"), tenant_id=owner.tenant_id, command=tuple(SLEEPER))
        )

    async with running(settings) as uc, uc.provisioner.running():
        await uc.provisioner.settled()
        resumed = await uc.resources.get(owner, created.id)
        assert resumed.status is ResourceStatus.RUNNING, resumed
        workloads = await uc.ports.runtime.list(owner_of(created.id))
        assert len(workloads) == 1
        assert workloads[0].id != half_made.id
        assert await uc.ports.runtime.inspect(half_made.id) is None
        assert await uc.ports.runtime.inspect(stray.id) is None
        await uc.resources.delete(owner, created.id)
        await uc.provisioner.settled()
        assert await uc.ports.runtime.list("resource:") == []
