"""Helpers for the MCP driver tests: a live server, a fresh tenant per test, MCP sessions."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials
from tesserra_core.usecases.tenants import NewTenant
from tesserra_core.usecases.views import NewApiKeyView, TenantView

ADMIN_EMAIL = "root@mcp.tesserra.test"
ADMIN_PASSWORD = "root-password-1"
PASSWORD = "owner-password-1"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
PROJECT_TOOLS = frozenset(
    {
        "list_projects",
        "get_project",
        "create_project",
        "update_project",
        "delete_project",
        "list_catalog",
        "list_resources",
        "get_resource",
        "create_resource",
        "update_resource",
        "delete_resource",
        "project_health",
        "tenant_health",
    }
)
BILLING_TOOLS = frozenset(
    {
        "list_plans",
        "get_subscription",
        "list_invoices",
        "get_invoice",
        "create_checkout",
        "cancel_subscription",
        "finance_mrr",
        "finance_subscriptions",
    }
)
OWNER_BILLING_TOOLS = BILLING_TOOLS - {"finance_mrr", "finance_subscriptions"}
"""A tenant owner's billing tools: all but the platform administrators' finance."""
DOMAIN_TOOLS = frozenset(
    {
        "list_domains",
        "get_domain",
        "create_domain",
        "update_domain",
        "delete_domain",
        "verify_domain",
        "list_dns_records",
        "create_dns_record",
        "update_dns_record",
        "delete_dns_record",
        "export_zone_file",
        "import_zone_file",
        "list_mailboxes",
        "create_mailbox",
        "update_mailbox",
        "reset_mailbox_password",
        "delete_mailbox",
        "list_email_aliases",
        "create_email_alias",
        "delete_email_alias",
        "list_project_files",
        "delete_project_file",
    }
)
INFRA_SSH_TOOLS = frozenset(
    {
        "infra_ssh_list_hosts",
        "infra_ssh_list_actions",
        "infra_ssh_check_action",
        "infra_ssh_run_action",
        "infra_ssh_get_run",
        "infra_ssh_cancel_run",
        "infra_ssh_query_audit",
        "infra_ssh_get_lease",
        "infra_ssh_request_lease",
        "infra_ssh_revoke_lease",
        "infra_ssh_open_forward",
        "infra_ssh_list_forwards",
        "infra_ssh_close_forward",
    }
)
"""Admin tier only (and X-User-Id)."""
BASE_TOOLS = frozenset({"whoami", "list_api_keys", "service_status"})
CHAT_READ_TOOLS = frozenset({"list_agents", "list_verticals", "list_messages"})
"""What chat:read shows, even to a basic-tier key."""
CHAT_TOOLS = CHAT_READ_TOOLS | {"start_conversation", "send_message", "cancel_message", "decide_approval"}
"""chat:read and chat:write."""
TOOLS_READ_TOOLS = frozenset(
    {
        "list_shared_tools",
        "search_marketplace",
        "get_tool_details",
        "list_installations",
        "list_containers",
        "get_container",
        "list_sandboxes",
        "get_sandbox",
    }
)
"""What tools:read shows, even to a basic-tier key."""
TOOLS_WRITE_TOOLS = frozenset(
    {"install_tool", "call_installation_tool", "container_action", "create_sandbox", "sandbox_action"}
)
"""tools:write, standard tier and above."""
TOOLS = BASE_TOOLS | TOOLS_READ_TOOLS | TOOLS_WRITE_TOOLS
MEMBER_READ_TOOLS = frozenset({"list_members", "list_invitations"})
MEMBER_TOOLS = MEMBER_READ_TOOLS | {"change_member_role", "remove_member", "invite_member", "revoke_invitation"}
ERROR_FIELDS = {"detail", "success", "error", "code", "request_id"}

_serial = itertools.count(1)


@dataclass
class Server:
    """One live server for a backend, shared by the tests of a run, with its platform admin."""

    url: str
    uc: UseCases
    settings: Settings
    admin: Principal


@dataclass
class Site:
    """A fresh tenant on a shared server, with its owner logged in (a JWT)."""

    server: Server
    tenant: TenantView
    owner: Principal
    owner_token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def uc(self) -> UseCases:
        return self.server.uc

    @property
    def mcp_url(self) -> str:
        return f"{self.server.url}/mcp"

    async def key(self, *scopes: str, tier: Tier = Tier.BASIC, name: str = "test") -> NewApiKeyView:
        """A key minted by the owner with exactly ``scopes``."""
        return await self.uc.api_keys.generate(
            self.owner, NewApiKey(name=name, scopes=[Scope(s) for s in scopes], tier=tier)
        )

    def http(self, credential: str | None = None) -> httpx2.AsyncClient:
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        return httpx2.AsyncClient(base_url=self.server.url, headers=headers, timeout=20.0)


async def new_site(server: Server) -> Site:
    n = next(_serial)
    email = f"owner{n}@mcp.tesserra.test"
    tenant = await server.uc.tenants.create(
        server.admin, NewTenant(name=f"MCP tenant {n}", owner_email=email, owner_password=PASSWORD)
    )
    pair = await server.uc.sessions.login(Credentials(email, PASSWORD, tenant_id=tenant.id))
    return Site(server, tenant, await server.uc.authenticate(pair.access_token), pair.access_token)


@asynccontextmanager
async def mcp_session(
    url: str, headers: dict[str, str], statuses: list[int] | None = None
) -> AsyncIterator[ClientSession]:
    """An initialized MCP session over streamable HTTP; ``statuses`` collects every HTTP status seen."""

    async def record(response: httpx2.Response) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async with (
        httpx2.AsyncClient(headers=headers, timeout=20.0, event_hooks={"response": [record]}) as http,
        streamable_http_client(url, http_client=http) as (read, write, *_),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


def texts(result: CallToolResult) -> list[str]:
    """The text of each of a tool result's content blocks; our tools answer only in text, so any other
    kind of block fails the test here."""
    found = []
    for block in result.content:
        assert isinstance(block, TextContent), block
        found.append(block.text)
    return found
