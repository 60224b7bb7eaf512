"""The warm pool's target, for bench/sandboxes.py: a server of its own (the pool would otherwise serve
the cold creates measured there) with ``TESSERRA_SANDBOX_POOL_SIZE``; one create teaches it the
template, then each run waits until a pooled workload of it is paused and ready (read from the
runtime's own records, as ``sandbox_proxy.upstream`` does) and times a create until the port answers
through the proxy (claim -> serving), and until POST /api/sandboxes answers (claim -> running)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from bench.harness import HOST, Serve, say

POOL_MS = 60.0
POOL_SIZE = 2

Verdict = tuple[bool, str]


def ready_in_pool(serve: Serve) -> int:
    """Paused workloads the server's pool holds, as its runtime records them."""
    if serve.env.get("TESSERRA_RUNTIME") == "docker":
        names = subprocess.run(
            ["docker", "ps", "--filter", "status=paused", "--format", "{{.Names}}"], capture_output=True, text=True
        ).stdout.split()
        return sum(1 for name in names if name.startswith("tesserra-pool-"))
    count = 0
    for record in (Path(serve.env["TESSERRA_DATA_DIR"]) / "workloads").glob("*/workload.json"):
        data = json.loads(record.read_text())
        count += data["spec"]["owner"].startswith("pool:") and data["paused"] and data["state"] == "running"
    return count


async def _claim(client: httpx.AsyncClient, bearer: dict[str, str], template: dict[str, Any]) -> tuple[float, float]:
    from bench.sandbox_proxy import HEADER
    from bench.sandboxes import until

    t0 = time.perf_counter()
    created = await client.post("/api/sandboxes", json=template, headers=bearer)
    running = (time.perf_counter() - t0) * 1000
    if created.status_code != 201 or created.json()["state"] != "running":
        raise SystemExit(f"create answered {created.status_code}: {created.text[:300]}")
    sid = created.json()["id"]
    token = (await client.get(f"/api/runtime/proxy-auth/{sid}", headers=bearer)).json()["token"]

    async def answers() -> bool:
        try:
            return (await client.get(f"/api/runtime/proxy/{sid}/", headers={HEADER: token})).status_code == 200
        except httpx.HTTPError:
            return False

    await until(answers)
    serving = (time.perf_counter() - t0) * 1000
    await client.delete(f"/api/sandboxes/{sid}", headers=bearer)
    return running, serving


async def _claims(
    client: httpx.AsyncClient, bearer: dict[str, str], template: dict[str, Any], serve: Serve, runs: int, ready: int
) -> tuple[float, float, float, float]:
    """p50 and p90 of ``runs`` claims (-> running, -> serving), each made once ``ready`` pooled
    workloads wait."""
    from bench.sandboxes import p50, p90

    done: list[tuple[float, float]] = []
    for _ in range(runs):
        deadline = time.perf_counter() + 60
        while ready_in_pool(serve) < ready:
            if time.perf_counter() > deadline:
                raise SystemExit("the pool did not refill within 60 s")
            await asyncio.sleep(0.05)
        done.append(await _claim(client, bearer, template))
    running, serving = [r for r, _ in done], [s for _, s in done]
    return p50(running), p50(serving), p90(running), p90(serving)


async def measure_pool(work: Path, runtime: str, template: dict[str, Any], runs: int, name: str) -> list[Verdict]:
    """The target's figure: each claim as soon as one pooled workload waits (the previous claim's
    refill may still be making its successor, on Docker a container create and start beside the claim);
    then, for comparison, each claim once the pool is full (nothing being made)."""
    from bench.sandboxes import start_server

    serve, _, bearer = start_server(work, runtime, pool=POOL_SIZE)
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{serve.port}", timeout=60) as client:
        await _claim(client, bearer, template)  # cold: the pool learns the template
        running, serving, running90, serving90 = await _claims(client, bearer, template, serve, runs, 1)
        full = await _claims(client, bearer, template, serve, runs, POOL_SIZE)
    say(
        f"{name}: warm pool (size {POOL_SIZE}): claim -> running p50 {running:.1f} ms (p90 {running90:.1f}),"
        f" -> serving p50 {serving:.1f} ms (p90 {serving90:.1f})"
    )
    say(
        f"{name}: warm pool, each claim with the pool full: -> running p50 {full[0]:.1f} ms (p90 {full[2]:.1f}),"
        f" -> serving p50 {full[1]:.1f} ms (p90 {full[3]:.1f})"
    )
    return [(serving < POOL_MS, f"{name}: warm pool claim -> serving p50 < {POOL_MS:g} ms   {serving:.1f} ms")]
