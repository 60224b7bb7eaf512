"""ContainerRuntime contract, pause and resume: the same suite on the in-memory fake, local processes
and real Docker (the harness of test_container_runtime.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tesserra_core.errors import Conflict, NotFound
from tesserra_core.ports.runtime import WorkloadState
from tests.contract.test_container_runtime import HTTP_PORT, REAL, RUNTIMES, Harness, open_harness, served
from tests.support import eventually


@pytest.fixture(params=RUNTIMES)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with open_harness(request.param, tmp_path) as opened:
        yield opened


async def test_pause_and_resume_are_idempotent_and_stop_ends_a_paused_workload(harness: Harness) -> None:
    runtime = harness.runtime
    workload = await runtime.run(harness.sleeper())
    assert workload.paused is False
    for _ in range(2):
        paused = await runtime.pause(workload.id)
        assert paused.state is WorkloadState.RUNNING
        assert paused.paused is True
    inspected = await runtime.inspect(workload.id)
    assert inspected is not None
    assert inspected.paused is True
    for _ in range(2):
        resumed = await runtime.resume(workload.id)
        assert resumed.state is WorkloadState.RUNNING
        assert resumed.paused is False
    await runtime.pause(workload.id)
    async with asyncio.timeout(15):
        stopped = await runtime.stop(workload.id, grace=5)
    assert stopped.state is WorkloadState.EXITED
    assert stopped.paused is False
    with pytest.raises(Conflict):
        await runtime.pause(workload.id)
    with pytest.raises(Conflict):
        await runtime.resume(workload.id)
    with pytest.raises(NotFound):
        await runtime.pause("0" * 32)


@pytest.mark.parametrize("harness", REAL, indirect=True)
async def test_a_paused_server_does_not_answer_until_resumed(harness: Harness) -> None:
    workload = await harness.runtime.run(harness.http())
    await eventually(lambda: served(workload), within=20)
    await harness.runtime.pause(workload.id)
    with pytest.raises(httpx.TimeoutException):
        async with httpx.AsyncClient(timeout=0.5) as client:
            await client.get(f"http://127.0.0.1:{workload.ports[HTTP_PORT]}/")
    await harness.runtime.resume(workload.id)
    response = await eventually(lambda: served(workload), within=10)
    assert response.status_code == 200
