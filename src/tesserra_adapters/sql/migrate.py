"""Schema migrations (Alembic), the only way the schema is created or changed.

A server starts on a database already at head far more often than not, so that case is checked
without Alembic: the head is the newest script in ``migrations/versions`` (named ``NNNN_*.py``,
revision ``NNNN``, one line of history; a test holds the names to what Alembic reads), the
database's revision one ``SELECT`` of ``alembic_version``. Alembic (~10 MB and ~0.1 s of imports,
and every script loaded) is imported only when there is something to run.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

_HERE = Path(__file__).parent
VERSIONS = _HERE / "migrations" / "versions"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_HERE / "migrations"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision, from the scripts' names (``0007_sandboxes.py`` is revision ``0007``)."""
    return max((p.name.partition("_")[0] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py")), default=None)


def _stored_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_stored_revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> bool:
    """Bring the schema to ``revision``; False if it already was at head (nothing run)."""
    if revision == "head" and await current_revision(engine) == head_revision():
        return False
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: object) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
    return True


def upgrade_url(url: str, revision: str = "head") -> None:
    """For the shell: migrate the database at ``url``."""
    from tesserra_adapters.sql.engine import open_engine

    async def main() -> None:
        engine = open_engine(url)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(main())
