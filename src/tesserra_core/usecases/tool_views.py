"""What the tool-platform use cases return (both drivers serialize these as they are)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from tesserra_core.domain.tools import (
    CatalogEntry,
    EnvironmentVariable,
    Installation,
    InstallationStatus,
    InstallScope,
    Package,
    Remote,
    ToolInfo,
)
from tesserra_core.ports.runtime import Workload, WorkloadState
from tesserra_core.usecases.views import View


class ConfigFieldView(View[EnvironmentVariable], frozen=True):
    """One setting an install's ``config`` takes (an environment variable of the package)."""

    name: str
    description: str
    required: bool
    secret: bool
    format: str
    default: str | None
    choices: list[str] | None

    @classmethod
    def of(cls, v: EnvironmentVariable) -> ConfigFieldView:
        choices = list(v.choices) if v.choices is not None else None
        return cls.read(v, required=v.is_required, secret=v.is_secret, choices=choices)


class MarketplaceToolView(View[CatalogEntry], frozen=True):
    id: str
    name: str
    title: str | None
    description: str
    version: str
    category: str
    tags: list[str]
    transports: list[str]
    registry_types: list[str]
    installable: bool
    """A stdio package this platform can run."""
    oauth_provider: str | None
    config: list[ConfigFieldView]

    @classmethod
    def of(cls, e: CatalogEntry) -> MarketplaceToolView:
        transports: list[str] = sorted({p.transport.type for p in e.packages} | {r.type for r in e.remotes})
        return cls.read(
            e,
            tags=list(e.tags),
            transports=transports,
            registry_types=sorted({p.registry_type for p in e.packages}),
            installable=e.package is not None,
            config=[ConfigFieldView.of(v) for v in e.settings],
        )


class RegistryEntryView(View[CatalogEntry], frozen=True, omit_defaults=True):
    """A registry-backed definition: the server.json document (camelCase inside packages), plus our fields."""

    id: str
    name: str
    version: str
    description: str
    packages: list[Package]
    remotes: list[Remote]
    category: str
    tags: list[str]
    title: str | None = None
    oauth_provider: str | None = None
    homepage: str | None = None

    @classmethod
    def of(cls, e: CatalogEntry) -> RegistryEntryView:
        return cls.read(e, packages=list(e.packages), remotes=list(e.remotes), tags=list(e.tags))


class RefreshReport(msgspec.Struct, frozen=True):
    source: str
    loaded: int
    skipped: list[str]
    """One line per invalid entry: which, and why. Valid entries are applied; invalid ones never."""


class ToolView(View[ToolInfo], frozen=True):
    name: str
    description: str
    input_schema: dict[str, Any]


class InstallationView(View[Installation], frozen=True):
    """An installation. Secret settings appear by name only, their values never."""

    id: str
    tool_id: str
    version: str
    scope: InstallScope
    status: InstallationStatus
    status_reason: str | None
    config: dict[str, str]
    secret_fields: list[str]
    tool_count: int
    container_id: str | None
    installed_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, i: Installation) -> InstallationView:
        return cls.read(
            i,
            tool_id=i.entry_id,
            version=i.entry_version,
            config=dict(i.config),
            secret_fields=list(i.secret_names),
            tool_count=len(i.tools),
            container_id=i.workload_id,
            installed_by=i.user_id,
        )


class InstallationToolsView(msgspec.Struct, frozen=True):
    installation_id: str
    status: InstallationStatus
    tools: list[ToolView]


class ToolCallView(msgspec.Struct, frozen=True):
    installation_id: str
    tool: str
    is_error: bool
    content: list[dict[str, Any]]
    structured_content: dict[str, Any] | None
    duration_ms: float


class UploadView(msgspec.Struct, frozen=True):
    installation_id: str
    files: list[dict[str, Any]]


class ContainerView(View[Workload], frozen=True):
    """A managed workload of the tenant: what it is, what runs it, and whom it belongs to."""

    id: str
    state: WorkloadState
    runtime: str
    image: str | None
    owner: str
    kind: str
    """``installation``, ``sandbox``, ``resource`` or ``other``."""
    installation_id: str | None
    sandbox_id: str | None
    resource_id: str | None
    ports: dict[str, int]
    exit_code: int | None
    started_at: datetime | None

    @classmethod
    def of(cls, w: Workload) -> ContainerView:
        kind, _, rest = w.owner.partition(":")
        owner_id = rest.split("/", 1)[0] or None
        known = kind if kind in ("installation", "sandbox", "resource") else "other"
        return cls.read(
            w,
            kind=known,
            installation_id=owner_id if known == "installation" else None,
            sandbox_id=owner_id if known == "sandbox" else None,
            resource_id=owner_id if known == "resource" else None,
            ports={str(k): v for k, v in w.ports.items()},
        )


class ContainerActionView(msgspec.Struct, frozen=True):
    id: str
    action: str
    container: ContainerView | None
    """The container after the action; null after ``remove``."""
