"""A background loop runs in one worker of `tesserra serve --workers 2` under a lease in the database
(issue 15); when its holder is killed (SIGKILL), the other worker takes it over within 5 s, and a
platform admin sees who holds what on /status (nobody else does)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from tests.cli.served import Server, serving

LEASE = "billing-retries"


async def _worker_pids(server: Server) -> list[int]:
    for _ in range(300):
        pids = [int(p) for p in re.findall(r"listening on .* \(pid (\d+)", server.log.read_text())]
        if len(pids) == 2:
            return pids
        await asyncio.sleep(0.1)
    raise AssertionError(server.log.read_text())


async def _runner(http: httpx.AsyncClient, bearer: dict[str, str]) -> dict[str, Any] | None:
    status = await http.get("/status", headers=bearer)
    assert status.status_code == 200, status.text
    runners = status.json()["runners"]
    return next((r for r in runners if r["name"] == LEASE), None)


async def test_the_other_worker_takes_a_killed_holders_lease_within_5_s(tmp_path: Path) -> None:
    once = httpx.Limits(max_keepalive_connections=0)  # a kept connection could be the killed worker's
    async with (
        serving(tmp_path, "--workers", "2") as server,
        httpx.AsyncClient(base_url=server.url, timeout=30, limits=once) as http,
    ):
        workers = await _worker_pids(server)
        login = await http.post(
            "/api/auth/login", json={"email": "admin@tesserra.local", "password": "hardening-password-1"}
        )
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            assert "runners" not in (await http.get("/status", headers=headers)).json()

        deadline = time.monotonic() + 30
        while (runner := await _runner(http, bearer)) is None or runner["last_run_at"] is None:
            assert time.monotonic() < deadline, runner
            await asyncio.sleep(0.1)
        assert runner["held"], (runner, server.log.read_text()[-3000:])
        assert runner["last_error"] is None
        where, _, pid = runner["holder"].rpartition("/")
        node, _, host = where.partition("@")
        assert host == socket.gethostname()
        assert node == runner["node"] == (tmp_path / "data" / "node_id").read_text().strip()  # both workers' node
        holder = int(pid)
        assert holder in workers
        (other,) = set(workers) - {holder}

        os.kill(holder, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            runner = await _runner(http, bearer)  # only the survivor answers now
            assert runner is not None
            if runner["holder"] == f"{where}/{other}" and runner["held"]:
                break
            assert time.monotonic() - killed < 5.0, runner
            await asyncio.sleep(0.05)
        assert runner["held_here"]
        first_run = runner["last_run_at"]
        deadline = time.monotonic() + 30
        while (await _runner(http, bearer) or {}).get("last_run_at") == first_run:  # the new holder runs rounds
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
