"""Probes of the components the service depends on, for ``/status``."""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec


class Health(enum.StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class ComponentHealth(msgspec.Struct, frozen=True):
    status: Health
    detail: str = ""
    latency_ms: float | None = None


class Probe(Protocol):
    name: str
    critical: bool
    """A critical component down means the service is down; otherwise only degraded."""

    async def check(self) -> ComponentHealth: ...


class HttpCheck(msgspec.Struct, frozen=True):
    """One HTTP GET as a health check sees it: the status, or why there was none."""

    status_code: int | None
    latency_ms: float
    error: str | None = None


class HttpProbe(Protocol):
    async def get(self, url: str, within: float) -> HttpCheck:
        """GET ``url`` within ``within`` seconds. Never raises for the target's failures (refused,
        timed out, reset): they come back as ``error``."""
        ...
