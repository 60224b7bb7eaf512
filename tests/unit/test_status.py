"""Service status: probes run concurrently with a time limit; the result aggregates, never raises."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tesserra_core.domain.identity import Scope
from tesserra_core.errors import Forbidden
from tesserra_core.facade import UseCases
from tesserra_core.ports.health import ComponentHealth, Health, Probe
from tesserra_core.ports.leases import SoleLeases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.status import ServiceStatus
from tests.unit.helpers import FakeClock, Team


@dataclass
class FixedProbe:
    name: str
    health: Health
    critical: bool = False

    async def check(self) -> ComponentHealth:
        return ComponentHealth(self.health, f"{self.name} says {self.health.value}")


@dataclass
class HangingProbe:
    name: str = "hangs"
    critical: bool = True

    async def check(self) -> ComponentHealth:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


@dataclass
class RaisingProbe:
    name: str = "raises"
    critical: bool = False

    async def check(self) -> ComponentHealth:
        raise ConnectionResetError("peer went away")


def _status(clock: FakeClock, probes: Sequence[Probe], timeout: float = 0.05) -> ServiceStatus:
    return ServiceStatus(probes, clock, clock.monotonic(), "9.9.9", SoleLeases(), "here", timeout=timeout)


async def test_all_ok_is_ok_and_lists_every_component(clock: FakeClock) -> None:
    status = _status(clock, [FixedProbe("database", Health.OK, critical=True), FixedProbe("disk", Health.OK)])
    clock.advance(12.5)

    view = await status()

    assert view.status is Health.OK
    assert set(view.components) == {"service", "database", "disk"}
    assert view.components["database"].detail == "database says ok"
    assert view.version == "9.9.9"
    assert view.uptime_seconds == pytest.approx(12.5)


async def test_no_probes_is_ok(clock: FakeClock) -> None:
    view = await _status(clock, [])()

    assert view.status is Health.OK
    assert set(view.components) == {"service"}


@pytest.mark.parametrize(
    "probe",
    [
        FixedProbe("docker", Health.DEGRADED),
        FixedProbe("docker", Health.DOWN),
        FixedProbe("database", Health.DEGRADED, critical=True),
    ],
    ids=["degraded", "non-critical-down", "critical-degraded"],
)
async def test_a_component_in_trouble_degrades_the_service(clock: FakeClock, probe: FixedProbe) -> None:
    view = await _status(clock, [FixedProbe("disk", Health.OK), probe])()

    assert view.status is Health.DEGRADED
    assert view.components[probe.name].status is probe.health


async def test_a_critical_component_down_takes_the_service_down(clock: FakeClock) -> None:
    probes = [FixedProbe("docker", Health.DEGRADED), FixedProbe("database", Health.DOWN, critical=True)]

    view = await _status(clock, probes)()

    assert view.status is Health.DOWN


async def test_a_hanging_critical_probe_times_out_as_down(clock: FakeClock) -> None:
    view = await asyncio.wait_for(_status(clock, [HangingProbe(), FixedProbe("disk", Health.OK)])(), 5)

    assert view.status is Health.DOWN
    assert view.components["hangs"].status is Health.DOWN
    assert "no answer within" in view.components["hangs"].detail
    assert view.components["disk"].status is Health.OK


async def test_a_hanging_non_critical_probe_only_degrades(clock: FakeClock) -> None:
    view = await _status(clock, [HangingProbe(critical=False)])()

    assert view.status is Health.DEGRADED
    assert view.components["hangs"].status is Health.DOWN


async def test_a_raising_probe_is_down_and_its_message_does_not_leak(clock: FakeClock) -> None:
    view = await _status(clock, [RaisingProbe(critical=True)])()

    assert view.status is Health.DOWN
    assert view.components["raises"] == ComponentHealth(Health.DOWN, "ConnectionResetError")


async def test_probes_run_concurrently(clock: FakeClock) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()

    await _status(clock, [HangingProbe(name=f"h{i}", critical=False) for i in range(5)], timeout=0.2)()

    assert loop.time() - start < 0.8


async def test_status_needs_the_status_scope_when_asked_by_a_caller(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="narrow", scopes=[Scope.PROJECTS_READ]))
    narrow = await uc.authenticate(minted.key)

    with pytest.raises(Forbidden):
        await uc.service.status(narrow)

    assert (await uc.service.status(team.member)).status is Health.OK
    assert (await uc.service.status()).status is Health.OK
