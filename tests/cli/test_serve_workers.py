"""Workers die with their supervisor, so that the port is free for a restart (issue 9, item 6)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
from pathlib import Path

import pytest

from tests.cli.raw_http import exchange, request_head
from tests.cli.served import Server, healthy, start, stop
from tests.support import free_port

# -- item 6: workers die with their supervisor --------------------------------------------------


def _alive(pid: int) -> bool:
    """Any of its threads still running, as opposed to gone or zombies waiting for whoever adopted the
    process to reap it. The threads count: a killed process's main thread may be a zombie while
    others still exit, holding the shared socket open."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        with contextlib.suppress(FileNotFoundError):
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
    return any(state not in ("Z", "X") for state in states)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the supervisor binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _worker_pids(server: Server, workers: int) -> list[int]:
    for _ in range(300):
        pids = [int(p) for p in re.findall(r"listening on .* \(pid (\d+)", server.log.read_text())]
        if len(pids) == workers:
            return pids
        await asyncio.sleep(0.1)
    pytest.fail(f"{workers} workers did not start:\n{server.log.read_text()}")


@pytest.mark.parametrize("target", ["supervisor", "process group"])
async def test_workers_die_with_a_killed_supervisor_and_the_port_is_free_again(tmp_path: Path, target: str) -> None:
    """Before: SIGKILL of the supervisor (or of its process group: each worker has a group of its own)
    left both workers serving on the shared socket, and a restart failed with "Address already in use"."""
    port = free_port()
    first = start(tmp_path, port, "--workers", "2", log_name="first.log")
    workers: list[int] = []
    try:
        await healthy(first)
        workers = await _worker_pids(first, 2)
        assert first.process.pid not in workers
        if target == "supervisor":
            os.kill(first.process.pid, signal.SIGKILL)
        else:
            os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(5)

        for _ in range(100):  # 5 s
            if not any(_alive(pid) for pid in workers):
                break
            await asyncio.sleep(0.05)
        assert [pid for pid in workers if _alive(pid)] == [], "workers outlived their supervisor"
        with pytest.raises(ConnectionRefusedError):
            await exchange(port, request_head())
        assert _port_is_free(port)

        again = start(tmp_path, port, "--workers", "2", log_name="again.log")
        try:
            await healthy(again)
            assert "Address already in use" not in again.log.read_text()
        finally:
            stop(again)
    finally:
        stop(first)
        for pid in workers:  # only if the test failed: never leave a worker of ours serving
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
