"""The sandbox proxy on `tesserra serve --workers 2` (how an operator runs it on a multi-core machine),
with a process-runtime sandbox (the echo server): a token minted through one worker opens the sandbox
through the other, proxied requests on either worker keep the sandbox's idle clock from running out,
and a revocation answered by one worker cuts the streams both hold open. Each connection is pinned
to a worker by reading which worker process holds its server-side socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cli.raw_http import Answer, read_answer
from tests.cli.served import Server, healthy, serving

ECHO = Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py"
EMAIL, PASSWORD = "owner@workers.tesserra.test", "workers-password-7"
HEADER = "X-Tesserra-Proxy-Token"
CUT_WITHIN = 2.0
"""Seconds after a revocation's answer by which a stream it ends must be closed (as on one process)."""


def _worker_pids(server: Server) -> list[int]:
    return [int(p) for p in re.findall(r"listening on .* \(pid (\d+)", server.log.read_text())]


def _served_by(server_port: int, client_port: int, workers: list[int]) -> int | None:
    """The worker holding the server side of the connection from ``client_port``: its socket's inode
    in /proc/net/tcp, looked for among each worker's file descriptors."""
    wanted = f"0100007F:{server_port:04X} 0100007F:{client_port:04X}"
    inode = next(
        (line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if wanted in line), None
    )
    if inode is None:
        return None
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
    return None


class Connection:
    """One keep-alive HTTP/1.1 connection, served by a known worker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, worker: int) -> None:
        self.reader, self.writer, self.worker = reader, writer, worker

    async def send(self, method: str, target: str, headers: dict[str, str], body: Any = None) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(payload)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        await self.writer.drain()

    async def ask(self, method: str, target: str, headers: dict[str, str], body: Any = None) -> Answer:
        await self.send(method, target, headers, body)
        return await asyncio.wait_for(read_answer(self.reader), 15)

    def close(self) -> None:
        self.writer.close()


async def _connect_to(server: Server, worker: int, workers: list[int]) -> Connection:
    """Connections are dealt out by the kernel: open them until one lands on ``worker``."""
    for _ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        client_port = writer.get_extra_info("sockname")[1]
        for _ in range(50):  # the worker may not have accepted it yet
            owner = _served_by(server.port, client_port, workers)
            if owner is not None:
                break
            await asyncio.sleep(0.01)
        if owner == worker:
            return Connection(reader, writer, worker)
        writer.close()
    pytest.fail(f"no connection landed on worker {worker}")


class Pinned:
    """A server with two workers, and a connection to each."""

    def __init__(self, server: Server, workers: list[int]) -> None:
        self.server, self.workers = server, workers
        self.opened: list[Connection] = []

    async def to(self, worker: int) -> Connection:
        self.opened.append(await _connect_to(self.server, worker, self.workers))
        return self.opened[-1]


@asynccontextmanager
async def _two_workers(tmp_path: Path) -> AsyncIterator[tuple[Pinned, Connection, Connection]]:
    env = {"TESSERRA_BOOTSTRAP_EMAIL": EMAIL, "TESSERRA_BOOTSTRAP_PASSWORD": PASSWORD, "TESSERRA_RUNTIME": "process"}
    async with serving(tmp_path, "--workers", "2", **env) as server:
        await healthy(server)
        for _ in range(300):
            if len(workers := _worker_pids(server)) == 2:
                break
            await asyncio.sleep(0.1)
        assert len(workers) == 2, server.log.read_text()
        pinned = Pinned(server, workers)
        try:
            yield pinned, await pinned.to(workers[0]), await pinned.to(workers[1])
        finally:
            for opened in pinned.opened:
                opened.close()


async def _login(via: Connection) -> dict[str, str]:
    answer = await via.ask(
        "POST",
        "/api/auth/login",
        {"Content-Type": "application/json"},
        {
            "email": EMAIL,
            "password": PASSWORD,
        },
    )
    assert answer.status == 200, answer.body
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _sandbox(via: Connection, bearer: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"name": "echo", "command": [str(ECHO)], "ports": [8000], **fields}
    created = await via.ask("POST", "/api/sandboxes", {**bearer, "Content-Type": "application/json"}, body)
    assert created.status == 201, created.body
    box = created.json()
    assert box["state"] == "running", box
    return box


async def _mint(via: Connection, bearer: dict[str, str], sid: str) -> dict[str, Any]:
    minted = await via.ask("GET", f"/api/runtime/proxy-auth/{sid}", bearer)
    assert minted.status == 200, minted.body
    return minted.json()


async def _served(via: Connection, sid: str, token: str) -> Answer:
    """The sandbox's server may take a moment to listen after the sandbox runs."""
    for _ in range(100):
        answer = await via.ask("GET", f"/api/runtime/proxy/{sid}/", {HEADER: token})
        if answer.status != 502:
            return answer
        await asyncio.sleep(0.1)
    return answer


async def test_a_token_minted_on_one_worker_opens_the_sandbox_on_the_other_and_both_reset_its_idle_clock(
    tmp_path: Path,
) -> None:
    async with _two_workers(tmp_path) as (pinned, first, second):
        bearer = await _login(first)
        box = await _sandbox(first, bearer, idle_timeout_seconds=3, on_idle="pause")
        sid = box["id"]
        token = (await _mint(first, bearer, sid))["token"]
        answer = await _served(second, sid, token)
        assert answer.status == 200, answer.body
        assert answer.json()["target"] == "/"
        assert (await first.ask("GET", f"/api/runtime/proxy/{sid}/", {HEADER: token})).status == 200
        # the idle timeout is 3 s: 4.5 s of traffic on one worker only, then on the other only
        for via in (second, first):
            began = time.monotonic()
            while time.monotonic() - began < 4.5:
                busy = await via.ask("GET", f"/api/runtime/proxy/{sid}/", {HEADER: token})
                assert busy.status == 200, (via.worker, busy.body)
                await asyncio.sleep(0.3)
            seen = (await first.ask("GET", f"/api/sandboxes/{sid}", bearer)).json()
            assert seen["state"] == "running", (via.worker, seen["events"])
            assert seen["last_activity_at"] > box["last_activity_at"]
        # quiet on both: the reaper pauses it, and either worker's proxy says so
        await asyncio.sleep(5)
        for worker in pinned.workers:  # new connections: the idle ones were closed meanwhile
            via = await pinned.to(worker)
            paused = await via.ask("GET", f"/api/runtime/proxy/{sid}/", {HEADER: token})
            assert paused.status == 409, paused.body
            assert paused.json()["code"] == "sandbox_paused"


async def _stream_ended(via: Connection, since: float) -> float:
    """Seconds from ``since`` until the proxied stream on ``via`` ends: its connection closed, or its
    chunked body finished."""
    tail = b""
    while True:
        piece = await asyncio.wait_for(via.reader.read(65536), CUT_WITHIN + 10)
        tail = (tail + piece)[-16:]
        if not piece or tail.endswith(b"\r\n0\r\n\r\n"):
            return time.monotonic() - since


async def test_a_revocation_answered_by_one_worker_cuts_the_streams_of_both(tmp_path: Path) -> None:
    async with _two_workers(tmp_path) as (pinned, first, second):
        bearer = await _login(first)
        sid = (await _sandbox(first, bearer))["id"]
        doomed = await _mint(second, bearer, sid)
        assert (await _served(first, sid, doomed["token"])).status == 200
        streams = [await pinned.to(first.worker), await pinned.to(second.worker)]
        for stream in streams:
            await stream.send("GET", f"/api/runtime/proxy/{sid}/sse?n=100000&delay=0.05", {HEADER: doomed["token"]})
            status_line = await asyncio.wait_for(stream.reader.readline(), 15)
            assert b" 200 " in status_line, status_line
            await asyncio.wait_for(stream.reader.readuntil(b"data:"), 15)  # events flow
        revoked = await first.ask("DELETE", f"/api/runtime/proxy-auth/{sid}/{doomed['token_id']}", bearer)
        since = time.monotonic()
        assert revoked.status == 200, revoked.body
        took = await asyncio.gather(*(_stream_ended(stream, since) for stream in streams))
        assert max(took) < CUT_WITHIN, f"streams cut after {took} s (worker {[s.worker for s in streams]})"
        for via in (first, second):
            refused = await via.ask("GET", f"/api/runtime/proxy/{sid}/", {HEADER: doomed["token"]})
            assert refused.status == 401, refused.body
            assert refused.json()["code"] == "proxy_token_revoked"
