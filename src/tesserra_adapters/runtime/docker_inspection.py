"""What the Docker engine's inspection of a container says, as the port's ``Workload``: its state,
exit code and start time, and where its declared ports answer: the host ports they are published on
at 127.0.0.1, or, for a container that publishes none, the ports themselves at its address on its
private network (named by the container's own label, set by this server). And what a listing's
summary of a container says, as the port's ``WorkloadStatus``: the same state, read by the same
``state_of``, with the exit code from the summary's text (``Exited (137) 3 seconds ago``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from tesserra_adapters.runtime.docker_config import PRIVATE_NETWORK, PRIVATE_PREFIXES, owner_and_tenant
from tesserra_core.ports.runtime import Workload, WorkloadState, WorkloadStatus

_STATES = {
    "created": WorkloadState.CREATED,
    "running": WorkloadState.RUNNING,
    "restarting": WorkloadState.RUNNING,
    "paused": WorkloadState.RUNNING,
    "removing": WorkloadState.EXITED,
    "exited": WorkloadState.EXITED,
    "dead": WorkloadState.EXITED,
}
_EXITED = re.compile(r"Exited \((-?\d+)\)")


def state_of(status: str) -> tuple[WorkloadState, bool]:
    """The port's state of a container in the engine's ``status`` (inspection's ``State.Status``, a
    listing's ``State``), and whether it is paused."""
    return _STATES.get(status, WorkloadState.EXITED), status == "paused"


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


def private_networks(info: Mapping[str, Any]) -> list[str]:
    """The private networks the container is attached to, a tenant's first (a pooled container being
    claimed is briefly on the unclaimed one too)."""
    attached = ((info.get("NetworkSettings") or {}).get("Networks") or {}).keys()
    return sorted(
        (n for n in attached if n.startswith(PRIVATE_PREFIXES)), key=lambda n: n.startswith("tesserra-unclaimed")
    )


def _private(info: Mapping[str, Any]) -> tuple[str, dict[int, int]]:
    """The container's address on its private network and its declared ports there ("" and none when
    it has no address: not running)."""
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    found = private_networks(info)
    address = str((networks.get(found[0]) or {}).get("IPAddress") or "") if found else ""
    if not address:
        return "", {}
    declared = info["Config"].get("ExposedPorts") or {}
    return address, {int(key.partition("/")[0]): int(key.partition("/")[0]) for key in declared if key.endswith("/tcp")}


def workload_view(info: Mapping[str, Any]) -> Workload:
    labels = info["Config"].get("Labels") or {}
    state, paused = state_of(info["State"]["Status"])
    address, ports = "127.0.0.1", _ports(info)
    if labels.get(PRIVATE_NETWORK):
        address, ports = _private(info)
    owner, tenant = owner_and_tenant(labels, str(info.get("Name") or ""))
    return Workload(
        id=info["Id"],
        owner=owner,
        tenant_id=tenant,
        runtime="docker",
        state=state,
        image=info["Config"].get("Image"),
        ports=ports if state is WorkloadState.RUNNING else {},
        address=address or "127.0.0.1",
        exit_code=int(info["State"]["ExitCode"]) if state is WorkloadState.EXITED else None,
        started_at=_timestamp(info["State"].get("StartedAt")),
        paused=paused,
    )


class Summary(Protocol):
    """A container in the engine's listing (aiodocker's ``DockerContainer`` from ``containers.list``, or
    the listing's JSON object): its ``Id``, ``Names``, ``Labels``, ``State`` and ``Status``, always present."""

    def __getitem__(self, key: str, /) -> Any: ...


def summary_status(summary: Summary) -> WorkloadStatus:
    """A container as a listing summarises it. The exit code is the one its ``Status`` text shows: a
    container the engine is removing or failed to remove (``removing``, ``dead``) shows none, where an
    inspection would give its last one."""
    state, paused = state_of(str(summary["State"] or ""))
    owner, tenant_id = owner_and_tenant(summary["Labels"] or {}, str((summary["Names"] or [""])[0]))
    exit_code = None
    if state is WorkloadState.EXITED:
        found = _EXITED.match(str(summary["Status"] or ""))
        exit_code = int(found.group(1)) if found else None
    return WorkloadStatus(owner=owner, state=state, paused=paused, exit_code=exit_code, tenant_id=tenant_id)
