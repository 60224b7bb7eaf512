"""`tesserra serve` under attack, as a real process on loopback: oversized request heads are refused
before they cost memory or time (431 / 414 with the documented error body), and workers die with
their supervisor so that the port is free for a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tesserra_http.protocol import MAX_HEAD_BYTES, MAX_URL_BYTES
from tests.support import free_port

TESSERRA = str(Path(sys.executable).with_name("tesserra"))
KiB = 1024
MiB = 1024 * KiB


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _env(tmp: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "TESSERRA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'tesserra.db'}",
        "TESSERRA_DATA_DIR": str(tmp / "data"),
        "TESSERRA_SECRET_KEY": "h" * 48,
        "TESSERRA_BOOTSTRAP_PASSWORD": "hardening-password-1",
    }


def _start(tmp: Path, port: int, *extra: str, log_name: str = "serve.log", **env: str) -> Server:
    """`tesserra serve` in a session (and so a process group) of its own; ``env``: more TESSERRA_* settings."""
    log = tmp / log_name
    with log.open("ab") as out:
        process = subprocess.Popen(
            [TESSERRA, "serve", "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**_env(tmp), **env},
            cwd=tmp,
            start_new_session=True,
        )
    return Server(process, port, log)


async def _healthy(server: Server, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                pytest.fail(f"tesserra serve exited with {server.process.returncode}:\n{server.log.read_text()}")
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(f"{server.url}/health")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    pytest.fail(f"/health did not answer within {within} s:\n{server.log.read_text()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(5)


@asynccontextmanager
async def serving(tmp: Path, *extra: str, **env: str) -> AsyncIterator[Server]:
    server = _start(tmp, free_port(), *extra, **env)
    try:
        await _healthy(server)
        yield server
    finally:
        _stop(server)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One single-worker server for the request-head tests (they leave no state behind)."""
    served = _start(tmp_path_factory.mktemp("serve"), free_port())
    try:
        asyncio.run(_healthy(served))
        yield served
    finally:
        _stop(served)


# -- raw HTTP/1.1 on a socket -------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, object]:
        body: dict[str, object] = json.loads(self.body)
        return body


def _head(target: str = "/health", headers: list[tuple[str, str]] | None = None, method: str = "GET") -> bytes:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    status_line = await reader.readline()
    assert status_line, "the server closed the connection without an answer"
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


async def _exchange(port: int, request: bytes) -> Answer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(_read_answer(reader), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _assert_error(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["connection"] == "close"
    body = answer.json()
    assert body["code"] == code
    assert body["success"] is False
    assert isinstance(body["detail"], str)
    assert body["detail"] == body["error"]
    assert body["request_id"] == answer.headers["x-request-id"]


# -- item 3: a bounded request head -------------------------------------------------------------


async def test_a_header_over_64_kib_is_431_with_the_error_body(server: Server) -> None:
    answer = await _exchange(server.port, _head(headers=[("X-Big", "a" * 70 * KiB)]))
    _assert_error(answer, 431, "request_headers_too_large")


async def test_many_small_headers_over_64_kib_in_all_are_431(server: Server) -> None:
    headers = [(f"X-Small-{i}", "b" * 60) for i in range(1000)]  # ~75 KiB, each header harmless
    assert len(_head(headers=headers)) > MAX_HEAD_BYTES
    answer = await _exchange(server.port, _head(headers=headers))
    _assert_error(answer, 431, "request_headers_too_large")


async def test_a_url_over_8_kib_is_414(server: Server) -> None:
    answer = await _exchange(server.port, _head(f"/health?pad={'u' * 9 * KiB}"))
    _assert_error(answer, 414, "uri_too_long")
    huge = await _exchange(server.port, _head(f"/health?pad={'u' * 200 * KiB}"))  # longer than the whole head
    _assert_error(huge, 414, "uri_too_long")


async def test_heads_and_urls_just_under_the_limits_are_served(server: Server) -> None:
    target = "/health?pad=" + "u" * (MAX_URL_BYTES - 100)
    answer = await _exchange(server.port, _head(target, headers=[("X-Big", "a" * (MAX_HEAD_BYTES - 10 * KiB))]))
    assert answer.status == 200, answer
    assert answer.json()["status"] == "ok"


async def test_a_large_body_that_arrives_with_its_head_is_not_taken_for_headers(server: Server) -> None:
    """The head is small; the body (read in the same chunk as the head) is what is large."""
    body = json.dumps({"email": "nobody@tesserra.test", "password": "p" * 200 * KiB}).encode()
    head = _head(
        "/api/auth/login",
        method="POST",
        headers=[("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    answer = await _exchange(server.port, head + body)
    assert answer.status not in (414, 431), answer
    assert answer.status < 500, answer


def _chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)


async def test_a_chunked_body_of_many_chunks_and_small_trailers_is_served(server: Server) -> None:
    body = json.dumps({"email": "nobody@tesserra.test", "password": "p" * 300 * KiB}).encode()
    head = _head(
        "/api/auth/login",
        method="POST",
        headers=[("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
    )
    answer = await _exchange(server.port, head + _chunked(body, KiB) + b"0\r\nX-Trailer: small\r\n\r\n")
    assert answer.status not in (414, 431), answer
    assert answer.status < 500, answer


async def test_trailers_over_64_kib_close_the_connection_without_memory(server: Server) -> None:
    """Trailers after a chunked body are gathered like headers: unbounded, a 64 MiB trailer took 4 s
    and 80 MiB. Now the connection closes after 64 KiB of them, before the request is answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = _head(
        "/api/auth/login",
        method="POST",
        headers=[("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
    )
    with _peak_rss(server.process.pid) as rss:
        writer.write(head + _chunked(b"{}", 2) + b"0\r\nX-Trailer: ")
        with contextlib.suppress(ConnectionError):
            for _ in range(64):
                writer.write(b"t" * MiB)
                await writer.drain()
            writer.write(b"\r\n\r\n")
            await writer.drain()
        with contextlib.suppress(ConnectionError):
            assert await asyncio.wait_for(reader.read(), 10) == b""  # closed, and never answered
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    assert (rss[1] - rss[0]) / KiB < 16, f"RSS grew by {(rss[1] - rss[0]) / KiB:.1f} MiB"


async def test_a_keep_alive_connection_counts_each_head_on_its_own(server: Server) -> None:
    """Two hundred requests of ~1 KiB of headers each on one connection (200 KiB of heads in all) are
    served; then one oversized head on the same connection is refused."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        for _ in range(200):
            writer.write(_head(headers=[("X-Pad", "k" * KiB)]))
            await writer.drain()
            assert (await asyncio.wait_for(_read_answer(reader), 10)).status == 200
        writer.write(_head(headers=[("X-Big", "a" * 70 * KiB)]))
        await writer.drain()
        _assert_error(await asyncio.wait_for(_read_answer(reader), 10), 431, "request_headers_too_large")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # and the connection is closed
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@contextmanager
def _peak_rss(pid: int) -> Iterator[list[int]]:
    """Samples the server's RSS every 20 ms in a thread; yields [baseline, peak] in KiB."""
    import threading

    figures = [_rss_kib(pid), 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            figures[1] = max(figures[1], _rss_kib(pid))
            done.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield figures
    finally:
        done.set()
        thread.join()
        figures[1] = max(figures[1], _rss_kib(pid))


async def _send_huge_header(port: int, size: int, piece: int) -> tuple[str, float]:
    """Sends a ``size``-byte header in ``piece``-byte writes; the server's answer (or 'reset') and when."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Huge: ")
        chunk = b"z" * piece
        with contextlib.suppress(ConnectionError):
            for _ in range(size // piece):
                writer.write(chunk)
                await writer.drain()
            writer.write(b"\r\n\r\n")
            await writer.drain()
        try:
            answer = await asyncio.wait_for(_read_answer(reader), 120)
        except (ConnectionError, AssertionError, asyncio.IncompleteReadError):
            return "reset", time.monotonic() - started
        return str(answer.status), time.monotonic() - started
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@pytest.mark.parametrize("piece", [16 * MiB, 64 * KiB], ids=["at once", "in 64 KiB pieces"])
async def test_a_16_mib_header_is_refused_fast_without_memory_and_without_slowing_others(
    server: Server, piece: int
) -> None:
    """Unbounded, a 16 MiB header answered 200 (128 MiB slowed every client to seconds, 256 MiB took
    90 s and 650 MiB). Now it is refused after 64 KiB: the server's RSS stays flat and a bystander's
    /health stays fast meanwhile."""
    latencies: list[float] = []
    attacking = True

    async def bystander() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as http:
            while attacking:
                started = time.monotonic()
                assert (await http.get("/health")).status_code == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.01)

    watcher = asyncio.create_task(bystander())
    with _peak_rss(server.process.pid) as rss:
        outcomes = await asyncio.gather(*(_send_huge_header(server.port, 16 * MiB, piece) for _ in range(4)))
    attacking = False
    await watcher

    for outcome, seconds in outcomes:
        assert outcome in ("431", "reset"), outcomes  # never served
        assert seconds < 5.0, outcomes
    grown_mib = (rss[1] - rss[0]) / KiB
    assert grown_mib < 64, f"RSS grew by {grown_mib:.1f} MiB during four 16 MiB headers"
    assert latencies, "the bystander got no answer"
    assert max(latencies) < 1.0, f"bystander /health took up to {max(latencies):.2f} s"
    assert (await _exchange(server.port, _head())).status == 200


# -- item 3, in time: a request head must arrive within TESSERRA_HEAD_TIMEOUT -----------------------

HEAD_TIMEOUT = 1.0


async def _refused_for_slowness(reader: asyncio.StreamReader, started: float) -> float:
    answer = await asyncio.wait_for(_read_answer(reader), HEAD_TIMEOUT + 10)
    _assert_error(answer, 408, "request_timeout")
    return time.monotonic() - started


async def test_slow_heads_are_cut_off_with_408_and_bystanders_are_served(tmp_path: Path) -> None:
    async with serving(tmp_path, TESSERRA_HEAD_TIMEOUT=str(HEAD_TIMEOUT)) as server:
        started = time.monotonic()
        # a connection that sends nothing at all
        silent_reader, silent = await asyncio.open_connection("127.0.0.1", server.port)
        silent_refused = asyncio.create_task(_refused_for_slowness(silent_reader, started))
        # a connection that dribbles a valid head a byte at a time (5 s in all), and stops only when answered
        dribble_reader, dribbler = await asyncio.open_connection("127.0.0.1", server.port)
        dribble_refused = asyncio.create_task(_refused_for_slowness(dribble_reader, started))
        head = _head(headers=[("X-Slow", "s" * 200)])

        async def dribble() -> None:
            for byte in head[:-2]:
                if dribble_refused.done():
                    return
                dribbler.write(bytes([byte]))
                await asyncio.sleep(0.02)

        sender = asyncio.create_task(dribble())
        try:
            async with httpx.AsyncClient(timeout=5) as bystander:
                for _ in range(5):  # a well-behaved client on a kept-alive connection, pausing under the limit
                    assert (await bystander.get(f"{server.url}/health")).status_code == 200
                    await asyncio.sleep(HEAD_TIMEOUT / 2)
            silent_after, dribble_after = await silent_refused, await dribble_refused
        finally:
            sender.cancel()
            for writer in (silent, dribbler):
                writer.close()
        assert HEAD_TIMEOUT <= silent_after < HEAD_TIMEOUT + 5
        assert HEAD_TIMEOUT <= dribble_after < HEAD_TIMEOUT + 5


async def test_a_kept_alive_connection_has_the_whole_timeout_for_each_head(tmp_path: Path) -> None:
    async with serving(tmp_path, TESSERRA_HEAD_TIMEOUT=str(HEAD_TIMEOUT)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            for _ in range(3):  # each head starts its own clock: idle longer in all than one timeout
                writer.write(_head())
                await writer.drain()
                assert (await asyncio.wait_for(_read_answer(reader), 5)).status == 200
                await asyncio.sleep(HEAD_TIMEOUT * 0.6)
            started = time.monotonic()
            writer.write(b"GET /health HTTP/1.1\r\n")  # a head begun and never finished
            await writer.drain()
            assert HEAD_TIMEOUT * 0.9 <= await _refused_for_slowness(reader, started) < HEAD_TIMEOUT + 5
        finally:
            writer.close()


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
    first = _start(tmp_path, port, "--workers", "2", log_name="first.log")
    workers: list[int] = []
    try:
        await _healthy(first)
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
            await _exchange(port, _head())
        assert _port_is_free(port)

        again = _start(tmp_path, port, "--workers", "2", log_name="again.log")
        try:
            await _healthy(again)
            assert "Address already in use" not in again.log.read_text()
        finally:
            _stop(again)
    finally:
        _stop(first)
        for pid in workers:  # only if the test failed: never leave a worker of ours serving
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
