"""What tracing costs per request: server CPU per request of ``tesserra serve`` (SQLite, one worker)
with tracing off and on, the spans going to a sink on loopback that accepts and discards OTLP/HTTP
posts; and, in process, what the off path adds (the guard's no-op ``request_id`` call).

    PYTHONPATH=src .nox/tests/bin/python bench/tracing.py            # ~1 minute
    PYTHONPATH=src .nox/tests/bin/python bench/tracing.py --requests 500 --rounds 1

Targets: off, the added work is under 1 µs per request (PASS/MISS); on, under 0.5 ms of server CPU
per request for GET /api/auth/me and GET /api/installations (each a request span, a use-case span
and its statements). Requests are sequential on one keep-alive connection, alternating off and on.
See bench/README.md ("Tracing cost")."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import timeit
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import proc_cpu
from bench.harness import HOST, Serve, request, say, sequential_latencies, stop, stop_all

PATHS = ("/api/auth/me", "/api/installations")
OFF_TARGET_US = 1.0
ON_TARGET_MS = 0.5


class _Sink(BaseHTTPRequestHandler):
    posts = 0
    received = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).posts += 1
        type(self).received += len(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def off_path_ns() -> float:
    """Nanoseconds the off path adds per request: the guard's call to the no-op tracer."""
    from tesserra_core.ports.tracing import NoTracer

    tracer = NoTracer()
    calls = 1_000_000
    best = min(timeit.repeat(lambda: tracer.request_id("3f2a9c0d"), number=calls, repeat=3))
    return best / calls * 1e9


def measure(work: Path, name: str, sink: str | None, requests: int) -> dict[str, float]:
    """Server CPU per request (µs) for each path, for one fresh server."""
    serve = Serve.configure(name, f"sqlite+aiosqlite:///{work / (name + '.db')}", work)
    if sink is not None:
        serve.env["TESSERRA_OTEL_ENDPOINT"] = sink
    proc, _ = serve.start()
    try:
        status, body = request(
            serve.port, "POST", "/api/auth/login", body={"email": serve.email, "password": serve.password}
        )
        if status != 200:
            raise RuntimeError(f"login answered {status}")
        headers = {"Authorization": f"Bearer {json.loads(body)['access_token']}"}
        out = {}
        for path in PATHS:
            sequential_latencies(serve.port, path, headers, 100)  # warm-up
            before = proc_cpu(proc.pid)
            sequential_latencies(serve.port, path, headers, requests)
            out[path] = (proc_cpu(proc.pid) - before) / requests * 1e6
        return out
    finally:
        stop(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per path and run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating off/on runs")
    args = parser.parse_args()

    sink = ThreadingHTTPServer((HOST, 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://{HOST}:{sink.server_address[1]}"
    runs: dict[str, dict[str, list[float]]] = {"off": {p: [] for p in PATHS}, "on": {p: [] for p in PATHS}}
    try:
        with tempfile.TemporaryDirectory(prefix="tesserra-bench-tracing-") as tmp:
            work = Path(tmp)
            for round_ in range(args.rounds):
                for mode in ("off", "on"):
                    figures = measure(work, f"{mode}{round_}", endpoint if mode == "on" else None, args.requests)
                    for path, us in figures.items():
                        runs[mode][path].append(us)
    finally:
        stop_all()
        sink.shutdown()

    ns = off_path_ns()
    say(f"tracing off, in process: the no-op tracer adds {ns:.0f} ns per request")
    say(f"{'PASS' if ns / 1000 < OFF_TARGET_US else 'MISS'} tracing off adds under {OFF_TARGET_US} µs per request")
    say(f"sink: {_Sink.posts} OTLP posts, {_Sink.received} bytes")
    say("server CPU per request, µs (median of runs; each run's figures in brackets)")
    for path in PATHS:
        off, on = statistics.median(runs["off"][path]), statistics.median(runs["on"][path])
        each_off, each_on = [round(v) for v in runs["off"][path]], [round(v) for v in runs["on"][path]]
        say(f"  {path}: off {off:.0f} {each_off}, on {on:.0f} {each_on}: +{on - off:.0f} µs")
        verdict = "PASS" if (on - off) / 1000 < ON_TARGET_MS else "MISS"
        say(f"{verdict} tracing on adds under {ON_TARGET_MS} ms of server CPU per request on {path}")
    if _Sink.posts == 0:
        say("MISS no span reached the sink: tracing was not on")


if __name__ == "__main__":
    main()
