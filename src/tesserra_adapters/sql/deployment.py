"""This deployment's id (table ``deployment``, one row made by its migration): what every node sharing
the database has in common and no other deployment has. The Docker runtime labels its containers
with it, so that two deployments on one engine (two servers of different databases, as tests and
staging run) never list, adopt or reap each other's containers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql import schema as t


async def deployment_id(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        found = (await conn.execute(select(t.deployment.c.id).order_by(t.deployment.c.created_at).limit(1))).scalar()
    if found is None:  # the migration makes the row: a database without one was edited by hand
        raise RuntimeError("the database has no deployment id (table deployment is empty)")
    return str(found)
