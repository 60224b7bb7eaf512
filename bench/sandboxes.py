"""Sandboxes benchmark: how fast a sandbox runs, pauses and resumes, and what the runtime proxy costs.

Run by hand (see bench/README.md, "Sandboxes and the runtime proxy"):

    .venv/bin/python bench/sandboxes.py [--runs 15] [--no-docker] [--stream-mib 1024] [--websockets 1000] [--workers N]

It starts ``tesserra serve`` (SQLite) on the process runtime, and with Docker a second one on the
Docker runtime, logs in as the bootstrap owner and measures, printing PASS or MISS per target of
issue 11:

- create to running, its declared port answering through the proxy (POST /api/sandboxes, a proxy
  token, GETs until 200), p50 of ``--runs``; on Docker against a bare ``create`` + ``start`` of the
  same image and command through the engine's API (aiodocker), its port polled directly: within 150 ms;
- pause and resume (POST /api/sandboxes/{id}/pause, /resume), p50 of each: under 50 ms;
- the proxy (``sandbox_proxy.py``): a keep-alive 1 KiB GET through the proxy and direct to the
  workload's port, 32 concurrent clients each way, 1 GiB up and down with the server's RSS sampled,
  a slow reader, and idle WebSockets held open; with ``--workers N`` (N > 1) the 1 KiB load again on
  a server of its own started with ``tesserra serve --workers N``, as an operator runs it on N cores
  (each PASS/MISS line names its configuration: one process or N workers);
- the warm pool (``sandbox_pool.py``, a server of its own with ``TESSERRA_SANDBOX_POOL_SIZE=2``): a
  create whose template the pool holds, until its port answers through the proxy: under 60 ms.

Figures on a shared 2-core machine drift; the targets are ratios or differences taken in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import HOST, Serve, request, say, stop_all
from bench.sandbox_pool import measure_pool
from bench.sandbox_proxy import ECHO, HEADER, measure_proxy, measure_proxy_load

BUSYBOX = "tesserra-test/busybox:latest"
HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"]
CREATE_SLACK_MS = 150.0
PAUSE_MS = 50.0

Verdict = tuple[bool, str]


def p50(values: list[float]) -> float:
    return statistics.median(values)


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def start_server(work: Path, runtime: str, *, pool: int = 0, workers: int = 1) -> tuple[Serve, Any, dict[str, str]]:
    name = f"{runtime}-pool" if pool else runtime if workers <= 1 else f"{runtime}-{workers}-workers"
    serve = Serve.configure(name, f"sqlite+aiosqlite:///{work / f'{name}.db'}", work)
    serve.env.update(TESSERRA_RUNTIME=runtime, TESSERRA_LOG_LEVEL="WARNING", TESSERRA_SANDBOX_POOL_SIZE=str(pool))
    proc, _ = serve.start(*(("--workers", str(workers)) if workers > 1 else ()))
    status, body = request(
        serve.port, "POST", "/api/auth/login", body={"email": serve.email, "password": serve.password}
    )
    if status != 200:
        raise SystemExit(f"login answered {status}: {body!r}")
    return serve, proc, {"Authorization": f"Bearer {json.loads(body)['access_token']}"}


async def until(check: Callable[[], Any], within: float = 30.0) -> None:
    deadline = time.perf_counter() + within
    while not await check():
        if time.perf_counter() > deadline:
            raise SystemExit("timed out waiting for a sandbox to answer")
        await asyncio.sleep(0.002)


async def create_to_serving(client: httpx.AsyncClient, bearer: dict[str, str], template: dict[str, Any]) -> float:
    """Milliseconds from POST /api/sandboxes to its port answering 200 through the proxy; then deleted."""
    t0 = time.perf_counter()
    created = await client.post("/api/sandboxes", json=template, headers=bearer)
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
    elapsed = (time.perf_counter() - t0) * 1000
    await client.delete(f"/api/sandboxes/{sid}", headers=bearer)
    return elapsed


async def bare_docker(image: str, command: list[str], port: int) -> float:
    """Milliseconds from the engine's create to the container's published port answering 200."""
    import aiodocker

    docker = aiodocker.Docker()
    try:
        t0 = time.perf_counter()
        config: dict[str, Any] = {
            "Image": image,
            "Cmd": command,
            "ExposedPorts": {f"{port}/tcp": {}},
            "HostConfig": {"PortBindings": {f"{port}/tcp": [{"HostIp": HOST, "HostPort": ""}]}},
        }
        container = await docker.containers.create(config)
        await container.start()
        info = await container.show()
        host_port = int(info["NetworkSettings"]["Ports"][f"{port}/tcp"][0]["HostPort"])
        async with httpx.AsyncClient(timeout=2) as direct:

            async def answers() -> bool:
                try:
                    return (await direct.get(f"http://{HOST}:{host_port}/")).status_code == 200
                except httpx.HTTPError:
                    return False

            await until(answers)
        elapsed = (time.perf_counter() - t0) * 1000
        await container.delete(force=True)
        return elapsed
    finally:
        await docker.close()


async def pause_resume(client: httpx.AsyncClient, bearer: dict[str, str], sid: str, runs: int) -> tuple[float, float]:
    pauses: list[float] = []
    resumes: list[float] = []
    for _ in range(runs):
        for action, into in (("pause", pauses), ("resume", resumes)):
            t0 = time.perf_counter()
            answer = await client.post(f"/api/sandboxes/{sid}/{action}", headers=bearer)
            into.append((time.perf_counter() - t0) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{action} answered {answer.status_code}: {answer.text[:300]}")
    return p50(pauses), p50(resumes)


async def lifecycle(
    serve: Serve,
    bearer: dict[str, str],
    template: dict[str, Any],
    runs: int,
    beside: Callable[[], Awaitable[float]] | None = None,
) -> dict[str, float]:
    """p50 of create -> serving, pause and resume; with ``beside`` (the bare engine's figure), that too,
    taken after each create (interleaved: a change in the machine's load falls on both alike)."""
    created: list[float] = []
    compared: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{serve.port}", timeout=60) as client:
        await create_to_serving(client, bearer, template)  # warm: first image use, first sandbox
        if beside is not None:
            await beside()  # warm
        for _ in range(runs):
            created.append(await create_to_serving(client, bearer, template))
            if beside is not None:
                compared.append(await beside())
        box = (await client.post("/api/sandboxes", json=template, headers=bearer)).json()
        pause, resume = await pause_resume(client, bearer, box["id"], runs)
        await client.delete(f"/api/sandboxes/{box['id']}", headers=bearer)
    figures = {"create": p50(created), "pause": pause, "resume": resume}
    if compared:
        figures["beside"] = p50(compared)
    return figures


def judge_lifecycle(name: str, figures: dict[str, float], verdicts: list[Verdict]) -> None:
    say(f"{name}: create -> serving p50 {figures['create']:.1f} ms")
    say(f"{name}: pause p50 {figures['pause']:.1f} ms, resume p50 {figures['resume']:.1f} ms")
    for action in ("pause", "resume"):
        verdicts.append(
            (figures[action] < PAUSE_MS, f"{name}: {action} p50 < {PAUSE_MS:g} ms   {figures[action]:.1f} ms")
        )


async def proxy_on_workers(work: Path, runtime: str, args: argparse.Namespace, label: str) -> list[Verdict]:
    """With ``--workers N`` (N > 1): the proxy's 1 KiB load again, on a server started with
    ``tesserra serve --workers N`` (its own database), as an operator runs it on an N-core machine."""
    if args.pool_only or args.workers <= 1:
        return []
    stop_all()
    serve, proc, bearer = start_server(work, runtime, workers=args.workers)
    verdicts = await measure_proxy_load(serve, proc.pid, bearer, args, f"{label}, {args.workers} workers")
    stop_all()
    return verdicts


async def process_runtime(work: Path, args: argparse.Namespace, verdicts: list[Verdict]) -> None:
    serve, proc, bearer = start_server(work, "process")
    template = {"name": "echo", "command": [str(ECHO)], "ports": [8000]}
    judge_lifecycle("process runtime", await lifecycle(serve, bearer, template, args.runs), verdicts)
    if not args.pool_only:
        verdicts += await measure_proxy(serve, proc.pid, bearer, args, "process runtime, 1 process")
    verdicts += await proxy_on_workers(work, "process", args, "process runtime")
    stop_all()
    verdicts += await measure_pool(work, "process", template, args.runs, "process runtime")


async def docker_runtime(work: Path, args: argparse.Namespace, verdicts: list[Verdict]) -> None:
    serve, proc, bearer = start_server(work, "docker")
    template = {"name": "httpd", "image": BUSYBOX, "command": HTTPD, "ports": [8080]}
    figures = await lifecycle(serve, bearer, template, args.runs, beside=lambda: bare_docker(BUSYBOX, HTTPD, 8080))
    bare = figures["beside"]
    judge_lifecycle("Docker runtime", figures, verdicts)
    say(f"Docker runtime: bare engine create + start -> serving p50 {bare:.1f} ms")
    slack = figures["create"] - bare
    verdicts.append(
        (
            slack < CREATE_SLACK_MS,
            f"Docker: create -> serving within {CREATE_SLACK_MS:g} ms of bare docker   +{slack:.1f} ms",
        )
    )
    if not args.pool_only:
        verdicts += await measure_proxy(serve, proc.pid, bearer, args, "Docker runtime, 1 process")
    verdicts += await proxy_on_workers(work, "docker", args, "Docker runtime")
    stop_all()
    verdicts += await measure_pool(work, "docker", template, args.runs, "Docker runtime")


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="tesserra-bench-sandboxes-"))
    verdicts: list[Verdict] = []
    try:
        if not args.no_process:
            await process_runtime(work, args, verdicts)
        stop_all()
        if not args.no_docker:
            await docker_runtime(work, args, verdicts)
    finally:
        stop_all()
    say()
    for passed, text in verdicts:
        say(f"{'PASS' if passed else 'MISS'}  {text}")
    return sum(1 for passed, _ in verdicts if not passed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Sandboxes benchmark (see bench/README.md)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--no-process", action="store_true", help="skip the process runtime")
    parser.add_argument("--stream-mib", type=int, default=1024, help="size of the upload and download")
    parser.add_argument("--websockets", type=int, default=1000, help="idle WebSockets held open")
    parser.add_argument("--seconds", type=float, default=3.0, help="per load run")
    parser.add_argument("--pool-only", action="store_true", help="skip the proxy load (lifecycle and pool only)")
    parser.add_argument(
        "--workers", type=int, default=1, help="N > 1: also measure the proxy load on `tesserra serve --workers N`"
    )
    misses = asyncio.run(main(parser.parse_args()))
    say(f"{misses} target(s) missed")
