"""Concurrent tool calls: many clients at once on one installation of mcp-server-time, through REST and
/mcp, each asking its own timezone and checking that the answer it gets back is its own.

One client is one keep-alive connection of its own (``RawHttp``), and over /mcp one MCP session of its
own (``RawMcp``). Every client sends ``calls`` calls of ``get_current_time`` with ``{"timezone": its
zone}`` back to back, all clients at once. An answer naming another client's zone is *misrouted* (the
server mixed up two calls in flight on its pooled tool-server session); an answer that is not 200, or
is a tool error, is an *error*. Printed per path: throughput, p50 and p99 latency, misrouted, errors.
Target: 0 misrouted and 0 errors on both paths.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench.harness import say
from bench.tool_harness import RawHttp, RawMcp, line

ZONES = (
    "UTC", "Europe/Paris", "Europe/Berlin", "Europe/Lisbon", "Europe/Madrid", "Europe/Rome", "Europe/Warsaw",
    "Europe/Athens", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Africa/Cairo", "Africa/Lagos",
    "Africa/Nairobi", "Asia/Dubai", "Asia/Karachi", "Asia/Kolkata", "Asia/Dhaka", "Asia/Bangkok",
    "Asia/Shanghai", "Asia/Tokyo", "Asia/Seoul", "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "America/New_York", "America/Chicago", "America/Denver",
    "America/Los_Angeles", "America/Anchorage", "Pacific/Honolulu",
)  # fmt: skip


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    misrouted: int = 0
    errors: int = 0
    seconds: float = 0.0

    def count(self, zone: str, answered: str | None) -> None:
        if answered is None:
            self.errors += 1
        elif answered != zone:
            self.misrouted += 1

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def _zone_of_rest(status: int, answer: bytes) -> str | None:
    if status != 200:
        return None
    body = json.loads(answer)
    if body["is_error"]:
        return None
    return str((body.get("structured_content") or {}).get("timezone"))


def _zone_of_mcp(status: int, answer: bytes) -> str | None:
    if status != 200:
        return None
    result = json.loads(answer).get("result") or {}
    if result.get("isError"):
        return None
    structured = result.get("structuredContent") or {}
    inner = structured.get("structured_content") or structured
    return str(inner.get("timezone"))


async def _rest_client(port: int, key: str, installation_id: str, zone: str, calls: int, out: Outcome) -> None:
    raw = RawHttp(port)
    path = f"/api/installations/{installation_id}/tools/call"
    body = json.dumps({"name": "get_current_time", "arguments": {"timezone": zone}}).encode()
    try:
        for _ in range(calls):
            t0 = time.perf_counter()
            status, answer = await raw.post(path, body, {"X-API-Key": key})
            out.latencies.append((time.perf_counter() - t0) * 1000)
            out.count(zone, _zone_of_rest(status, answer))
    finally:
        raw.close()


async def _mcp_client(port: int, key: str, installation_id: str, zone: str, calls: int, out: Outcome) -> None:
    session = RawMcp(RawHttp(port), key)
    arguments = {"installation_id": installation_id, "name": "get_current_time", "arguments": {"timezone": zone}}
    try:
        await session.initialize()
        for _ in range(calls):
            t0 = time.perf_counter()
            status, answer = await session.call("call_installation_tool", arguments)
            out.latencies.append((time.perf_counter() - t0) * 1000)
            out.count(zone, _zone_of_mcp(status, answer))
    finally:
        session.close()


async def _all_at_once(client: Any, port: int, key: str, installation_id: str, clients: int, calls: int) -> Outcome:
    out = Outcome()
    zones = [ZONES[i % len(ZONES)] for i in range(clients)]
    t0 = time.perf_counter()
    await asyncio.gather(*(client(port, key, installation_id, zone, calls, out) for zone in zones))
    out.seconds = time.perf_counter() - t0
    return out


async def concurrent_calls(port: int, key: str, installation_id: str, clients: int, calls: int) -> dict[str, Outcome]:
    """Warm once with a few calls per client, then time ``clients`` x ``calls`` on each path."""
    paths = {"REST": _rest_client, "/mcp": _mcp_client}
    for client in paths.values():
        await _all_at_once(client, port, key, installation_id, clients, 2)
    return {
        name: await _all_at_once(client, port, key, installation_id, clients, calls) for name, client in paths.items()
    }


def report(outcomes: dict[str, Outcome], clients: int) -> list[tuple[bool, str]]:
    """Print the figures; return the judged targets (passed, text)."""
    verdicts = []
    for name, out in outcomes.items():
        say(line(f"{name}: {clients} clients, own timezone each", out.latencies))
        say(f"  {out.per_second:,.0f} calls/s   misrouted {out.misrouted}   errors {out.errors}")
        verdicts.append((out.misrouted == 0, f"{name}: 0 misrouted answers at {clients} clients   {out.misrouted}"))
        verdicts.append((out.errors == 0, f"{name}: 0 failed calls at {clients} clients   {out.errors}"))
    return verdicts
