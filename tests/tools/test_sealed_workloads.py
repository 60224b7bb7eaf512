"""The process runtime with a secret box: environments sealed at rest, and still there for a restart
by another server on the same data directory."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.secret_box import AesGcmSecretBox
from tesserra_core.ports.runtime import WorkloadSpec, WorkloadState


async def seen(work: Path, count: int) -> list[str]:
    """The lines the workload wrote, once there are ``count`` of them (or after 5 s)."""
    lines: list[str] = []
    for _ in range(100):
        path = work / "seen"
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            break
        await asyncio.sleep(0.05)
    return lines


async def test_sealed_environment_survives_a_server_restart(tmp_path: Path) -> None:
    box = AesGcmSecretBox.from_secrets(b"k" * 48)
    work = tmp_path / "work"
    work.mkdir()
    spec = WorkloadSpec(
        owner="installation:sealed",
        tenant_id="t",
        command=("/bin/sh", "-c", 'echo "$SECRET_SETTING" >> seen; exec sleep 30'),
        env={"SECRET_SETTING": "very-secret-value"},
        workdir=str(work),
    )
    before = ProcessRuntime(tmp_path, box=box)
    workload = await before.run(spec)
    record = tmp_path / "workloads" / workload.id / "workload.json"
    assert b"very-secret-value" not in record.read_bytes()
    assert await seen(work, 1) == ["very-secret-value"]
    await before.stop(workload.id, grace=1)
    await before.aclose()
    after = ProcessRuntime(tmp_path, box=box)  # a new server, same data dir and key
    restarted = await after.start(workload.id)
    assert restarted.state is WorkloadState.RUNNING
    assert await seen(work, 2) == ["very-secret-value"] * 2
    assert b"very-secret-value" not in record.read_bytes()
    await after.remove(workload.id)
    await after.aclose()
