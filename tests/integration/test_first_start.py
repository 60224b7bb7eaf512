"""Several nodes starting together on one empty database (a Deployment's replicas, say) make one first
owner: the others find it made and go on, instead of failing on its tenant's slug. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tests.cli.command import BACKENDS, SECRET
from tests.support import database_url
from tests.unit.helpers import PASSWORD


@pytest.mark.parametrize("kind", BACKENDS)
async def test_nodes_starting_together_make_one_first_owner(kind: str, tmp_path: Path) -> None:
    async with database_url(kind, tmp_path) as url:
        settings = Settings(data_dir=tmp_path / "data", database_url=url, secret_key=SECRET)
        async with running(settings) as one, running(settings) as two, running(settings) as three:
            made = await asyncio.gather(
                *(
                    node.operators.ensure_first_owner(f"first-{n}@tesserra.test", PASSWORD)
                    for n, node in enumerate((one, two, three))
                )
            )
            async with one.ports.uow(read_only=True) as uow:
                users = await uow.users.count()

    assert sorted(made) == [False, False, True]
    assert users == 1
