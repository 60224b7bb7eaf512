"""What every runtime checks of a spec's mounts before it runs anything."""

from __future__ import annotations

from pathlib import Path

from tesserra_core.errors import ValidationFailed
from tesserra_core.ports.runtime import WorkloadSpec


def check_sources(spec: WorkloadSpec) -> None:
    """Each mount's source is an existing directory (Docker would otherwise fail, or create it as root)."""
    for mount in spec.mounts:
        if not Path(mount.source).is_dir():
            raise ValidationFailed(f"mount source {mount.source} is not a directory", code="invalid_mount")
