"""What the core reports for operators to watch (Prometheus at /metrics in the real adapter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class Telemetry(Protocol):
    """Counters and timings. Every call is cheap and never fails: a metric is never worth a request."""

    @property
    def enabled(self) -> bool:
        """False for the no-op adapter: drivers then skip measuring altogether."""
        ...

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One HTTP request, labelled by its route template (never the raw path)."""
        ...

    def tool_call(self, server: str, seconds: float, error: str | None) -> None:
        """One call to an installed tool server (the catalog entry), with the error code if it failed."""
        ...

    def rate_limited(self, rule: str) -> None:
        """One request refused by a rate-limit rule."""
        ...

    def render(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> bytes:
        """Every series in Prometheus text format, with the workloads counted by (runtime, state) and,
        for each runner lease of the cluster, whether this node holds it."""
        ...


class NoTelemetry:
    """Telemetry off: nothing is measured, nothing is kept."""

    enabled = False

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        return None

    def tool_call(self, server: str, seconds: float, error: str | None) -> None:
        return None

    def rate_limited(self, rule: str) -> None:
        return None

    def render(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> bytes:
        return b""
