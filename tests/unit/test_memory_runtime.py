"""The memory runtime's own knobs: a custom ``main`` as an in-process stdio server, crashes, images."""

from __future__ import annotations

import asyncio
import json

import pytest

from tesserra_adapters.runtime.memory import MemoryIO, MemoryRuntime
from tesserra_core.errors import Unavailable
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState


def spec(**fields: object) -> WorkloadSpec:
    return WorkloadSpec(owner="installation:1", tenant_id="t1", command=("server",), **fields)  # type: ignore[arg-type]


async def test_a_custom_main_serves_json_rpc_over_stdio() -> None:
    async def server(io: MemoryIO) -> int:
        while True:
            try:
                request = json.loads(await io.stdio.receive())
            except EOFError:
                return 0
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"echo": request["method"], "env": io.spec.env}}
            await io.stdio.send(json.dumps(answer).encode())

    runtime = MemoryRuntime(server)
    workload = await runtime.run(spec(stdio=True, env={"TOKEN": "abc"}))
    channel = await runtime.attach(workload.id)
    await channel.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode())
    reply = json.loads(await asyncio.wait_for(channel.receive(), 5))
    assert reply == {"jsonrpc": "2.0", "id": 7, "result": {"echo": "tools/list", "env": {"TOKEN": "abc"}}}
    await channel.aclose()
    await runtime.aclose()
    seen = await runtime.inspect(workload.id)
    assert seen is not None, workload.id
    assert seen.state is WorkloadState.EXITED


async def test_a_crashing_main_exits_non_zero_with_the_error_in_its_logs() -> None:
    async def crash(io: MemoryIO) -> int:
        raise RuntimeError("boom")

    runtime = MemoryRuntime(crash)
    workload = await runtime.run(spec())
    await asyncio.sleep(0)
    found = await runtime.inspect(workload.id)
    assert found is not None
    assert found.state is WorkloadState.EXITED
    assert found.exit_code == 1
    assert "RuntimeError: boom" in await runtime.logs(workload.id)


async def test_only_known_images_run_when_images_are_given() -> None:
    runtime = MemoryRuntime(images={"tesserra-test/busybox:latest"})
    assert (await runtime.run(spec(image="tesserra-test/busybox:latest"))).state is WorkloadState.RUNNING
    with pytest.raises(Unavailable) as missing:
        await runtime.run(spec(image="absent:1"))
    assert missing.value.code == "image_missing"
    await runtime.aclose()
