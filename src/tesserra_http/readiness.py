"""Whether this worker wants new requests: /ready answers 200 until a drain starts (SIGTERM), then 503,
so that a load balancer stops sending before the server stops accepting (``serving``)."""

from __future__ import annotations


class Readiness:
    __slots__ = ("draining",)

    def __init__(self) -> None:
        self.draining = False

    def drain(self) -> None:
        self.draining = True
