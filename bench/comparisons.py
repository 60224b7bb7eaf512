"""The servers Tesserra is compared with (bench/servers.py): the ceiling (a), a bare Litestar app
answering the same /api/auth/me JSON, and on PostgreSQL a raw asyncpg handler for the tenant list
that runs the statements ``SqlTenants.list`` issues, verbatim. Both must answer Tesserra's JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BENCH, free_port, request, require, say, spawn, wait_ready
from bench.tenants import LIST_PATH, capture_list_sql


@dataclass(frozen=True)
class Comparison:
    port: int
    pid: int


def _servers(mode: str, port: int, *args: str) -> list[str]:
    return [sys.executable, str(BENCH / "servers.py"), mode, "--port", str(port), *args]


def start_ceiling(name: str, work: Path, me_body: bytes) -> Comparison:
    """The ceiling app, serving the /api/auth/me body Tesserra answered (saved as me-<name>.json)."""
    port = free_port()
    body_file = work / f"me-{name}.json"
    body_file.write_bytes(me_body)
    proc = spawn(_servers("ceiling", port, "--body", str(body_file)), os.environ.copy(), work / f"ceiling-{name}.log")
    wait_ready(port, "/api/auth/me", proc)
    ceiling_body = request(port, "GET", "/api/auth/me")[1]
    require(json.loads(ceiling_body) == json.loads(me_body), "the ceiling app answers another body")
    return Comparison(port, proc.pid)


def _capture_list_sql(db_url: str, deep_offset: int, sql_file: Path) -> None:
    statements = asyncio.run(capture_list_sql(db_url, deep_offset))
    require(len(statements) == 2, str(statements))
    (page_sql, page_params), (count_sql, _) = statements
    require(list(page_params) == [50, deep_offset], f"unexpected parameters {page_params}")
    sql_file.write_text(json.dumps({"page": page_sql, "count": count_sql}))
    say("  SqlTenants.list issues (captured from SQLAlchemy, run verbatim by the raw handler):")
    for sql in (page_sql, count_sql):
        say("    " + " ".join(sql.split()))


def start_rawpg(
    name: str, work: Path, db_url: str, raw_dsn: str, deep_offset: int, port: int, bearer: dict[str, str]
) -> Comparison:
    """The raw asyncpg handler, checked to answer Tesserra's JSON (on ``port``) at offset 0 and deep."""
    sql_file = work / "list-sql.json"
    _capture_list_sql(db_url, deep_offset, sql_file)
    raw_port = free_port()
    raw = spawn(
        _servers("rawpg", raw_port, "--dsn", raw_dsn, "--sql", str(sql_file)),
        os.environ.copy(),
        work / f"rawpg-{name}.log",
    )
    wait_ready(raw_port, "/api/admin/tenants?limite=1", raw)
    for offset in (0, deep_offset):
        mine = json.loads(request(port, "GET", LIST_PATH.format(offset), headers=bearer)[1])
        theirs = json.loads(request(raw_port, "GET", LIST_PATH.format(offset))[1])
        require(mine == theirs, f"raw handler answers differently at offset {offset}")
    say("  raw asyncpg handler answers byte-for-byte the same JSON (offset 0 and deep): yes")
    return Comparison(raw_port, raw.pid)
