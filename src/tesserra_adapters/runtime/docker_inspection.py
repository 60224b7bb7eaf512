"""What the Docker engine's inspection of a container says, as the port's ``Workload``: its state,
exit code and start time, and where its declared ports answer: the host ports they are published on
at 127.0.0.1, or, for a container that publishes none, the ports themselves at its address on its
private network (named by the container's own label, set by this server)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tesserra_adapters.runtime.docker_config import OWNER, PRIVATE_NETWORK, TENANT
from tesserra_core.ports.runtime import Workload, WorkloadState

_STATES = {
    "created": WorkloadState.CREATED,
    "running": WorkloadState.RUNNING,
    "restarting": WorkloadState.RUNNING,
    "paused": WorkloadState.RUNNING,
    "removing": WorkloadState.EXITED,
    "exited": WorkloadState.EXITED,
    "dead": WorkloadState.EXITED,
}


def _timestamp(value: str | None) -> datetime | None:
    """Docker's RFC 3339 time with nanoseconds; its zero time means never."""
    if not value or value.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if match is None:
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}").astimezone(UTC)


def _ports(info: Mapping[str, Any]) -> dict[int, int]:
    published = (info.get("NetworkSettings") or {}).get("Ports") or {}
    ports: dict[int, int] = {}
    for key, bindings in published.items():
        port, _, proto = key.partition("/")
        for binding in bindings or ():
            if proto == "tcp" and binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                ports[int(port)] = int(binding["HostPort"])
                break
    return ports


def _private(info: Mapping[str, Any], network: str) -> tuple[str, dict[int, int]]:
    """The container's address on ``network`` and its declared ports there ("" and none when it has
    no address: not running, or not on that network)."""
    attached = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
    address = str(attached.get("IPAddress") or "")
    if not address:
        return "", {}
    declared = info["Config"].get("ExposedPorts") or {}
    return address, {int(key.partition("/")[0]): int(key.partition("/")[0]) for key in declared if key.endswith("/tcp")}


def workload_view(info: Mapping[str, Any]) -> Workload:
    labels = info["Config"].get("Labels") or {}
    status = info["State"]["Status"]
    state = _STATES.get(status, WorkloadState.EXITED)
    address, ports = "127.0.0.1", _ports(info)
    if labels.get(PRIVATE_NETWORK):
        address, ports = _private(info, labels[PRIVATE_NETWORK])
    return Workload(
        id=info["Id"],
        owner=labels.get(OWNER, ""),
        tenant_id=labels.get(TENANT, ""),
        runtime="docker",
        state=state,
        image=info["Config"].get("Image"),
        ports=ports if state is WorkloadState.RUNNING else {},
        address=address or "127.0.0.1",
        exit_code=int(info["State"]["ExitCode"]) if state is WorkloadState.EXITED else None,
        started_at=_timestamp(info["State"].get("StartedAt")),
        paused=status == "paused",
    )
