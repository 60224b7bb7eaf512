"""Engines by URL: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from tesserra_adapters.settings import make_private


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA foreign_keys=ON",
        "PRAGMA busy_timeout=10000",
        # 1 MiB of page cache per connection, not SQLite's 2 MiB: every pooled connection (10) keeps
        # its cache full for good, ~10 MB of a server's idle RSS after load (bench/README.md), while
        # the pages it drops stay in the OS's file cache, one pread away.
        "PRAGMA cache_size=-1024",
    ):
        cursor.execute(pragma)
    cursor.close()


_READ_ONLY = "tesserra_read_only"


def _sqlite_begin(conn: Any) -> None:
    """Writers take the write lock up front (BEGIN IMMEDIATE) and so queue on busy_timeout,
    instead of failing when a read snapshot must be upgraded; readers (``read_only``) begin nothing."""
    if not conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The engine as readers use it: each statement on its own, no BEGIN and no COMMIT round trips.

    PostgreSQL: AUTOCOMMIT. SQLite: its connections are in autocommit already (``_sqlite_pragmas``),
    so readers only skip the BEGIN IMMEDIATE; asking SQLAlchemy for AUTOCOMMIT there would switch the
    isolation level on every checkout and back on every return, a PRAGMA each way, each a trip to
    aiosqlite's thread."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_READ_ONLY: True})
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def open_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An engine for ``url``. A file or server database gets a pool of ``pool_size`` connections and
    no overflow: an overflow connection is closed when it comes back to a full pool, so under steady
    load they were opened and closed over and over (PostgreSQL, 64 clients on a list path: 550-720
    req/s with 10 + 10 overflow, 820-1,050 with 10 and none). A unit of work waits for one of them
    in turn (``SqlUnitOfWorkFactory``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        if parsed.database and not memory and not parsed.query.get("uri"):
            with contextlib.suppress(OSError):  # e.g. no such directory: SQLite says so when it connects
                make_private(Path(parsed.database), directory=False)  # its -wal and -shm files take its mode
        pooled: dict[str, Any] = {"poolclass": StaticPool} if memory else {"pool_size": pool_size, "max_overflow": 0}
        engine = create_async_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False} if memory else {},
            **pooled,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            pool_pre_ping=False,
            pool_recycle=1800,
        )
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")
