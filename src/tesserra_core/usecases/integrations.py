"""MCP client integration: the canonical client configuration for this server, and sync notifications.

Snippets never carry a real secret: the API key is a placeholder the user fills in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.shared_tools import ClientSync
from tesserra_core.domain.text import Input, Line
from tesserra_core.errors import ValidationFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.views import View

MCP_PATH = "/mcp"
API_KEY_HEADER = "X-Tesserra-Api-Key"
KEY_PLACEHOLDER = "<YOUR_TESSERRA_API_KEY>"
DEFAULT_INSTANCE = "default"
TESSARACT = "tessaract"
"""The named alias /api/integrations/tessaract: the same use case with this instance id."""
_INSTANCE_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$"
_CLIENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{0,63}$"
_INSTANCE = re.compile(_INSTANCE_PATTERN)
_CLIENT = re.compile(_CLIENT_PATTERN)
_STATUSES = frozenset({"ok", "failed"})


def check_instance(instance_id: str | None) -> str:
    if instance_id is None or instance_id == "":
        return DEFAULT_INSTANCE
    if not _INSTANCE.match(instance_id):
        raise ValidationFailed(
            "instanceId must be 1-64 letters, digits, dots, dashes or underscores", code="invalid_instance_id"
        )
    return instance_id


class ClientSyncView(View[ClientSync], frozen=True):
    id: str
    instance_id: str
    client: str
    client_version: str | None
    tool_count: int | None
    status: str
    user_id: str
    at: datetime


class AuthHint(msgspec.Struct, frozen=True):
    header: str
    value: str
    alternatives: list[str]
    note: str


class ClientConfigView(msgspec.Struct, frozen=True):
    instance_id: str
    server_name: str
    mcp_url: str
    transport: str
    auth: AuthHint
    snippets: dict[str, Any]
    """Ready to paste, by client: claude_desktop, claude_code, cursor, vscode, generic."""
    last_sync: ClientSyncView | None
    sync_count: int


class ClientSyncRequest(Input, frozen=True, rename="camel", forbid_unknown_fields=True):
    """A client reports that it (re)loaded this server's configuration."""

    client: Annotated[str, msgspec.Meta(pattern=_CLIENT_PATTERN, examples=["claude-desktop"])]
    instance_id: Annotated[str, msgspec.Meta(pattern=_INSTANCE_PATTERN)] | None = None
    """Ignored by the named aliases, which fix it; otherwise defaults to ``default``."""
    client_version: Annotated[Line, msgspec.Meta(min_length=1, max_length=64)] | None = None
    tool_count: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    status: Literal["ok", "failed"] = "ok"


def _snippets(name: str, url: str) -> dict[str, Any]:
    headers = {API_KEY_HEADER: KEY_PLACEHOLDER}
    return {
        "claude_code": {"mcpServers": {name: {"type": "http", "url": url, "headers": headers}}},
        "claude_code_command": (
            f"claude mcp add --transport http {name} {url} --header '{API_KEY_HEADER}: {KEY_PLACEHOLDER}'"
        ),
        "claude_desktop": {
            "mcpServers": {
                name: {
                    "command": "npx",
                    "args": ["-y", "mcp-remote", url, "--header", f"{API_KEY_HEADER}:${{TESSERRA_API_KEY}}"],
                    "env": {"TESSERRA_API_KEY": KEY_PLACEHOLDER},
                }
            }
        },
        "cursor": {"mcpServers": {name: {"url": url, "headers": headers}}},
        "vscode": {
            "inputs": [
                {"type": "promptString", "id": "tesserra-api-key", "description": "Tesserra API key", "password": True}
            ],
            "servers": {name: {"type": "http", "url": url, "headers": {API_KEY_HEADER: "${input:tesserra-api-key}"}}},
        },
        "generic": {"transport": "streamable-http", "url": url, "headers": headers},
    }


@dataclass(frozen=True, slots=True)
class ClientConfiguration:
    """How an MCP client reaches this server: the /mcp URL, the header to send, and ready-to-paste snippets
    (Claude Desktop and Code, Cursor, VS Code, generic), with the last sync recorded. The key is always a
    placeholder."""

    scope: ClassVar[Scope] = Scope.PROFILE_READ

    uow: UnitOfWorkFactory
    site: SiteConfig

    async def __call__(self, actor: Principal, instance_id: str | None, base_url: str) -> ClientConfigView:
        actor.require(self.scope)
        instance = check_instance(instance_id)
        url = (self.site.public_url or base_url).rstrip("/") + MCP_PATH
        name = "tesserra" if instance == DEFAULT_INSTANCE else f"tesserra-{instance}"
        async with self.uow(read_only=True) as uow:
            syncs, total = await uow.client_syncs.list(actor.tenant_id, instance, PageRequest(1, 0))
        auth = AuthHint(
            API_KEY_HEADER,
            KEY_PLACEHOLDER,
            [f"Authorization: Bearer {KEY_PLACEHOLDER}", f"X-API-Key: {KEY_PLACEHOLDER}"],
            "Mint a key with POST /api/auth/keys/generate (its tier decides which tools the client sees).",
        )
        last = ClientSyncView.of(syncs[0]) if syncs else None
        return ClientConfigView(
            instance_id=instance,
            server_name=name,
            mcp_url=url,
            transport="streamable-http",
            auth=auth,
            snippets=_snippets(name, url),
            last_sync=last,
            sync_count=total,
        )


@dataclass(frozen=True, slots=True)
class RecordClientSync:
    """Record that an MCP client (re)loaded its configuration; the client configuration shows the last one."""

    scope: ClassVar[Scope] = Scope.PROFILE_READ

    uow: UnitOfWorkFactory
    ids: IdFactory
    clock: Clock

    async def __call__(
        self, actor: Principal, cmd: ClientSyncRequest, *, fixed_instance: str | None = None
    ) -> ClientSyncView:
        actor.require(self.scope)
        instance = fixed_instance or check_instance(cmd.instance_id)
        if not _CLIENT.match(cmd.client):
            raise ValidationFailed(
                "client must be 1-64 letters, digits, spaces, dots, dashes or slashes", code="invalid_client"
            )
        if cmd.client_version is not None and not 1 <= len(cmd.client_version) <= 64:
            raise ValidationFailed("clientVersion must be 1-64 characters", code="invalid_client_version")
        if cmd.tool_count is not None and not 0 <= cmd.tool_count <= 100_000:
            raise ValidationFailed("toolCount must be between 0 and 100000", code="invalid_tool_count")
        if cmd.status not in _STATUSES:
            raise ValidationFailed("status must be ok or failed", code="invalid_status")
        sync = ClientSync(
            id=self.ids.new(),
            tenant_id=actor.tenant_id,
            user_id=actor.user_id,
            instance_id=instance,
            client=cmd.client,
            client_version=cmd.client_version,
            tool_count=cmd.tool_count,
            status=cmd.status,
            at=self.clock.now(),
        )
        async with self.uow() as uow:
            await uow.client_syncs.add(sync)
            await uow.commit()
        return ClientSyncView.of(sync)


@dataclass(frozen=True, slots=True)
class Integrations:
    """/api/integrations/client (and its alias /api/integrations/tessaract): the MCP client configuration
    and its sync record."""

    client_configuration: ClientConfiguration
    record_client_sync: RecordClientSync


def integrations(p: Ports) -> Integrations:
    return Integrations(
        client_configuration=ClientConfiguration(p.uow, p.site),
        record_client_sync=RecordClientSync(p.uow, p.ids, p.clock),
    )
