"""Shared tools and per-user OAuth: the tools with the caller's link status, the status and linked e-mail
of one, and the area's builder. Starting and completing an authorization live in oauth_flow.py, the
linked accounts' tokens in oauth_tokens.py.

Every link belongs to one tenant, user and tool; its tokens are sealed to exactly that (the secret
box's context), so a row copied to another user does not open. Nothing here returns a token to a
client: ``AccessTokenFor`` is for the server's own tool sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.shared_tools import (
    OAuthLink,
    SharedTool,
)
from tesserra_core.domain.structs import by_name
from tesserra_core.errors import (
    NotFound,
)
from tesserra_core.ports import Ports
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.shared_tools import OAuthClient
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.oauth_flow import BeginOAuth, CompleteOAuth
from tesserra_core.usecases.oauth_tokens import AccessTokenFor, Tools, Vault
from tesserra_core.usecases.views import View


class SharedToolView(View[SharedTool], frozen=True):
    id: str
    name: str
    description: str
    provider_id: str | None
    requires_oauth: bool
    linked: bool
    """Whether the caller has linked their account (always False for tools without OAuth)."""
    needs_relink: bool

    @classmethod
    def of(cls, tool: SharedTool, link: OAuthLink | None = None) -> SharedToolView:
        """The tool as the caller sees it, with their ``link`` to its provider (if they made one)."""
        link = link if tool.provider_id is not None else None
        return cls.read(
            tool,
            requires_oauth=tool.provider_id is not None,
            linked=link is not None and not link.needs_relink,
            needs_relink=link is not None and link.needs_relink,
        )


class OAuthStatusView(msgspec.Struct, frozen=True):
    tool_id: str
    provider_id: str
    linked: bool
    needs_relink: bool
    expired: bool
    expires_at: datetime | None
    scopes: list[str]
    email: str | None
    linked_at: datetime | None
    refreshed_at: datetime | None


class OAuthEmailView(msgspec.Struct, frozen=True):
    tool_id: str
    email: str | None


def _status(tool_id: str, provider_id: str, link: OAuthLink | None, now: datetime) -> OAuthStatusView:
    if link is None:
        return OAuthStatusView(
            tool_id=tool_id,
            provider_id=provider_id,
            linked=False,
            needs_relink=False,
            expired=False,
            expires_at=None,
            scopes=[],
            email=None,
            linked_at=None,
            refreshed_at=None,
        )
    return by_name(
        OAuthStatusView,
        link,
        provider_id=provider_id,
        linked=not link.needs_relink,
        expired=link.expired(now),
        scopes=list(link.scopes),
    )


@dataclass(frozen=True, slots=True)
class ListSharedTools:
    """Shared tools, with whether the caller has linked their own account to each."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[SharedToolView]:
        actor.require(self.scope)
        every = await self.tools.directory.tools()
        async with self.uow(read_only=True) as uow:
            links = {link.tool_id: link for link in await uow.oauth_links.list_for_user(actor.tenant_id, actor.user_id)}
        return page.answer(page.window(every), lambda tool: SharedToolView.of(tool, links.get(tool.id)))


@dataclass(frozen=True, slots=True)
class OAuthStatus:
    """Whether the caller's account is linked to a shared tool, until when its access token lives, and its
    scopes."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, tool_id: str) -> OAuthStatusView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider, link = await self.tools.link_of(self.uow, actor, tool)
        return _status(tool.id, provider.id, link, self.clock.now())


@dataclass(frozen=True, slots=True)
class OAuthUserEmail:
    """The email of the caller's linked account for a shared tool (``oauth_not_linked`` when there is none),
    asked of the provider if it was not known yet."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ

    tools: Tools
    uow: UnitOfWorkFactory
    oauth: OAuthClient
    access_token_for: AccessTokenFor

    async def __call__(self, actor: Principal, tool_id: str) -> OAuthEmailView:
        actor.require(self.scope)
        tool = await self.tools.get(tool_id)
        provider, link = await self.tools.link_of(self.uow, actor, tool)
        if link is None:
            raise NotFound("no linked account for this tool", code="oauth_not_linked")
        if link.email is not None:
            return OAuthEmailView(tool_id=tool.id, email=link.email)
        token = await self.access_token_for(actor, tool.id)
        email = await self.oauth.user_email(provider, access_token=token)
        if email is not None:
            async with self.uow() as uow:
                await _remember_email(uow, actor, tool.id, email)
                await uow.commit()
        return OAuthEmailView(tool_id=tool.id, email=email)


async def _remember_email(uow: UnitOfWork, actor: Principal, tool_id: str, email: str) -> None:
    current = await uow.oauth_links.get(actor.tenant_id, actor.user_id, tool_id)
    if current is not None:
        await uow.oauth_links.put(msgspec.structs.replace(current, email=email))


@dataclass(frozen=True, slots=True)
class SharedTools:
    """/api/shared-tools and the OAuth callback, /api/auth/callback."""

    list: ListSharedTools
    begin_oauth: BeginOAuth
    complete_oauth: CompleteOAuth
    oauth_status: OAuthStatus
    access_token: AccessTokenFor
    """For the server's own tool sessions: a valid access token of a user's linked account."""
    user_email: OAuthUserEmail


def shared_tools(p: Ports) -> SharedTools:
    tools, vault = Tools(p.shared_tools), Vault(p.secret_box)
    access_token = AccessTokenFor(tools, p.uow, vault, p.oauth, p.clock)
    return SharedTools(
        list=ListSharedTools(tools, p.uow),
        begin_oauth=BeginOAuth(tools, p.uow, p.secret_box, p.digest, p.secrets, p.ids, p.clock, p.site),
        complete_oauth=CompleteOAuth(tools, p.uow, p.secret_box, vault, p.digest, p.oauth, p.clock, p.site),
        oauth_status=OAuthStatus(tools, p.uow, p.clock),
        access_token=access_token,
        user_email=OAuthUserEmail(tools, p.uow, p.oauth, access_token),
    )
