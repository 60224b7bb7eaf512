"""SIGTERM drains `tesserra serve` (issue 15): /ready answers 503 at once, new connections are refused
after TESSERRA_DRAIN_DELAY, a request in flight still completes, and the process exits 0 within
TESSERRA_DRAIN_GRACE. Over real sockets against the real process (two workers and a supervisor)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.raw_http import read_answer, request_head
from tests.cli.served import Server, healthy, start, stop
from tests.support import free_port

LOGIN = json.dumps({"email": "admin@tesserra.local", "password": "hardening-password-1"}).encode()


REFUSED = -1
CUT = -2


async def _ready_status(server: Server) -> int:
    """/ready on a new connection: its status, REFUSED when the connection is refused, or CUT when it
    was closed unanswered (accepted just as accepting stopped: neither ready nor refused)."""
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(f"{server.url}/ready")).status_code
    except httpx.ConnectError:
        return REFUSED
    except httpx.TransportError:
        return CUT


async def _until(condition_name: str, check: object, within: float) -> float:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return time.monotonic()
        await asyncio.sleep(0.05)
    pytest.fail(f"{condition_name} did not happen within {within} s")


async def _in_flight_login(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection a worker has accepted (a first request answered on it), then a login whose body is
    only half sent: a request in flight until the test sends the rest."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("/health"))
    await writer.drain()
    assert (await asyncio.wait_for(read_answer(reader), 10)).status == 200
    head = request_head(
        "/api/auth/login",
        [("Content-Type", "application/json"), ("Content-Length", str(len(LOGIN)))],
        method="POST",
    )
    writer.write(head + LOGIN[:10])
    await writer.drain()
    return reader, writer


def _wait(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        return process.wait(seconds)
    return None


async def test_sigterm_turns_ready_off_then_stops_accepting_and_finishes_the_request_in_flight(
    tmp_path: Path,
) -> None:
    server = start(tmp_path, free_port(), "--workers", "2", TESSERRA_DRAIN_DELAY="3", TESSERRA_DRAIN_GRACE="60")
    try:
        await healthy(server)
        assert await _ready_status(server) == 200
        reader, writer = await _in_flight_login(server.port)

        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)  # the supervisor, which forwards it to both workers

        async def draining() -> bool:
            return await _ready_status(server) == 503

        async def refused() -> bool:
            return await _ready_status(server) == REFUSED

        turned = await _until("/ready answering 503", draining, 10)
        closed = await _until("new connections being refused", refused, 30)
        assert turned < closed
        assert closed - signalled >= 3 - 0.5  # the delay lets a balancer see /ready first
        assert server.process.poll() is None, "the server left before its request in flight was answered"

        writer.write(LOGIN[10:])
        await writer.drain()
        answer = await asyncio.wait_for(read_answer(reader), 30)
        assert answer.status == 200, answer.body
        assert "access_token" in answer.json()
        writer.close()

        assert await asyncio.to_thread(_wait, server.process, 30) == 0, server.log.read_text()
    finally:
        stop(server)


async def test_a_request_that_outlives_the_grace_period_does_not_keep_the_server(tmp_path: Path) -> None:
    server = start(tmp_path, free_port(), TESSERRA_DRAIN_DELAY="0.5", TESSERRA_DRAIN_GRACE="2")
    try:
        await healthy(server)
        reader, writer = await _in_flight_login(server.port)
        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        assert await asyncio.to_thread(_wait, server.process, 30) == 0, server.log.read_text()
        assert time.monotonic() - signalled < 20
        # cut off at the end of the grace: a 5xx (uvicorn answers 500 for a cancelled request), or closed
        rest = await asyncio.wait_for(reader.read(), 10)
        assert rest == b"" or rest.startswith(b"HTTP/1.1 5"), rest
        writer.close()
    finally:
        stop(server)


async def test_sigint_still_stops_at_once(tmp_path: Path) -> None:
    server = start(tmp_path, free_port(), TESSERRA_DRAIN_DELAY="30")
    try:
        await healthy(server)
        signalled = time.monotonic()
        os.kill(server.process.pid, signal.SIGINT)
        assert await asyncio.to_thread(_wait, server.process, 20) == 0, server.log.read_text()
        assert time.monotonic() - signalled < 15  # not the 30 s drain delay
    finally:
        stop(server)
