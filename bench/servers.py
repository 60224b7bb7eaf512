"""The comparison servers, each run by ``run.py`` as its own process, served exactly as
``tesserra serve`` serves (uvicorn.Server.serve() inside an asyncio.Runner on uvloop, httptools,
no access log, lifespan on, no proxy headers):

    python bench/servers.py ceiling --port N --body FILE
        (a) a bare Litestar app: GET /api/auth/me answers the JSON captured from Tesserra's /api/auth/me.

    python bench/servers.py rawpg --port N --dsn postgresql://... --sql FILE
        GET /api/admin/tenants?limite=&offset= running the SQL that SqlTenants.list issues
        (captured from SQLAlchemy, see run.py) through a raw asyncpg pool, same JSON shape.

Nothing from Tesserra is imported here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, get


def ceiling_app(body: bytes) -> Litestar:
    # a dict, serialized by Litestar's msgspec encoder per request
    payload = msgspec.json.decode(body, type=dict[str, Any])

    @get("/api/auth/me")
    async def me() -> dict[str, Any]:
        return payload

    return Litestar(route_handlers=[me])


async def _no_reset(_conn: Any) -> None:
    return None


def rawpg_app(dsn: str, sql: dict[str, str], pool_size: int) -> Litestar:
    import asyncpg

    state: dict[str, Any] = {}
    page_sql, count_sql = sql["page"], sql["count"]

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        # SQLAlchemy's pool for Tesserra: pool_size=10, max_overflow=10. No reset query on release
        # (asyncpg's default runs one more round trip per request, which SQLAlchemy does not).
        state["pool"] = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=2 * pool_size, reset=_no_reset)
        try:
            yield
        finally:
            await state["pool"].close()

    @get("/api/admin/tenants")
    async def tenants(limite: int = 50, offset: int = 0) -> dict[str, Any]:
        pool = state["pool"]
        async with pool.acquire() as conn:
            rows = await conn.fetch(page_sql, limite, offset)
            if offset == 0 and len(rows) < limite:  # the same shortcut SqlTenants.list takes
                total = len(rows)
            else:
                total = await conn.fetchval(count_sql)
        return {"items": [dict(r) for r in rows], "total": int(total), "limite": limite, "offset": offset}

    return Litestar(route_handlers=[tenants], lifespan=[lifespan])


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main())


def serve(app: Litestar, host: str, port: int) -> None:
    async def main() -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
            proxy_headers=False,
        )
        await uvicorn.Server(config).serve()

    _run(main)


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ceiling", "rawpg"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, help="ceiling: the JSON body to answer")
    parser.add_argument("--dsn", help="rawpg: asyncpg DSN")
    parser.add_argument("--sql", type=Path, help='rawpg: {"page": ..., "count": ...} JSON file')
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    if args.kind == "ceiling":
        app = ceiling_app(args.body.read_bytes())
    else:
        app = rawpg_app(args.dsn, json.loads(args.sql.read_text()), args.pool_size)
    serve(app, args.host, args.port)


if __name__ == "__main__":
    cli()
