"""The sandbox proxy's figures, by hand (not a test; not part of run.py yet):

    PYTHONPATH=src:. .venv/bin/python bench/proxy.py [--requests 2000] [--clients 32]

One process holds the real server (uvicorn, SQLite, the process runtime under bubblewrap and pasta)
and the clients; a sandbox runs tests/servers/echo_sandbox.py. It prints, for the same sandbox reached
directly (its host port) and through /api/runtime/proxy with a proxy token:

- sequential keep-alive GETs of a ~1 KiB answer: p50 and p90 of each, and the proxy's added p50
  (target: under 2 ms);
- ``--clients`` concurrent keep-alive clients: requests per second of each, and the ratio (target: the
  proxy at least 40 % of direct);
- a 64 MiB upload through the proxy: the growth of this process's resident memory while it streams
  (target: under 32 MiB).

Then one PASS or MISS line per target. The machine is shared and noisy: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
from tests.support import live_server, test_settings

from tesserra_core.usecases.sandbox_views import NewSandbox
from tesserra_core.usecases.sessions import Credentials

ECHO = Path(__file__).resolve().parents[1] / "tests" / "servers" / "echo_sandbox.py"
HEADER = "X-Tesserra-Proxy-Token"
PAD = "x" * 900  # the echo's JSON answer then weighs about 1 KiB


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def sequential(session: aiohttp.ClientSession, url: str, headers: dict[str, str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        began = time.perf_counter()
        async with session.get(url, headers=headers) as answer:
            await answer.read()
            assert answer.status == 200, answer.status
        times.append(time.perf_counter() - began)
    return times[n // 10 :]


async def concurrent(url: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    done = 0
    stop = time.monotonic() + seconds
    statuses: dict[int, int] = {}

    async def client() -> None:
        nonlocal done
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < stop:
                async with session.get(url, headers=headers) as answer:
                    body = await answer.read()
                    statuses[answer.status] = statuses.get(answer.status, 0) + 1
                    if answer.status != 200 and statuses[answer.status] == 1:
                        print(answer.status, body[:200])
                    done += answer.status == 200

    await asyncio.gather(*(client() for _ in range(clients)))
    if set(statuses) != {200}:
        print("statuses:", statuses)
    return done / seconds


async def upload(session: aiohttp.ClientSession, url: str, headers: dict[str, str], size: int) -> int:
    async def body() -> AsyncIterator[bytes]:
        block = b"u" * (1 << 20)
        for _ in range(size // len(block)):
            yield block

    peak, baseline, running = 0, rss(), True

    async def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, rss())
            await asyncio.sleep(0.01)

    sampler = asyncio.create_task(sample())
    async with session.post(url, data=body(), headers=headers) as answer:
        assert (await answer.json())["length"] == size
    running = False
    await sampler
    return peak - baseline


def verdict(ok: bool, text: str) -> None:
    print(f"{'PASS' if ok else 'MISS'} {text}")


async def main(requests: int, clients: int, seconds: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tesserra-proxy-bench-"))
    settings = test_settings(tmp, f"sqlite+aiosqlite:///{tmp / 'db.sqlite'}", rate_limit_scale=1_000_000.0)
    async with live_server(settings) as server:
        uc = server.uc
        await uc.operators.ensure_first_owner("bench@tesserra.test", "bench-password-1")
        actor = await uc.authenticate(
            (await uc.sessions.login(Credentials("bench@tesserra.test", "bench-password-1"))).access_token
        )
        template = {"name": "echo", "command": [str(ECHO)], "ports": [8000]}
        box = await uc.sandboxes.create(actor, msgspec.convert(template, NewSandbox))
        [workload] = await uc.ports.runtime.list(f"sandbox:{box.id}")
        token = {HEADER: (await uc.runtime.mint_token(actor, box.id, None, None, server.url)).token}
        direct = f"http://127.0.0.1:{workload.ports[8000]}/bench?pad={PAD}"
        proxied = f"{server.url}/api/runtime/proxy/{box.id}/bench?pad={PAD}"
        async with aiohttp.ClientSession() as session:
            for _ in range(100):  # until the sandbox's server listens
                try:
                    await sequential(session, direct, {}, 1)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            d = await sequential(session, direct, {}, requests)
            p = await sequential(session, proxied, token, requests)
            dq, pq = statistics.median(d) * 1000, statistics.median(p) * 1000
            print(f"1 KiB GET direct  p50 {dq:.2f} ms  p90 {statistics.quantiles(d, n=10)[-1] * 1000:.2f} ms")
            print(f"1 KiB GET proxied p50 {pq:.2f} ms  p90 {statistics.quantiles(p, n=10)[-1] * 1000:.2f} ms")
            drps = await concurrent(direct, {}, clients, seconds)
            prps = await concurrent(proxied, token, clients, seconds)
            print(f"{clients} clients: direct {drps:.0f} req/s, proxied {prps:.0f} req/s ({prps / drps:.0%})")
            grown = await upload(session, f"{server.url}/api/runtime/proxy/{box.id}/upload", token, 64 << 20)
            print(f"64 MiB upload through the proxy: RSS grew {grown / (1 << 20):.1f} MiB")
        await uc.sandboxes.delete(actor, box.id)
    verdict(pq - dq < 2.0, f"proxy adds under 2 ms p50 to a keep-alive 1 KiB GET ({pq - dq:.2f} ms)")
    verdict(prps >= 0.4 * drps, f"at {clients} clients the proxy serves at least 40% of direct ({prps / drps:.0%})")
    verdict(grown < 32 << 20, f"a 64 MiB upload grows RSS under 32 MiB ({grown / (1 << 20):.1f} MiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.clients, args.seconds))
