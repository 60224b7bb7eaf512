"""`tesserra serve` refuses oversized request heads before they cost memory or time: 431 / 414 with
the documented error body (issue 9, item 3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tesserra_http.protocol import MAX_HEAD_BYTES, MAX_URL_BYTES
from tests.cli.raw_http import KiB, MiB, assert_error, exchange, read_answer, request_head
from tests.cli.served import Server

# -- item 3: a bounded request head -------------------------------------------------------------


async def test_a_header_over_64_kib_is_431_with_the_error_body(server: Server) -> None:
    answer = await exchange(server.port, request_head(headers=[("X-Big", "a" * 70 * KiB)]))
    assert_error(answer, 431, "request_headers_too_large")


async def test_many_small_headers_over_64_kib_in_all_are_431(server: Server) -> None:
    headers = [(f"X-Small-{i}", "b" * 60) for i in range(1000)]  # ~75 KiB, each header harmless
    assert len(request_head(headers=headers)) > MAX_HEAD_BYTES
    answer = await exchange(server.port, request_head(headers=headers))
    assert_error(answer, 431, "request_headers_too_large")


async def test_a_url_over_8_kib_is_414(server: Server) -> None:
    answer = await exchange(server.port, request_head(f"/health?pad={'u' * 9 * KiB}"))
    assert_error(answer, 414, "uri_too_long")
    huge = await exchange(server.port, request_head(f"/health?pad={'u' * 200 * KiB}"))  # longer than the whole head
    assert_error(huge, 414, "uri_too_long")


async def test_heads_and_urls_just_under_the_limits_are_served(server: Server) -> None:
    target = "/health?pad=" + "u" * (MAX_URL_BYTES - 100)
    answer = await exchange(server.port, request_head(target, headers=[("X-Big", "a" * (MAX_HEAD_BYTES - 10 * KiB))]))
    assert answer.status == 200, answer
    assert answer.json()["status"] == "ok"


async def test_a_large_body_that_arrives_with_its_head_is_not_taken_for_headers(server: Server) -> None:
    """The head is small; the body (read in the same chunk as the head) is what is large."""
    body = json.dumps({"email": "nobody@tesserra.test", "password": "p" * 200 * KiB}).encode()
    head = request_head(
        "/api/auth/login",
        method="POST",
        headers=[("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    answer = await exchange(server.port, head + body)
    assert answer.status not in (414, 431), answer
    assert answer.status < 500, answer


def _chunked(body: bytes, size: int) -> bytes:
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces)


async def test_a_chunked_body_of_many_chunks_and_small_trailers_is_served(server: Server) -> None:
    body = json.dumps({"email": "nobody@tesserra.test", "password": "p" * 300 * KiB}).encode()
    head = request_head(
        "/api/auth/login",
        method="POST",
        headers=[("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
    )
    answer = await exchange(server.port, head + _chunked(body, KiB) + b"0\r\nX-Trailer: small\r\n\r\n")
    assert answer.status not in (414, 431), answer
    assert answer.status < 500, answer


async def test_trailers_over_64_kib_close_the_connection_without_memory(server: Server) -> None:
    """Trailers after a chunked body are gathered like headers: unbounded, a 64 MiB trailer took 4 s
    and 80 MiB. Now the connection closes after 64 KiB of them, before the request is answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = request_head(
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
            writer.write(request_head(headers=[("X-Pad", "k" * KiB)]))
            await writer.drain()
            assert (await asyncio.wait_for(read_answer(reader), 10)).status == 200
        writer.write(request_head(headers=[("X-Big", "a" * 70 * KiB)]))
        await writer.drain()
        assert_error(await asyncio.wait_for(read_answer(reader), 10), 431, "request_headers_too_large")
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
            answer = await asyncio.wait_for(read_answer(reader), 120)
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
    assert (await exchange(server.port, request_head())).status == 200
