"""Stand-in until the runtime adapters land: runs nothing, says so. Container resources fail with
that reason (recorded, visible), everything else works. Replaced by the runtime branch's adapters."""

from __future__ import annotations

from tesserra_core.errors import Unavailable
from tesserra_core.ports.runtime import StdioChannel, Workload, WorkloadSpec


def _refuse() -> Unavailable:
    return Unavailable("no container runtime is configured on this server", code="runtime_unavailable")


class UnavailableRuntime:
    name = "none"

    async def run(self, spec: WorkloadSpec) -> Workload:
        raise _refuse()

    async def start(self, workload_id: str) -> Workload:
        raise _refuse()

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        raise _refuse()

    async def restart(self, workload_id: str) -> Workload:
        raise _refuse()

    async def remove(self, workload_id: str) -> None:
        return None

    async def inspect(self, workload_id: str) -> Workload | None:
        return None

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        return []

    async def attach(self, workload_id: str) -> StdioChannel:
        raise _refuse()

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        raise _refuse()
