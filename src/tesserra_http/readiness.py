"""Whether this worker wants new requests: /ready answers 200 until a drain starts (SIGTERM), then 503,
so that a load balancer stops sending before the server stops accepting (``serving``)."""

from __future__ import annotations

import msgspec


class Liveness(msgspec.Struct, frozen=True):
    """GET /health's answer: the process answers."""

    status: str = "ok"
    success: bool = True


class ReadinessView(msgspec.Struct, frozen=True):
    """GET /ready's answer."""

    status: str
    success: bool


LIVE = Liveness()
READY = ReadinessView("ready", True)
DRAINING = ReadinessView("draining", False)
"""The probes' answers, written once: the routes (``controllers``) and ``probes`` send them."""


class Readiness:
    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False

    def drain(self) -> None:
        self.draining = True
