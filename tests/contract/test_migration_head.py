"""A start at head is checked without Alembic (tesserra_adapters.sql.migrate): the head named by the
scripts' file names must be the one Alembic reads from the scripts themselves, and the revision read
with one SELECT the one Alembic reads from the database."""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql import migrate
from tesserra_adapters.sql.engine import open_engine


def test_the_head_from_the_file_names_is_alembics_and_history_is_one_line() -> None:
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert migrate.head_revision() == scripts.get_current_head()
    for script in scripts.walk_revisions():
        assert Path(script.path).name.partition("_")[0] == script.revision
        assert script.down_revision in (None, f"{int(script.revision) - 1:04d}")


async def test_the_stored_revision_is_alembics_before_and_after_the_upgrade(tmp_path: Path) -> None:
    engine: AsyncEngine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    try:
        assert await migrate.current_revision(engine) is None
        assert await migrate.upgrade(engine) is True
        async with engine.connect() as conn:
            alembic_reads = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        assert await migrate.current_revision(engine) == alembic_reads == migrate.head_revision()
        assert await migrate.upgrade(engine) is False  # at head: nothing run
    finally:
        await engine.dispose()
