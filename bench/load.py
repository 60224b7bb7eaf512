"""Throughput and latency under load: ``wrk`` (one thread) or bench/loadgen.py, always in a process
of its own, with keep-alive connections for a fixed time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench.harness import BENCH, HOST, NICE, ahead_of_other_work


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_status: int
    socket_errors: int


class Loader:
    """wrk (one thread) or bench/loadgen.py, always in its own process. ``pause_ms``: each connection
    waits that long after an answer before its next request (0: none), which paces the load below
    what the server could take (wrk then runs a Lua hook per request)."""

    def __init__(
        self, kind: str, connections: int, warmup: float, duration: float, *, host: str = HOST, pause_ms: int = 0
    ) -> None:
        self.host = host
        self.pause_ms = pause_ms
        self.kind = kind
        self.connections = connections
        self.warmup = warmup
        self.duration = duration

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
            tool = f"{version} (1 thread)"
        else:
            tool = "bench/loadgen.py (asyncio + uvloop, 1 process)"
        paced = f", each pausing {self.pause_ms} ms after an answer" if self.pause_ms else ""
        return (
            f"{tool}, {self.connections} keep-alive connections{paced}, "
            f"{self.warmup:g} s warm-up then {self.duration:g} s measured per scenario; "
            f"servers and load generator at nice {NICE}"
        )

    def warm(self, port: int, path: str, headers: dict[str, str]) -> None:
        if self.warmup > 0:
            self._run(port, path, headers, self.warmup, report=False)

    def measure(self, port: int, path: str, headers: dict[str, str]) -> Load:
        return self._run(port, path, headers, self.duration, report=True)

    def _run(self, port: int, path: str, headers: dict[str, str], seconds: float, report: bool) -> Load:
        if self.kind == "wrk":
            cmd, tag = self._wrk(port, path, headers, seconds, report), "WRKJSON "
        else:
            cmd, tag = self._loadgen(port, path, headers, seconds), "LOADJSON "
        out = subprocess.run(
            cmd,
            env={**os.environ, "WRK_DELAY_MS": str(self.pause_ms)} if self.pause_ms else None,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
            start_new_session=True,
            preexec_fn=ahead_of_other_work,
        ).stdout
        if not report:
            return Load(0, 0, 0, 0, 0, 0)
        return self._parse(_tagged_json(out, tag))

    def _wrk(self, port: int, path: str, headers: dict[str, str], seconds: float, report: bool) -> list[str]:
        cmd = ["wrk", "-t1", f"-c{self.connections}", "--timeout", "10s", f"-d{max(1, round(seconds))}s"]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        if report or self.pause_ms:
            cmd += ["-s", str(BENCH / "wrk_report.lua")]
        cmd.append(f"http://{self.host}:{port}{path}")
        return cmd

    def _loadgen(self, port: int, path: str, headers: dict[str, str], seconds: float) -> list[str]:
        cmd = [
            sys.executable,
            str(BENCH / "loadgen.py"),
            "--host",
            self.host,
            "--port",
            str(port),
            "--path",
            path,
            "--connections",
            str(self.connections),
            "--warmup",
            "0",
            "--duration",
            str(seconds),
            "--pause-ms",
            str(self.pause_ms),
        ]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        return cmd

    def _parse(self, data: dict[str, Any]) -> Load:
        errors = (
            data["err_connect"] + data["err_read"] + data["err_write"] + data["err_timeout"]
            if self.kind == "wrk"
            else data["err_socket"]
        )
        return Load(
            rps=data["requests"] / (data["duration_us"] / 1e6),
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            requests=data["requests"],
            bad_status=data["err_status"],
            socket_errors=errors,
        )


def _tagged_json(output: str, tag: str) -> dict[str, Any]:
    for line in output.splitlines():
        if line.startswith(tag):
            found: dict[str, Any] = json.loads(line[len(tag) :])
            return found
    raise RuntimeError(f"load generator printed no {tag.strip()} line:\n{output}")


def choose_loader(kind: str) -> str:
    if kind == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or run with --loader python)")
    return kind
