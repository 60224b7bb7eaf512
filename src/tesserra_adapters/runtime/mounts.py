"""What every runtime checks of a spec's mounts before it runs anything."""

from __future__ import annotations

from pathlib import Path

from tesserra_core.errors import ValidationFailed
from tesserra_core.ports.runtime import WorkloadSpec

CONTAINER_USER = (65534, 65534)
"""The uid and gid every container workload runs as (``nobody``); its workspace belongs to them."""


def check_sources(spec: WorkloadSpec) -> None:
    """Each mount's source is an existing directory (Docker would otherwise fail, or create it as root)."""
    for mount in spec.mounts:
        if not Path(mount.source).is_dir():
            raise ValidationFailed(f"mount source {mount.source} is not a directory", code="invalid_mount")


def check_inside(spec: WorkloadSpec, root: Path | None) -> None:
    """Each mount's source lies strictly inside ``root`` once links are resolved (no root: no mounts),
    so a spec can never mount the Docker socket, the data dir or any other host path."""
    base = root.resolve() if root is not None else None
    for mount in spec.mounts:
        source = Path(mount.source).resolve()
        if base is None or source == base or not source.is_relative_to(base):
            raise ValidationFailed(f"mount source {mount.source} is not a workspace", code="invalid_mount")
