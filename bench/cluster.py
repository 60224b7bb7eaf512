"""Several nodes behind HAProxy, on PostgreSQL (issue 15): what a request costs the cluster, what a
node's death costs the clients, and what the balancer's hop adds to a tool call.

    PYTHONPATH=src .nox/tests/bin/python bench/cluster.py [--duration 4] [--connections 16] [--rounds 3]
        [--paced-duration 8] [--paced-rounds 5] [--calls 300]

The nodes, HAProxy and its configuration are tests/servers/cluster.py's (one worker a node, its own
loopback address and data dir, one fresh PostgreSQL database, Redis). Loopback only; every phase is
bounded by time or by a request count. Figures:

1. Server CPU per request (the nodes' utime + stime from /proc/<pid>/stat, summed, over the requests
   answered) for GET /api/auth/me and a 50-row list (GET /api/admin/tenants?limite=50) with 1, 2 and 3
   nodes behind HAProxy; HAProxy's own CPU per request is the hop. Target: with 2 and 3 nodes the
   cluster (nodes + HAProxy) costs no more per request than one node plus the hop (10 % slack for a
   shared machine), each node offered as many requests a second as the single node was. That line is
   measured paced: N x ``--connections`` connections, each pausing after an answer so that each node
   is offered a sixth of what one node answers flat out (``PACED_SHARE``; 3 nodes then take half of
   it): the two cores are not saturated, and what is compared is the work a request costs. Flat out
   (wrk sending as fast as it is answered) N Python nodes, wrk, HAProxy and PostgreSQL want more than
   two cores; each node then waits for a core with requests queued, and its CPU per request is the
   scheduler's as much as the server's (the same node among busy neighbours of another cluster costs
   more per request too; see bench/README.md). The flat-out figures are printed beside it with their own
   lower-case verdicts: at N x ``--connections`` and at the same ``--connections`` in all. The three
   clusters run side by side and are measured in turn, ``--rounds`` times; each figure is the median
   of its rounds (a drift of the machine's load weighs on all alike).
2. SIGKILL of one of 3 nodes under load (6 clients: GETs, and PATCHes HAProxy may not replay):
   target, no failed GET and no failure but a write in flight to the killed node.
3. A REST tool call (mcp-server-time) through HAProxy against the same call sent to the same nodes
   directly, in HAProxy's round-robin order, in interleaved rounds: target, the balancer adds under 1 ms
   at p50. Calls to one node back to back are printed beside them: a node called every third time
   answers more slowly than one called back to back, balancer or not (on this machine, ~0.9 ms more),
   which is the nodes' idling, not the hop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import proc_cpu
from bench.harness import say
from bench.load import Loader
from tests.servers.cluster import ADMIN_EMAIL, ADMIN_PASSWORD, NODE_HEADER, Cluster, Node, cluster
from tests.servers.launchers import CATALOG, write_launchers

TIME = "io.github.modelcontextprotocol-time"
CPU_SLACK = 1.10
PACED_SHARE = 1 / 6
"""Paced, each node is offered this share of what one node answers flat out: 3 nodes together then
take half of one node's flat-out rate, and the two cores keep room for wrk, HAProxy and PostgreSQL."""
HOP_TARGET_MS = 1.0


async def _login(url: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        answer = await http.post("/api/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        answer.raise_for_status()
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def _fifty_tenants(url: str, bearer: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        for n in range(50):
            made = await http.post("/api/admin/tenants", json={"name": f"Bench {n:02d}"}, headers=bearer)
            made.raise_for_status()


def _nodes_cpu(nodes: list[Node]) -> float:
    return sum(proc_cpu(n.pid) for n in nodes if n.alive())


Sample = tuple[float, float, int]
"""(nodes' CPU ms per request, HAProxy's CPU ms per request, requests)."""


def _cpu_per_request(made: Cluster, loader: Loader, path: str, bearer: dict[str, str]) -> Sample:
    """(nodes' CPU ms per request, HAProxy's CPU ms per request, requests) for ``path`` under load."""
    assert made.haproxy is not None
    loader.warm(made.port, path, bearer)
    nodes, balancer = _nodes_cpu(made.nodes), proc_cpu(made.haproxy.pid)
    load = loader.measure(made.port, path, bearer)
    nodes_used, balancer_used = _nodes_cpu(made.nodes) - nodes, proc_cpu(made.haproxy.pid) - balancer
    if load.bad_status or load.socket_errors or not load.requests:
        raise SystemExit(f"{path}: {load.bad_status} bad statuses, {load.socket_errors} socket errors")
    return nodes_used * 1000 / load.requests, balancer_used * 1000 / load.requests, load.requests


Figures = dict[tuple[str, int, str], Sample]
"""(path label, nodes, load) -> a median ``Sample``; load is ``fixed`` (the same connections in all,
split over the nodes), ``per-node`` (connections x nodes) or ``paced`` (connections x nodes, each
pausing after an answer)."""


async def _idle_cpu(made: Cluster, seconds: float = 4.0) -> float:
    """The nodes' CPU with no request at all (their background loops: heartbeat, lease claims, the
    revocation feed's poll...), in ms per second summed over the nodes."""
    await asyncio.sleep(1.0)  # what the requests before left to finish
    before = _nodes_cpu(made.nodes)
    await asyncio.sleep(seconds)
    return (_nodes_cpu(made.nodes) - before) * 1000 / seconds


PATHS = (("me", "/api/auth/me"), ("list50", "/api/admin/tenants?limite=50"))


def _median(samples: list[Sample]) -> Sample:
    """The sample whose cluster total (nodes + HAProxy) per request is the median (the lower middle)."""
    ordered = sorted(samples, key=lambda one: one[0] + one[1])
    return ordered[(len(ordered) - 1) // 2]


async def cpu_figures(args: argparse.Namespace, work: Path) -> tuple[Figures, dict[int, float]]:
    """The 1-, 2- and 3-node clusters run side by side and are measured in turn, round after round
    (``--rounds``), each figure the median of its rounds: a machine whose load drifts over the minutes
    weighs on every cluster alike, instead of on whichever was measured last. First flat out (wrk
    sends as fast as it is answered), then paced (``PACED_SHARE``), each path's pause worked out from
    what one node answered flat out."""
    kind = "wrk" if shutil.which("wrk") else "python"
    say(f"load: {Loader(kind, args.connections, 1.0, args.duration).describe()}")
    say(f"  (and, with N nodes, {args.connections} x N connections: each node as busy as the single node)")
    say(f"  the three clusters side by side, measured in turn for {args.rounds} rounds; medians")
    idle: dict[int, float] = {}
    samples: dict[tuple[str, int, str], list[Sample]] = {}
    async with contextlib.AsyncExitStack() as stack:
        clusters = {}
        for size in (1, 2, 3):
            made = await stack.enter_async_context(
                cluster(work / f"cpu{size}", size, TESSERRA_RATE_LIMIT_SCALE="1000000")
            )
            bearer = await _login(made.url)
            await _fifty_tenants(made.url, bearer)
            clusters[size] = (made, bearer)
        for size, (made, _) in clusters.items():
            idle[size] = await _idle_cpu(made)
            say(f"  {size} node(s) idle: {idle[size]:.1f} ms CPU per second, all nodes together (background loops)")

        async def measure(size: int, label: str, load: str, loader: Loader) -> None:
            made, bearer = clusters[size]
            measured = await asyncio.to_thread(_cpu_per_request, made, loader, dict(PATHS)[label], bearer)
            samples.setdefault((label, size, load), []).append(measured)

        for _ in range(args.rounds):
            for size in clusters:
                loads = {"fixed": args.connections}
                if size > 1:
                    loads["per-node"] = args.connections * size
                for label, _path in PATHS:
                    for load, connections in loads.items():
                        await measure(size, label, load, Loader(kind, connections, 1.0, args.duration))
        pauses = _pauses(samples, args)
        for _ in range(args.paced_rounds):
            for size in clusters:
                for label, _path in PATHS:
                    loader = Loader(kind, args.connections * size, 1.0, args.paced_duration, pause_ms=pauses[label])
                    await measure(size, label, "paced", loader)
    return _medians(samples, args), idle


def _pauses(samples: dict[tuple[str, int, str], list[Sample]], args: argparse.Namespace) -> dict[str, int]:
    """Each path's pause (ms) for the paced rounds, from what one node answered flat out."""
    pauses = {}
    for label, path in PATHS:
        flat_out = _median(samples[(label, 1, "fixed")])[2] / args.duration
        pauses[label] = math.ceil(args.connections / (PACED_SHARE * flat_out) * 1000)
        say(
            f"  paced {path}: one node answered {flat_out:.0f} req/s flat out; each connection now pauses "
            f"{pauses[label]} ms after an answer: each node is offered about {PACED_SHARE:.2g} of that"
        )
    return pauses


def _medians(samples: dict[tuple[str, int, str], list[Sample]], args: argparse.Namespace) -> Figures:
    figures: Figures = {}
    for (label, size, load), taken in samples.items():
        figures[(label, size, load)] = node_ms, hop_ms, requests = _median(taken)
        totals = sorted(n + h for n, h, _ in taken)
        connections = args.connections * (1 if load == "fixed" else size)
        seconds = args.paced_duration if load == "paced" else args.duration
        say(
            f"  {size} node(s) {dict(PATHS)[label]:32} {load:8} {connections:3d} conns {node_ms:6.3f} ms node "
            f"CPU/request, HAProxy {hop_ms:6.3f} ms, {requests / seconds:6.0f} req/s "
            f"(rounds' totals {totals[0]:.3f}-{totals[-1]:.3f} ms)"
        )
    return figures


async def kill_figures(work: Path, clients: int = 6) -> tuple[int, int, int, int]:
    """(answered, failed GETs, failed writes, writes that failed after the kill + 1 s)."""
    async with cluster(work / "kill", 3, TESSERRA_RATE_LIMIT_SCALE="1000000") as made:
        bearer = await _login(made.url)
        async with httpx.AsyncClient(base_url=made.url, timeout=60) as http:
            project = (await http.post("/api/projetos", json={"name": "load"}, headers=bearer)).json()["id"]
        ok: list[float] = []
        failed: list[tuple[str, float]] = []
        stop = asyncio.Event()

        async def one_client() -> None:
            async with httpx.AsyncClient(base_url=made.url, timeout=60) as http:
                n = 0
                while not stop.is_set():
                    n += 1
                    sent = time.monotonic()
                    try:
                        if n % 3 == 0:
                            method = "PATCH"
                            answer = await http.patch(
                                f"/api/projetos/{project}", json={"name": uuid.uuid4().hex[:12]}, headers=bearer
                            )
                        else:
                            method = "GET"
                            answer = await http.get("/api/auth/me", headers=bearer)
                        if answer.status_code == 200:
                            ok.append(time.monotonic())
                            continue
                    except httpx.HTTPError:
                        pass
                    failed.append((method, sent))

        tasks = [asyncio.create_task(one_client()) for _ in range(clients)]
        await asyncio.sleep(3)
        victim = made.node("n3")
        victim.signal(signal.SIGKILL)
        killed = time.monotonic()
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*tasks)
    late = sum(1 for method, sent in failed if method != "GET" and sent > killed + 1.0)
    return len(ok), sum(1 for m, _ in failed if m == "GET"), sum(1 for m, _ in failed if m != "GET"), late


class _Caller:
    """One keep-alive connection whose POSTs are written and read by hand (ms each)."""

    def __init__(self, host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.address = (host, port)
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n"
        ).encode() + body

    async def __aenter__(self) -> _Caller:
        self.reader, self.writer = await asyncio.open_connection(*self.address)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.writer.close()

    async def call(self) -> float:
        t0 = time.perf_counter()
        self.writer.write(self.request)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        answer = await self.reader.readexactly(length)
        took = (time.perf_counter() - t0) * 1000
        if status != 200 or json.loads(answer)["is_error"]:
            raise SystemExit(f"tools/call answered {status}: {answer[:300]!r}")
        return took


async def hop_figures(args: argparse.Namespace, work: Path) -> tuple[float, float, float]:
    """(p50 through HAProxy, p50 to the nodes directly in HAProxy's round-robin order, p50 of
    consecutive calls to one node), ms, over interleaved rounds. Only the hop differs between the
    first two: a node that waits two calls between its own answers more slowly than one called back to
    back (its processes, the tool server's among them, idle between), balancer or not."""
    scripts = ",".join(write_launchers(work / "bin"))
    async with cluster(
        work / "hop",
        3,
        TESSERRA_RATE_LIMIT_SCALE="1000000",
        TESSERRA_CATALOG_SOURCE=str(CATALOG),
        TESSERRA_TOOL_SCRIPT_DIRS=scripts,
    ) as made:
        bearer = await _login(made.url)
        async with httpx.AsyncClient(base_url=made.url, timeout=60) as http:
            installed = await http.post(f"/api/marketplace/tools/{TIME}/install", json={}, headers=bearer)
            installed.raise_for_status()
            installation = installed.json()["id"]
            for _ in range(900):
                view = (await http.get(f"/api/installations/{installation}", headers=bearer)).json()
                if view["status"] != "installing":
                    break
                await asyncio.sleep(0.1)
            if view["status"] != "ready":
                raise SystemExit(f"the install ended {view['status']}: {view['status_reason']}")
            nodes = {(await http.get("/health")).headers[NODE_HEADER] for _ in range(6)}
        path = f"/api/installations/{installation}/tools/call"
        body = json.dumps({"name": "get_current_time", "arguments": {"timezone": "UTC"}}).encode()
        async with contextlib.AsyncExitStack() as stack:
            balancer = await stack.enter_async_context(_Caller("127.0.0.1", made.port, path, body, bearer))
            direct = [
                await stack.enter_async_context(_Caller(node.host, node.port, path, body, bearer))
                for node in made.nodes
            ]
            for caller in [*direct, balancer]:  # every node starts its instance before anything is timed
                for _ in range(5):
                    await caller.call()
            through: list[float] = []
            straight: list[float] = []
            one: list[float] = []
            rounds = 5
            each = args.calls // rounds
            for _ in range(rounds):
                through += [await balancer.call() for _ in range(each)]
                straight += [await direct[i % len(direct)].call() for i in range(each)]
                one += [await direct[0].call() for _ in range(each)]
        say(
            f"  through HAProxy (round robin over {sorted(nodes)}) vs the same nodes directly in turn, and one node"
            f" called back to back: {len(through)} calls each"
        )
    return statistics.median(through), statistics.median(straight), statistics.median(one)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _total(figure: Sample) -> float:
    return figure[0] + figure[1]


def _judge(cpu: Figures, idle: dict[int, float], args: argparse.Namespace, label: str, size: int) -> None:
    """The target's line (paced: each node offered the same requests a second as the lone node, the
    machine not saturated), then the flat-out figures, with their own lower-case verdicts."""
    paced_one, paced = cpu[(label, 1, "paced")], cpu[(label, size, "paced")]
    limit = _total(paced_one) * CPU_SLACK
    rps = paced[2] / args.paced_duration
    background = idle[size] / rps
    say(
        f"{verdict(_total(paced) <= limit)}  {label}: {size} nodes + HAProxy {_total(paced):.3f} ms CPU/request, paced "
        f"({rps / size:.0f} req/s a node), vs 1 node + HAProxy {_total(paced_one):.3f} ms at "
        f"{paced_one[2] / args.paced_duration:.0f} req/s (target <= {limit:.3f}; the hop {paced[1]:.3f} ms; idle loops "
        f"~{background:.3f} ms of it)"
    )
    one = _total(cpu[(label, 1, "fixed")])
    for load, connections in (("per-node", args.connections * size), ("fixed", args.connections)):
        flat = _total(cpu[(label, size, load)])
        say(
            f"   ({verdict(flat <= one * CPU_SLACK).lower()} flat out at {connections} connections: {flat:.3f} ms vs "
            f"1 node {one:.3f} at {args.connections}, target <= {one * CPU_SLACK:.3f})"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tesserra-cluster-bench-") as tmp:
        work = Path(tmp)
        say("Several nodes behind HAProxy, PostgreSQL, one worker a node (loopback)")
        cpu, idle = await cpu_figures(args, work)
        answered, failed_gets, failed_writes, late = await kill_figures(work)
        say(
            f"  kill 1 of 3 under load: {answered} answered, {failed_gets} GETs failed, "
            f"{failed_writes} writes failed ({late} sent over 1 s after the kill)"
        )
        through, straight, one_node = await hop_figures(args, work)
        say(
            f"  tool call p50: {through:.3f} ms through HAProxy, {straight:.3f} ms to the nodes directly in turn"
            f" (+{through - straight:.3f}); {one_node:.3f} ms to one node back to back"
        )
    say()
    for label in ("me", "list50"):
        for size in (2, 3):
            _judge(cpu, idle, args, label, size)
    say(
        f"{verdict(failed_gets == 0 and late == 0)}  kill 1 of 3: {failed_gets} failed GETs, {failed_writes} writes "
        f"failed, all in flight to the killed node (target: no GET, no write sent after it was out)"
    )
    hop = through - straight
    say(
        f"{verdict(hop < HOP_TARGET_MS)}  the balancer adds {hop:.3f} ms p50 to a tool call "
        f"(target < {HOP_TARGET_MS} ms)"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds measured per CPU scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the flat-out CPU scenarios (medians)")
    parser.add_argument("--paced-duration", type=float, default=8.0, help="seconds measured per paced scenario")
    parser.add_argument("--paced-rounds", type=int, default=5, help="rounds of the paced CPU scenarios (medians)")
    parser.add_argument("--calls", type=int, default=300, help="tool calls per path (through, direct)")
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
