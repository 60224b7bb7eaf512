"""Streamed chat answers through a real ``tesserra serve`` (one worker, SQLite), with the test suite's
scripted OpenAI-compatible provider on loopback HTTP in this process.

1. Delta latency: the time from the provider handing a text delta to its server to the client reading
   it as a ``text_delta`` event (both clocks are this process's ``perf_counter``); target p50 < 20 ms.
   Each delta goes provider -> Tesserra (parsed, stored in its own transaction, published) -> client.
2. Concurrency: ``--streams`` conversations streaming at once on the one worker, every answer checked
   (201, its events numbered 1..n, ``done`` complete with the whole text); the server's RSS is reported.

    PYTHONPATH=src python -m bench.chat_stream [--answers 5] [--deltas 20] [--streams 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench.harness import Serve, say, stop
from tests.servers.scripted_model import Scripted, ScriptedModelServer, scripted_model

from tesserra_core.ports.models import Finish, TextDelta

TARGET_MS = 20.0
SSE = {"Accept": "text/event-stream"}


def _rss_mb(pid: int) -> tuple[float, float]:
    """The process's resident set now and at its peak, in MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def _turn(deltas: int, gap: float) -> list[Scripted]:
    steps: list[Scripted] = []
    for n in range(deltas):
        steps += [TextDelta(f"d{n} "), gap]
    return [*steps, Finish("stop")]


async def _conversation(http: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await http.post("/api/conversas", json={"agent_id": "ops-assistant"}, headers=auth)
    response.raise_for_status()
    return str(response.json()["id"])


async def _stream(http: httpx.AsyncClient, auth: dict[str, str], conversation: str) -> tuple[list[float], bytes]:
    """(when each text_delta arrived, the whole body)."""
    arrived: list[float] = []
    body = b""
    url = f"/api/conversas/{conversation}/mensagens"
    async with http.stream("POST", url, json={"content": "conta"}, headers={**auth, **SSE}) as response:
        if response.status_code != 201:
            raise RuntimeError(f"answered {response.status_code}: {(await response.aread())[:200]!r}")
        async for chunk in response.aiter_raw():
            now = time.perf_counter()
            arrived += [now] * chunk.count(b"event: text_delta")
            body += chunk
    return arrived, body


def _check(body: bytes, deltas: int) -> None:
    frames = [f.split("\n") for f in body.decode().split("\n\n") if f]
    ids = [int(f[0][4:]) for f in frames]
    if ids != list(range(1, len(ids) + 1)):
        raise RuntimeError(f"events out of order: {ids}")
    done = json.loads(frames[-1][2][6:])
    expected = "".join(f"d{n} " for n in range(deltas))
    if frames[-1][1] != "event: done" or done["status"] != "complete" or done["content"] != expected:
        raise RuntimeError(f"bad end of stream: {frames[-1]}")


async def latency(model: ScriptedModelServer, http: httpx.AsyncClient, auth: dict[str, str], args: Any) -> float:
    gaps: list[list[float]] = []
    for _ in range(args.answers + 1):  # the first one warms up
        model.script(_turn(args.deltas, 0.02))
        arrived, body = await _stream(http, auth, await _conversation(http, auth))
        _check(body, args.deltas)
        gaps.append([(a - s) * 1000 for s, a in zip(model.sent, arrived, strict=True)])
    samples = [g for answer in gaps[1:] for g in answer]
    ordered = sorted(samples)
    p50, p95 = statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]
    say(f"delta latency, {len(samples)} deltas: p50 {p50:.2f} ms, p95 {p95:.2f} ms, max {ordered[-1]:.2f} ms")
    return p50


async def concurrency(
    model: ScriptedModelServer, http: httpx.AsyncClient, auth: dict[str, str], args: Any, pid: int
) -> int:
    conversations = [await _conversation(http, auth) for _ in range(args.streams)]
    model.script(then=_turn(args.deltas, 0.05))
    started = time.perf_counter()
    results = await asyncio.gather(*(_stream(http, auth, c) for c in conversations), return_exceptions=True)
    seconds = time.perf_counter() - started
    errors = 0
    for result in results:
        try:
            if isinstance(result, BaseException):
                raise result
            _check(result[1], args.deltas)
        except Exception as exc:
            errors += 1
            if errors <= 3:
                say(f"  error: {exc!r}")
    rss, peak = _rss_mb(pid)
    say(
        f"{args.streams} concurrent streams x {args.deltas} deltas: {seconds:.2f} s, {errors} errors; "
        f"server RSS {rss:.0f} MiB (peak {peak:.0f} MiB)"
    )
    return errors


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="tesserra-bench-chat-"))
    async with scripted_model() as model:
        serve = Serve.configure("chat", f"sqlite+aiosqlite:///{work / 'chat.db'}", work)
        env = {**serve.env, "TESSERRA_MODEL_BASE_URL": model.url, "TESSERRA_MODEL": "bench"}
        serve = Serve(serve.port, env, serve.log, serve.email, serve.password)
        proc, _ = await asyncio.to_thread(serve.start)
        try:
            limits = httpx.Limits(max_connections=args.streams + 10, max_keepalive_connections=args.streams + 10)
            base = f"http://127.0.0.1:{serve.port}"
            async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
                login = {"email": serve.email, "password": serve.password}
                token = (await http.post("/api/auth/login", json=login)).json()["access_token"]
                auth = {"Authorization": f"Bearer {token}"}
                unlimited = {
                    "chat_tokens_per_month": None,
                    "chat_tool_calls_per_month": None,
                    "chat_tokens_per_user_per_day": None,
                    "chat_tool_calls_per_user_per_day": None,
                }
                plan = {"code": "free", "name": "Free", "limits": unlimited}
                (await http.post("/api/admin/planos", json=plan, headers=auth)).raise_for_status()
                p50 = await latency(model, http, auth, args)
                errors = await concurrency(model, http, auth, args, proc.pid)
        finally:
            await asyncio.to_thread(stop, proc)
    passed = p50 < TARGET_MS
    say(f"{'PASS' if passed else 'MISS'}  delta reaches the client p50 < {TARGET_MS:g} ms   {p50:.2f} ms")
    say(f"{'PASS' if errors == 0 else 'MISS'}  {args.streams} concurrent streams without errors   {errors} errors")
    return int(not passed) + int(errors > 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Streamed chat benchmark (see bench/README.md)")
    parser.add_argument("--answers", type=int, default=5)
    parser.add_argument("--deltas", type=int, default=20)
    parser.add_argument("--streams", type=int, default=200)
    misses = asyncio.run(main(parser.parse_args()))
    say(f"{misses} target(s) missed")
