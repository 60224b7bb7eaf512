"""One schema: the tables the adapters map (sql/schema.py) are exactly what the migrations create.

Alembic's autogenerate comparison runs against a freshly migrated SQLite file and PostgreSQL
database; any difference (a column, an index, a type, a nullability) means the two have drifted.
"""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql.schema import metadata

pytestmark = pytest.mark.parametrize(
    "backend",
    [pytest.param("sqlite", id="sqlite"), pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)],
)


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff
        for diff in compare_metadata(context, metadata)
        if not (isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version")
    ]


async def test_the_migrated_schema_is_the_mapped_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []
