"""Service status: every dependency probed concurrently, each with a time limit."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.ports import Ports
from tesserra_core.ports.health import ComponentHealth, Health, Probe
from tesserra_core.ports.leases import RunnerLeases
from tesserra_core.ports.runtime import ContainerRuntime
from tesserra_core.ports.system import Clock
from tesserra_core.ports.telemetry import Telemetry
from tesserra_core.usecases.views import RunnerView, StatusView


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Service, database, Docker engine and storage, each ok, degraded or down, probed with time limits. Anyone
    may ask; a caller who does needs ``status:read``."""

    scope: ClassVar[Scope] = Scope.STATUS_READ

    probes: Sequence[Probe]
    clock: Clock
    started: float
    version: str
    leases: RunnerLeases
    holder: str
    timeout: float = 2.0

    async def __call__(self, actor: Principal | None = None) -> StatusView:
        """With a platform admin as ``actor``, the runner leases too."""
        if actor is not None:
            actor.require(self.scope)
        results = await asyncio.gather(*(self._check(p) for p in self.probes))
        components = {"service": ComponentHealth(Health.OK)}
        components.update({p.name: r for p, r in zip(self.probes, results, strict=True)})
        overall = Health.OK
        for probe, result in zip(self.probes, results, strict=True):
            if result.status is Health.DOWN and probe.critical:
                overall = Health.DOWN
            elif result.status is not Health.OK and overall is Health.OK:
                overall = Health.DEGRADED
        return StatusView(
            status=overall,
            version=self.version,
            uptime_seconds=round(self.clock.monotonic() - self.started, 3),
            components=components,
            runners=await self._runners() if actor is not None and actor.is_platform_admin else None,
        )

    async def _runners(self) -> list[RunnerView]:
        now = self.clock.now().timestamp()

        def at(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        return [
            RunnerView(
                name=lease.name,
                holder=lease.holder,
                node=lease.holder.partition("@")[0] if lease.holder and "@" in lease.holder else None,
                generation=lease.generation,
                held=lease.holder is not None and lease.expires_at > now,
                held_here=lease.holder == self.holder and lease.expires_at > now,
                expires_at=at(lease.expires_at),
                last_run_at=at(lease.last_run_at) if lease.last_run_at is not None else None,
                last_error=lease.last_error,
            )
            for lease in await self.leases.all()
        ]

    async def _check(self, probe: Probe) -> ComponentHealth:
        try:
            return await asyncio.wait_for(probe.check(), self.timeout)
        except TimeoutError:
            return ComponentHealth(Health.DOWN, f"no answer within {self.timeout:g}s")
        except Exception as exc:  # a probe must never break /status
            return ComponentHealth(Health.DOWN, type(exc).__name__)


@dataclass(frozen=True, slots=True)
class ServiceMetrics:
    """Every metric in Prometheus text format, with what is read at the moment of the scrape: the
    workloads counted by runtime and state (the runtime's own listing, which every worker of a node
    shares: its ``statuses``, on Docker one call where ``list`` inspects each container) and, for each
    runner lease, whether a worker of this node (``node_id``) holds it unexpired, so that summed over
    the cluster's nodes each runner has exactly one holder. The driver decides who may read them (the
    metrics token)."""

    telemetry: Telemetry
    runtime: ContainerRuntime
    leases: RunnerLeases
    clock: Clock
    node_id: str

    async def __call__(self) -> bytes:
        counts: Counter[tuple[str, str]] = Counter()
        for status in (await self.runtime.statuses()).values():
            counts[(self.runtime.name, status.state.value)] += 1  # a runtime's workloads are all of its name
        now = self.clock.now().timestamp()
        runners = {
            lease.name: lease.holder is not None
            and lease.holder.partition("@")[0] == self.node_id
            and lease.expires_at > now
            for lease in await self.leases.all()
        }
        return self.telemetry.render(counts, runners)


@dataclass(frozen=True, slots=True)
class Service:
    """GET /status and GET /metrics."""

    status: ServiceStatus
    metrics: ServiceMetrics


def service(p: Ports, *, version: str, holder: str = "local") -> Service:
    return Service(
        status=ServiceStatus(p.probes, p.clock, p.clock.monotonic(), version, p.leases, holder),
        metrics=ServiceMetrics(p.telemetry, p.runtime, p.leases, p.clock, p.node_id),
    )
