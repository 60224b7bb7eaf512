"""Ports of the tool platform: the catalog and installations (persistence), where catalogs come
from, how a package is launched, MCP sessions to installed servers, workspaces, linked accounts."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import CatalogEntry, Installation, Package, ToolInfo
from tesserra_core.ports.runtime import StdioChannel


class CatalogRepository(Protocol):
    async def replace(self, entries: list[CatalogEntry]) -> None:
        """Make ``entries`` the whole catalog (inside the unit of work: all or nothing)."""
        ...

    async def get(self, entry_id: str) -> CatalogEntry | None: ...

    async def search(
        self, page: PageRequest, *, text: str | None = None, category: str | None = None, tag: str | None = None
    ) -> tuple[list[CatalogEntry], int]:
        """Entries whose name, title, description, category or tags hold every word of ``text``,
        in ``category`` and carrying ``tag`` (each filter optional), by name; and the total."""
        ...

    async def count(self) -> int: ...


class InstallationRepository(Protocol):
    async def add(self, installation: Installation) -> None: ...

    async def get(self, tenant_id: str, installation_id: str) -> Installation | None: ...

    async def find(self, installation_id: str) -> Installation | None:
        """Any tenant's (for the platform's own bookkeeping: background installs, the reconciler)."""
        ...

    async def list_visible(self, tenant_id: str, user_id: str, page: PageRequest) -> tuple[list[Installation], int]:
        """The tenant's installations of scope ``tenant`` and ``user_id``'s own, newest first; and the total."""
        ...

    async def count(self, tenant_id: str) -> int: ...

    async def update(self, installation: Installation) -> bool:
        """False if it no longer exists (deleted meanwhile)."""
        ...

    async def delete(self, tenant_id: str, installation_id: str) -> bool: ...

    async def all(self) -> list[Installation]:
        """Every installation of every tenant (the reconciler's view)."""
        ...


class CatalogSource(Protocol):
    name: str
    """Where it reads from (a URL, a file, or ``built-in``)."""

    async def documents(self) -> list[Any]:
        """The raw catalog documents (decoded JSON objects) of the configured source."""
        ...


class LaunchPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How a runtime starts a package's server."""

    command: tuple[str, ...]
    image: str | None = None
    env: dict[str, str] = msgspec.field(default_factory=dict)
    secrets_on_stdin: bool = False
    """Secret settings go to the server as one JSON object on the first line of its stdin (its
    command reads them into its environment before the MCP server starts), not in the workload's
    environment, which image runtimes show to anyone who may inspect the workload."""
    in_workspace: bool = True
    """Start in the installation's workspace (its working directory). The workspace is mounted at
    ``WORKSPACE_MOUNT`` either way; a server from an image that needs its own working directory
    finds its files there."""


class PackageResolver(Protocol):
    async def plan(self, package: Package, runtime: str) -> LaunchPlan:
        """The command (and image) that runs ``package`` on the runtime named ``runtime``; may prepare it
        first (a virtualenv per package version). Raises ``Unprocessable`` when it cannot run there."""
        ...


class ToolCallResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a tool answered, in MCP's wire shape (content blocks as JSON objects)."""

    content: list[dict[str, Any]]
    structured_content: dict[str, Any] | None = None
    is_error: bool = False


class ToolSession(Protocol):
    """An initialized MCP client session to one installed server."""

    @property
    def closed(self) -> bool:
        """True once the server's stdio ended (it crashed or was stopped)."""
        ...

    async def list_tools(self) -> list[ToolInfo]: ...

    async def call_tool(self, name: str, arguments: dict[str, Any], *, seconds: float) -> ToolCallResult:
        """Raises ``Unavailable`` (code ``tool_call_timeout``) after ``seconds``, and
        ``Unavailable`` (code ``tool_server_gone``) when the server's stdio ends mid-call."""
        ...

    async def aclose(self) -> None: ...


class ToolConnector(Protocol):
    async def connect(self, channel: StdioChannel, *, seconds: float) -> ToolSession:
        """An MCP client session over ``channel``, initialized; raises ``Unavailable`` if the
        server does not complete the handshake within ``seconds``."""
        ...


class StoredFile(msgspec.Struct, frozen=True):
    name: str
    size: int


WORKSPACE_MOUNT = "/workspace"
"""Where a tool server sees its installation's workspace: a bind mount in a container; under the
process runtime, the host directory itself (the runtime translates a working directory there)."""


class Workspaces(Protocol):
    """A directory per installation, mounted into its server (``WORKSPACE_MOUNT``): where uploads land."""

    def path(self, installation_id: str) -> str:
        """The directory (created if missing)."""
        ...

    async def save(self, installation_id: str, name: str, data: bytes, *, max_total: int) -> StoredFile:
        """Write ``name`` (already sanitized); raises 413-like ``ValidationFailed`` past ``max_total`` bytes."""
        ...

    async def remove(self, installation_id: str) -> None: ...


class LinkedAccounts(Protocol):
    """The shared-tools OAuth seam: a user's access token for a provider, when they linked it."""

    async def access_token(self, tenant_id: str, user_id: str, provider: str) -> str | None: ...
