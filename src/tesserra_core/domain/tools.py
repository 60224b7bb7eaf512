"""The tool platform: catalog entries (the MCP registry's server.json, plus ours) and installations.

A catalog entry keeps the official registry's ``server.json`` names for the parts that come from it
(``packages[].registryType``, ``environmentVariables[].isSecret``, ...) and adds our own fields in
snake_case (``category``, ``tags``, ``oauth_provider``). An installation is one tenant's (or one
user's) running copy of an entry: its validated config, its secrets sealed at rest, its status and
the tools its server reported.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any, Literal

import msgspec

from tesserra_core.errors import ValidationFailed

RegistryType = Literal["pypi", "npm", "oci"]
TransportType = Literal["stdio", "streamable-http", "sse"]
ValueFormat = Literal["string", "number", "boolean", "filepath"]


class Transport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: TransportType = "stdio"
    url: str | None = None


class EnvironmentVariable(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One setting of a package, as server.json states it. Its name is the key in an install's config."""

    name: str
    description: str = ""
    is_required: bool = False
    is_secret: bool = False
    format: ValueFormat = "string"
    default: str | None = None
    choices: tuple[str, ...] | None = None


class Package(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    registry_type: RegistryType
    identifier: str
    version: str
    transport: Transport = msgspec.field(default_factory=Transport)
    runtime_hint: str | None = None
    """``uvx``, ``npx``, ``docker``... Informative: the platform decides how it runs a package."""
    command: str | None = None
    """Our addition: the console script a pypi/npm package installs, when it differs from the identifier."""
    environment_variables: tuple[EnvironmentVariable, ...] = ()


class Remote(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    type: TransportType
    url: str


class CatalogEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A tool server of the marketplace. ``id`` is a URL-safe slug of ``name`` (e.g. ``io.github.x-time``)."""

    id: str
    name: str
    """The registry's reverse-DNS name, e.g. ``io.modelcontextprotocol/time``."""
    version: str
    description: str
    title: str | None = None
    packages: tuple[Package, ...] = ()
    remotes: tuple[Remote, ...] = ()
    category: str = "other"
    tags: tuple[str, ...] = ()
    oauth_provider: str | None = None
    """The shared-tool OAuth provider a user must link before the server can run (``google``, ...)."""
    network: bool = False
    """Whether the server needs the network (image runtimes give it none otherwise)."""
    homepage: str | None = None

    @property
    def package(self) -> Package | None:
        """The package this platform runs: the first stdio one (pypi before oci before npm)."""
        order = {"pypi": 0, "oci": 1, "npm": 2}
        stdio = [p for p in self.packages if p.transport.type == "stdio"]
        return min(stdio, key=lambda p: order[p.registry_type], default=None)

    @property
    def settings(self) -> tuple[EnvironmentVariable, ...]:
        package = self.package
        return package.environment_variables if package is not None else ()

    def matches(self, text: str | None, category: str | None, tag: str | None) -> bool:
        if category is not None and self.category != category:
            return False
        if tag is not None and tag not in self.tags:
            return False
        if text:
            haystack = " ".join((self.name, self.title or "", self.description, self.category, *self.tags)).lower()
            return all(word in haystack for word in text.lower().split())
        return True


_ENTRY_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,127}$")
_REGISTRY_NAME = re.compile(r"^[A-Za-z0-9.-]+/[A-Za-z0-9._-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def entry_id(name: str) -> str:
    """The URL-safe id of a registry name: ``io.modelcontextprotocol/time`` -> ``io.modelcontextprotocol-time``."""
    return re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-")[:128]


def check_entry(entry: CatalogEntry) -> CatalogEntry:
    """Raise ``ValidationFailed`` naming what is wrong with a catalog entry."""
    if not _REGISTRY_NAME.match(entry.name):
        raise ValidationFailed(f"name {entry.name!r} is not a registry name (namespace/name)", code="invalid_entry")
    if not _ENTRY_ID.match(entry.id):
        raise ValidationFailed(f"id {entry.id!r} is not a valid entry id", code="invalid_entry")
    if not entry.version or not entry.description:
        raise ValidationFailed(f"{entry.name}: version and description are required", code="invalid_entry")
    if not entry.packages and not entry.remotes:
        raise ValidationFailed(f"{entry.name}: needs at least one package or remote", code="invalid_entry")
    for package in entry.packages:
        names = [v.name for v in package.environment_variables]
        if len(set(names)) != len(names):
            raise ValidationFailed(f"{entry.name}: duplicate environment variable", code="invalid_entry")
        for var in package.environment_variables:
            if not _ENV_NAME.match(var.name):
                raise ValidationFailed(f"{entry.name}: bad environment variable {var.name!r}", code="invalid_entry")
    return entry


class InstallationStatus(enum.StrEnum):
    INSTALLING = "installing"
    READY = "ready"
    FAILED = "failed"
    NEEDS_AUTH = "needs_auth"
    STOPPED = "stopped"
    """The server's workload is gone (a crash, a restart of the host): it starts again on next use."""


class InstallScope(enum.StrEnum):
    TENANT = "tenant"
    """Every member of the tenant sees and calls it."""
    USER = "user"
    """Only the user who installed it."""


class ToolInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One tool an installed server reported in ``tools/list``."""

    name: str
    description: str = ""
    input_schema: dict[str, Any] = msgspec.field(default_factory=dict)
    destructive: bool = False
    """Its MCP annotations say so (``destructiveHint`` true and not ``readOnlyHint``): an agent's call
    waits for the user's approval."""


class Installation(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    tenant_id: str
    user_id: str
    """Who installed it (and, for ``scope=user``, the only one who sees it)."""
    scope: InstallScope
    entry_id: str
    entry_version: str
    config: dict[str, str]
    """Settings that are not secret, as given."""
    sealed_secrets: str | None
    """The secret settings (``isSecret``) as one sealed JSON object; never leaves the core unsealed."""
    secret_names: tuple[str, ...]
    status: InstallationStatus
    status_reason: str | None
    tools: tuple[ToolInfo, ...]
    workload_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def owner(self) -> str:
        """The runtime owner label of its workloads."""
        return f"installation:{self.id}"

    def visible_to(self, tenant_id: str, user_id: str) -> bool:
        return self.tenant_id == tenant_id and (self.scope is InstallScope.TENANT or self.user_id == user_id)


OWNER_PREFIX = "installation:"


def installation_of(owner: str) -> str | None:
    """The installation id a workload owner label names, if it names one."""
    if not owner.startswith(OWNER_PREFIX):
        return None
    return owner[len(OWNER_PREFIX) :].split("/", 1)[0] or None


def secret_context(installation: Installation) -> str:
    """Where an installation's sealed secrets belong: they open only for this tenant and installation."""
    return f"installation:{installation.tenant_id}:{installation.id}:config"


def validate_config(entry: CatalogEntry, config: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Check ``config`` against the entry's settings; return (plain values, secret values) as strings.

    Unknown keys, missing required ones, and values of the wrong type raise 400 naming the field.
    Defaults fill settings that are not given.
    """
    known = {v.name: v for v in entry.settings}
    for key in config:
        if key not in known:
            raise ValidationFailed(f"config.{key}: not a setting of {entry.name}", code="unknown_config_field")
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    for name, var in known.items():
        raw = config.get(name)
        if raw is None:
            if var.is_required and var.default is None:
                raise ValidationFailed(f"config.{name}: required", code="missing_config_field")
            if var.default is None:
                continue
            raw = var.default
        value = _coerce(name, var, raw)
        (secret if var.is_secret else plain)[name] = value
    return plain, secret


def _coerce(name: str, var: EnvironmentVariable, raw: object) -> str:
    if var.format == "boolean":
        if isinstance(raw, bool):
            value = "true" if raw else "false"
        elif isinstance(raw, str) and raw.lower() in ("true", "false"):
            value = raw.lower()
        else:
            raise ValidationFailed(f"config.{name}: must be a boolean", code="invalid_config_field")
    elif var.format == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValidationFailed(f"config.{name}: must be a number", code="invalid_config_field")
        try:
            float(raw)
        except ValueError:
            raise ValidationFailed(f"config.{name}: must be a number", code="invalid_config_field") from None
        value = str(raw)
    else:
        if not isinstance(raw, str):
            raise ValidationFailed(f"config.{name}: must be a string", code="invalid_config_field")
        value = raw
    if len(value) > 4096 or "\x00" in value:
        raise ValidationFailed(f"config.{name}: too long or contains NUL", code="invalid_config_field")
    if var.choices is not None and value not in var.choices:
        raise ValidationFailed(f"config.{name}: must be one of {', '.join(var.choices)}", code="invalid_config_field")
    return value


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str) -> str:
    """A file name safe to write into a workspace: its last path part, odd characters replaced.

    Raises 400 for names that are empty, hidden (``.x``) or only dots once cleaned.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _SAFE_NAME.sub("_", base).strip("_")[:200]
    if not cleaned or cleaned.startswith(".") or set(cleaned) <= {".", "_"}:
        raise ValidationFailed(f"file name {name[:100]!r} is not allowed", code="invalid_file_name")
    return cleaned
