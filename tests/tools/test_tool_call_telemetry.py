"""Every call to an installed tool server is reported to the telemetry port (issue 15): its time, per
catalog entry, and the error code when it fails; /metrics counts the runtime's workloads by state.
Real tool servers on the process runtime; the telemetry is a recording fake of the port."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack

import pytest

from tesserra_adapters.bootstrap import build, memory_ports, secret_box_from
from tesserra_adapters.plans import FixedEntitlements
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_adapters.settings import Settings
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.errors import Unavailable
from tesserra_core.facade import UseCases
from tesserra_core.usecases.installations import InstallRequest, ToolCall
from tests.tools.helpers import PROBE, SECRET, settled
from tests.unit.helpers import Team


class RecordingTelemetry:
    """The port, keeping what it is told."""

    enabled = True

    def __init__(self) -> None:
        self.tool_calls: list[tuple[str, float, str | None]] = []
        self.rendered: list[dict[tuple[str, str], int]] = []

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        return None

    def tool_call(self, server: str, seconds: float, error: str | None) -> None:
        self.tool_calls.append((server, seconds, error))

    def rate_limited(self, rule: str) -> None:
        return None

    def render(self, workloads: Mapping[tuple[str, str], int], runners: Mapping[str, bool]) -> bytes:
        self.rendered.append(dict(workloads))
        return b"rendered"


@pytest.fixture
def telemetry() -> RecordingTelemetry:
    return RecordingTelemetry()


@pytest.fixture
async def uc(settings: Settings, exit_stack: AsyncExitStack, telemetry: RecordingTelemetry) -> AsyncIterator[UseCases]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = secret_box_from(settings)
    runtime = ProcessRuntime(settings.data_dir, box=box, sandbox=Sandbox())
    entitlements = FixedEntitlements(PlanLimits(installations=50))
    ports = memory_ports(settings, exit_stack, secret_box=box, runtime=runtime, entitlements=entitlements)
    facade = await build(dataclasses.replace(ports, telemetry=telemetry), settings)
    try:
        yield facade
    finally:
        await facade.tool_servers.close()
        for workload in await runtime.list():
            await runtime.remove(workload.id)
        await runtime.aclose()


async def test_tool_calls_report_their_time_and_failures_per_catalog_entry(
    uc: UseCases, team: Team, telemetry: RecordingTelemetry
) -> None:
    view = await uc.installations.install(team.owner, PROBE, InstallRequest(config={"PROBE_TOKEN": SECRET}))
    ready = await settled(uc, team.owner, view.id)
    assert ready.status == "ready", ready.status_reason

    await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="pid"))
    with pytest.raises(Unavailable) as timed_out:
        await uc.installations.call_tool(
            team.owner, ready.id, ToolCall(name="slow", arguments={"seconds": 5}, timeout=0.3)
        )
    assert timed_out.value.code == "tool_call_timeout"

    assert [(server, error) for server, _, error in telemetry.tool_calls] == [
        (PROBE, None),
        (PROBE, "tool_call_timeout"),
    ]
    assert 0.3 <= telemetry.tool_calls[1][1] < 5  # the timed-out call took its limit, not the tool's 5 s

    assert await uc.service.metrics() == b"rendered"
    assert telemetry.rendered[-1] == {("process", "running"): 1}  # the probe server's workload
