"""Runner leases as rows, shared by every worker and node on the database (SQLite or PostgreSQL).
Times are epoch seconds from each process's clock: nodes keep their clocks in step (NTP) to well
within a lease's ttl."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from sqlalchemy import ARRAY, Boolean, Float, Insert, String, bindparam, case, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.engine import read_only
from tesserra_adapters.sql.limits import insert_new
from tesserra_adapters.sql.nodes import BEAT_COLUMNS, BEAT_UPDATES, SqlNodes
from tesserra_core.ports.leases import Fence, LeaseLost, NodeBeat, RunnerLease

_MAX_ERROR = 500


class SqlRunnerLeases:
    def __init__(
        self, engine: AsyncEngine, clock: Callable[[], float] = time.time, *, nodes: SqlNodes | None = None
    ) -> None:
        """``nodes``: the nodes' rows on the same database, where a claim's ``beat`` is written."""
        self._engine = engine
        self._clock = clock
        self._nodes = nodes
        self.carries_beats = nodes is not None
        self._reader = read_only(engine)
        """Autocommit: ``claim_all``'s one statement on PostgreSQL commits by itself."""
        self._claims: dict[str, Insert] = {}
        """``claim_all``'s statement per dialect, built once: its rows go as parameters (one statement
        with a VALUES row per lease, ``insertmanyvalues``), so its compiled form is cached, where
        literal rows made it compile anew every tick."""

    async def claim(self, name: str, holder: str, ttl: float) -> int | None:
        now = self._clock()
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            taken = (
                await conn.execute(
                    update(t.runner_leases)
                    .where(
                        lease.name == name,
                        (lease.holder == holder) | lease.holder.is_(None) | (lease.expires_at <= now),
                    )
                    .values(
                        holder=holder,
                        expires_at=now + ttl,
                        generation=case((lease.holder == holder, lease.generation), else_=lease.generation + 1),
                    )
                    .returning(lease.generation)
                )
            ).scalar()
            if taken is not None:
                return int(taken)
            row = {"name": name, "holder": holder, "expires_at": now + ttl, "generation": 1}
            return 1 if await insert_new(conn, t.runner_leases, row) else None

    async def claim_all(
        self,
        holder: str,
        ttl: float,
        names: Sequence[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None = None,
    ) -> dict[str, int]:
        """One upsert for every lease: a row missing is inserted (generation 1); one free, expired or
        already ``holder``'s is taken or renewed (a takeover increments the generation) and, where a
        round ended, its outcome recorded; one another holder keeps is left as it is and not returned.
        ``beat``: the node's row upserted in the same transaction, after the leases' rows."""
        if beat is not None and self._nodes is None:
            raise ValueError("these leases keep no nodes: the beat goes to Nodes.beat")
        if not names and beat is None:
            return {}
        now = self._clock()
        if self._engine.dialect.name == "postgresql":
            return await self._claim_all_pg(holder, now, ttl, sorted(names), ran, beat)
        rows = [
            {
                "name": name,
                "holder": holder,
                "expires_at": now + ttl,
                "generation": 1,
                "last_run_at": now if name in ran else None,
                "last_error": (ran.get(name) or "")[:_MAX_ERROR] or None,
                "claimant": holder,
                "expired_by": now,
            }
            for name in sorted(names)  # every claimant locks the rows in one order
        ]
        async with self._engine.begin() as conn:
            held = {}
            if rows:
                claimed = self._claims.get(conn.dialect.name)
                if claimed is None:
                    claimed = self._claims[conn.dialect.name] = _claim_statement(conn.dialect.name)
                held = {row.name: int(row.generation) for row in await conn.execute(claimed, rows)}
            if beat is not None and self._nodes is not None:
                await self._nodes.beat_on(conn, beat.node_id, beat.name, beat.started_at)
            return held

    async def _claim_all_pg(
        self,
        holder: str,
        now: float,
        ttl: float,
        names: list[str],
        ran: Mapping[str, str | None],
        beat: NodeBeat | None,
    ) -> dict[str, int]:
        """``claim_all`` on PostgreSQL: one statement on its own (no BEGIN nor COMMIT round trips), the
        leases' rows from arrays in ``names``' order (every claimant locks them in one order) and the
        node's beat in a data-modifying CTE (skipped without one), atomic as any single statement."""
        node = self._nodes.beat_row(beat, now) if beat is not None and self._nodes is not None else None
        params = {
            "names": names,
            "ran": [name in ran for name in names],
            "errors": [(ran.get(name) or "")[:_MAX_ERROR] or None for name in names],
            "holder": holder,
            "expires_at": now + ttl,
            "now": now,
            "beating": node is not None,
            **(node or dict.fromkeys(BEAT_COLUMNS)),
        }
        async with self._reader.connect() as conn:
            return {row.name: int(row.generation) for row in await conn.execute(_PG_CLAIM, params)}

    async def release(self, name: str, holder: str) -> None:
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.runner_leases)
                .where(lease.name == name, lease.holder == holder)
                .values(holder=None, expires_at=self._clock())
            )

    async def record(self, name: str, holder: str, error: str | None) -> None:
        lease = t.runner_leases.c
        async with self._engine.begin() as conn:
            await conn.execute(
                update(t.runner_leases)
                .where(lease.name == name, lease.holder == holder)
                .values(last_run_at=self._clock(), last_error=None if error is None else error[:_MAX_ERROR])
            )

    async def all(self) -> list[RunnerLease]:
        lease = t.runner_leases.c
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(t.runner_leases).order_by(lease.name))).all()
        return [
            RunnerLease(
                name=r.name,
                holder=r.holder,
                expires_at=r.expires_at,
                generation=r.generation,
                last_run_at=r.last_run_at,
                last_error=r.last_error,
            )
            for r in rows
        ]


_PG_CLAIM = text(
    f"""
    WITH beat AS (
        INSERT INTO nodes ({", ".join(BEAT_COLUMNS)})
        SELECT {", ".join(f":{column}" for column in BEAT_COLUMNS)} WHERE :beating
        ON CONFLICT (id) DO UPDATE SET {", ".join(f"{column} = excluded.{column}" for column in BEAT_UPDATES)}
    )
    INSERT INTO runner_leases AS lease (name, holder, expires_at, generation, last_run_at, last_error)
    SELECT claimed.name, :holder, :expires_at, 1, CASE WHEN claimed.ran THEN :now END, claimed.error
    FROM unnest(CAST(:names AS VARCHAR[]), CAST(:ran AS BOOLEAN[]), CAST(:errors AS VARCHAR[]))
        WITH ORDINALITY AS claimed(name, ran, error, position)
    ORDER BY claimed.position
    ON CONFLICT (name) DO UPDATE SET
        holder = excluded.holder,
        expires_at = excluded.expires_at,
        generation = CASE WHEN lease.holder = excluded.holder THEN lease.generation ELSE lease.generation + 1 END,
        last_run_at = coalesce(excluded.last_run_at, lease.last_run_at),
        last_error = CASE WHEN excluded.last_run_at IS NULL THEN lease.last_error ELSE excluded.last_error END
    WHERE lease.holder = :holder OR lease.holder IS NULL OR lease.expires_at <= :now
    RETURNING lease.name, lease.generation
    """  # noqa: S608 - only this module's column names are formatted in; every value is a bound parameter
).bindparams(
    bindparam("names", type_=ARRAY(String)),
    bindparam("ran", type_=ARRAY(Boolean)),
    bindparam("errors", type_=ARRAY(String)),
    bindparam("holder", type_=String),
    bindparam("expires_at", type_=Float),
    bindparam("now", type_=Float),
    bindparam("beating", type_=Boolean),
    *(bindparam(column, type_=t.nodes.c[column].type) for column in BEAT_COLUMNS),
)
"""``claim_all`` on PostgreSQL (``SqlRunnerLeases._claim_all_pg``): the same upsert as ``_claim_statement``,
and the node's row as ``SqlNodes``' beat writes it (the columns named once, ``BEAT_COLUMNS``)."""


def _claim_statement(dialect_name: str) -> Insert:
    """The upsert of ``claim_all``, its rows (and ``claimant``, ``expired_by``) given as parameters."""
    lease = t.runner_leases.c
    upsert: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(t.runner_leases) if dialect_name == "postgresql" else sqlite.insert(t.runner_leases)
    )
    new = upsert.excluded
    claimant = bindparam("claimant", type_=lease.holder.type)
    return upsert.on_conflict_do_update(
        index_elements=[lease.name],
        set_={
            "holder": new.holder,
            "expires_at": new.expires_at,
            "generation": case((lease.holder == new.holder, lease.generation), else_=lease.generation + 1),
            "last_run_at": func.coalesce(new.last_run_at, lease.last_run_at),
            "last_error": case((new.last_run_at.is_(None), lease.last_error), else_=new.last_error),
        },
        where=(lease.holder == claimant)
        | lease.holder.is_(None)
        | (lease.expires_at <= bindparam("expired_by", type_=lease.expires_at.type)),
    ).returning(lease.name, lease.generation)


async def fenced(conn: AsyncConnection, fence: Fence) -> None:
    """In the transaction about to commit on ``conn``: raise ``LeaseLost`` unless lease ``fence.name``
    still has the fence's holder and generation. The check is a write of the lease row (to itself), so
    the row stays locked until the commit (PostgreSQL's row lock, SQLite's write lock): a takeover waits
    for this commit, or this commit sees the takeover, never both."""
    fence.check()
    lease = t.runner_leases.c
    held = await conn.execute(
        update(t.runner_leases)
        .where(lease.name == fence.name, lease.holder == fence.holder, lease.generation == fence.generation)
        .values(generation=lease.generation)
    )
    if not held.rowcount:
        fence.lost = True
        raise LeaseLost(fence.name)
