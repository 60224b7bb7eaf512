"""A default `tesserra serve` (SQLite, process runtime, no Stripe key, no Docker, no Redis) never
imports the SDKs it loads on demand: they are the ~50 MB and ~0.5 s that start-up once grew by
(bench/README.md, "Cold start" and "Idle RSS"). The server runs as a real process through the
`tesserra` entry point, serves requests, and on exit names every top-level package it imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

import tesserra_http
from tests.cli.served import Server, healthy, serve_env, stop
from tests.support import free_port

ON_DEMAND = {
    *("mcp", "mcp_types", "pydantic", "alembic", "httpx", "dns", "stripe", "aiodocker", "aiohttp", "redis", "asyncssh"),
    "prometheus_client",
    "jinja2",
    *("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.proto", "google"),
}
"""/mcp and tool calls (the MCP SDK, pydantic with it), migrations to run (alembic), outbound HTTP
(httpx), DNS (dnspython), billing (stripe), the Docker runtime (aiodocker, aiohttp), Redis, Infra SSH (asyncssh),
metrics (prometheus_client, only with TESSERRA_METRICS_TOKEN), the console's templates (jinja2), traces
(the OpenTelemetry SDK, its exporter and protobuf, only with an OTLP endpoint; the OpenTelemetry *API* is
imported by Litestar itself when installed, probing for its own plugin, so its subpackages are named)."""

_SERVE = """
import atexit, json, sys
top = lambda m: ".".join(m.split(".")[:2]) if m.startswith("opentelemetry.") else m.split(".")[0]
atexit.register(lambda: print(json.dumps(sorted({top(m) for m in sys.modules})), flush=True))
from tesserra_http.cli import main
main(["serve", "--port", sys.argv[1]])
"""


def _spawn(tmp: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The server from the code under test, in a session of its own."""
    env = {**serve_env(tmp), "PYTHONPATH": str(Path(tesserra_http.__file__).parents[1])}
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", _SERVE, str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=env,
            cwd=tmp,
            start_new_session=True,
        )


async def _imported_by_a_start(tmp: Path, name: str) -> set[str]:
    """Start the server, log in, ask /api/auth/me and the tenant list, stop it (SIGINT)."""
    port = free_port()
    log = tmp / f"{name}.log"
    process = _spawn(tmp, port, log)
    server = Server(process, port, log)
    try:
        await healthy(server)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            login = await http.post(
                "/api/auth/login", json={"email": "admin@tesserra.local", "password": "hardening-password-1"}
            )
            assert login.status_code == 200, login.text
            bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
            assert (await http.get("/api/auth/me", headers=bearer)).status_code == 200
            assert (await http.get("/api/admin/tenants", headers=bearer)).status_code == 200
    finally:
        stop(server)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    assert process.returncode == 0, (out, log.read_text())
    return set(json.loads(out.strip().splitlines()[-1]))


async def test_a_default_server_imports_no_sdk_it_loads_on_demand(tmp_path: Path) -> None:
    first = await _imported_by_a_start(tmp_path, "first")  # an empty database: the migrations run
    assert first & ON_DEMAND == {"alembic"}
    again = await _imported_by_a_start(tmp_path, "again")  # at head: nothing to run, no alembic
    assert again & ON_DEMAND == set()
    assert {"tesserra_http", "litestar", "sqlalchemy", "aiosqlite"} <= again  # what it did import is seen
