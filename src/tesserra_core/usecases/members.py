"""Members of the caller's tenant and invitations to it: list, invite by email with a role, accept (signed in,
or creating the account), change a role, remove a member, revoke an invitation.

Nobody grants, changes or removes a role above their own (``ROLE_RANK``), and a tenant never loses its last
owner: every write that could take an owner away holds the tenant (``uow.tenants.lock``) and counts its owners
first, so two owners demoting each other at once leave one. The writer's own role is read again under that
lock, not taken from the credential, which may predate a concurrent demotion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, ClassVar

import msgspec

from tesserra_core.domain.identity import (
    EMAIL,
    ROLE_RANK,
    AuthMethod,
    Invitation,
    Membership,
    Principal,
    Role,
    Scope,
    User,
    normalize_email,
)
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.text import Input, Line, Text
from tesserra_core.errors import Conflict, Forbidden, NotFound, Unavailable, Unprocessable
from tesserra_core.ports import Ports
from tesserra_core.ports.mailer import Mailer, OutgoingEmail
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.security import PasswordHasher, SecretDigest
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.ports.system import Clock, IdFactory, SecretGenerator
from tesserra_core.usecases.credentials import Revoker, user_tag
from tesserra_core.usecases.tenants import PASSWORD_META, check_password
from tesserra_core.usecases.views import MembershipView

INVITATION_TTL = timedelta(days=7)
ACCEPT_PATH = "/console/invitations/accept"
"""The console page where an invited person accepts (the token follows as ``?token=``)."""
_MAX_TOKEN = 200
_MAX_NAME = 200


class MemberView(msgspec.Struct, frozen=True):
    user_id: str
    email: str
    name: str
    role: Role
    created_at: datetime


class InvitationView(msgspec.Struct, frozen=True):
    id: str
    email: str
    role: Role
    invited_by: str
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, i: Invitation) -> InvitationView:
        return cls(i.id, i.email, i.role, i.invited_by, i.created_at, i.expires_at)


class NewInvitationView(msgspec.Struct, frozen=True):
    invitation: InvitationView
    token: Annotated[str, msgspec.Meta(description="One-time token: shown once, never stored; send it to the invitee")]
    accept_url: Annotated[
        str, msgspec.Meta(description="The console page that accepts it (relative without a public URL)")
    ]
    emailed: Annotated[
        bool, msgspec.Meta(description="Whether the link was sent to the invitee by the server's mail server")
    ] = False
    email_error: Annotated[
        str | None, msgspec.Meta(description="Why it was not sent (no mail server, the server refused, ...)")
    ] = None


class NewInvitation(Input, frozen=True, forbid_unknown_fields=True):
    email: Annotated[str, EMAIL]
    role: Annotated[Role, msgspec.Meta(description="At most the inviter's own role")] = Role.MEMBER


class RoleChange(Input, frozen=True, forbid_unknown_fields=True):
    role: Role


class InvitationToken(Input, frozen=True, forbid_unknown_fields=True):
    token: Annotated[Line, msgspec.Meta(max_length=_MAX_TOKEN, examples=["01jd3v8k2m4n6p8q0r2s4t6v8w.Zk3f9...y7Q"])]


class InvitationSignUp(Input, frozen=True, forbid_unknown_fields=True):
    token: Annotated[Line, msgspec.Meta(max_length=_MAX_TOKEN)]
    password: Annotated[Text, PASSWORD_META]
    name: Annotated[Line, msgspec.Meta(max_length=_MAX_NAME)] | None = None


def _outranks(mine: Role, theirs: Role) -> bool:
    return ROLE_RANK[mine] >= ROLE_RANK[theirs]


async def _my_role(uow: UnitOfWork, actor: Principal) -> Role:
    """The caller's role as stored now (under the tenant's lock), not as their credential remembers it."""
    mine = await uow.memberships.get(actor.tenant_id, actor.user_id)
    if mine is None:
        raise Forbidden("you are no longer a member of this tenant", code="no_membership")
    return mine.role


async def _member(uow: UnitOfWork, tenant_id: str, user_id: str) -> Membership:
    membership = await uow.memberships.get(tenant_id, user_id)
    if membership is None:
        raise NotFound("no such member", code="member_not_found")
    return membership


async def _keep_an_owner(uow: UnitOfWork, target: Membership) -> None:
    if target.role is Role.OWNER and await uow.memberships.count_role(target.tenant_id, Role.OWNER) <= 1:
        raise Conflict("a tenant keeps at least one owner: make someone else owner first", code="last_owner")


async def _view(uow: UnitOfWork, membership: Membership) -> MemberView:
    user = await uow.users.get(membership.user_id)
    email, name = (user.email, user.name) if user is not None else ("", "")
    return MemberView(membership.user_id, email, name, membership.role, membership.created_at)


@dataclass(frozen=True, slots=True)
class ListMembers:
    """The members of the caller's tenant with their roles, oldest first."""

    scope: ClassVar[Scope] = Scope.TENANT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[MemberView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            memberships, total = await uow.memberships.list_for_tenant(actor.tenant_id, page)
            items = [await _view(uow, m) for m in memberships]
        return Page(items, total, page.limit, page.offset)


@dataclass(frozen=True, slots=True)
class ChangeRole:
    """Change a member's role: never above the caller's own, never of a member ranked above the caller
    (``role_too_high``, 403); the last owner keeps the role (``last_owner``, 409). Another tenant's member is 404."""

    scope: ClassVar[Scope] = Scope.TENANT_WRITE

    uow: UnitOfWorkFactory
    revoker: Revoker

    async def __call__(self, actor: Principal, user_id: str, cmd: RoleChange) -> MemberView:
        actor.require(self.scope)
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)
            target = await _member(uow, actor.tenant_id, user_id)
            mine = await _my_role(uow, actor)
            if not (_outranks(mine, target.role) and _outranks(mine, cmd.role)):
                raise Forbidden("you cannot give or change a role above your own", code="role_too_high")
            if cmd.role is not Role.OWNER:
                await _keep_an_owner(uow, target)
            await uow.memberships.set_role(actor.tenant_id, user_id, cmd.role)
            await self.revoker.publish(uow, user_tag(user_id))  # their credentials take the new role everywhere
            view = await _view(uow, msgspec.structs.replace(target, role=cmd.role))
            await uow.commit()
        self.revoker.evict(user_tag(user_id))
        return view


@dataclass(frozen=True, slots=True)
class RemoveMember:
    """Remove a member from the caller's tenant (their sessions and keys there stop working): never one ranked
    above the caller (``role_too_high``, 403), never the last owner (``last_owner``, 409)."""

    scope: ClassVar[Scope] = Scope.TENANT_WRITE

    uow: UnitOfWorkFactory
    revoker: Revoker

    async def __call__(self, actor: Principal, user_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            await uow.tenants.lock(actor.tenant_id)
            target = await _member(uow, actor.tenant_id, user_id)
            if not _outranks(await _my_role(uow, actor), target.role):
                raise Forbidden("you cannot remove a member ranked above you", code="role_too_high")
            await _keep_an_owner(uow, target)
            await uow.memberships.delete(actor.tenant_id, user_id)
            await self.revoker.publish(uow, user_tag(user_id))
            await uow.commit()
        self.revoker.evict(user_tag(user_id))


@dataclass(frozen=True, slots=True)
class Invite:
    """Invite someone by email to the caller's tenant with a role no higher than the caller's own
    (``role_too_high``, 403). Answers a one-time token (shown once; only its digest is kept) and the console
    link that accepts it; it expires after 7 days. A current member's email is ``already_member`` (409).

    With a mail server and the public URL configured, the link is also emailed to the invitee (``emailed``);
    the invitation stands when that fails (``email_error`` says why), so that the link can still be handed
    over. Only the configured public URL goes into a mail, never a request's Host header, which a caller
    could point at a site of their own."""

    scope: ClassVar[Scope] = Scope.TENANT_WRITE

    uow: UnitOfWorkFactory
    digest: SecretDigest
    secrets: SecretGenerator
    ids: IdFactory
    clock: Clock
    site: SiteConfig
    mailer: Mailer

    async def __call__(self, actor: Principal, cmd: NewInvitation) -> NewInvitationView:
        actor.require(self.scope)
        email = normalize_email(cmd.email)
        secret = self.secrets.token(32)
        now = self.clock.now()
        async with self.uow() as uow:
            if not _outranks(await _my_role(uow, actor), cmd.role):
                raise Forbidden("you cannot invite with a role above your own", code="role_too_high")
            tenant = await uow.tenants.get(actor.tenant_id)
            inviter = await uow.users.get(actor.user_id)
            existing = await uow.users.get_by_email(email)
            if existing is not None and await uow.memberships.get(actor.tenant_id, existing.id) is not None:
                raise Conflict("this person is already a member", code="already_member")
            invitation = Invitation(
                id=self.ids.new(),
                tenant_id=actor.tenant_id,
                email=email,
                role=cmd.role,
                token_hash=self.digest.digest(secret),
                invited_by=actor.user_id,
                created_at=now,
                expires_at=now + INVITATION_TTL,
                accepted_at=None,
                revoked_at=None,
            )
            await uow.invitations.add(invitation)
            await uow.commit()
        token = f"{invitation.id}.{secret}"
        link = f"{(self.site.public_url or '').rstrip('/')}{ACCEPT_PATH}?token={token}"
        view = NewInvitationView(InvitationView.of(invitation), token, link)
        if not self.mailer.configured:
            return msgspec.structs.replace(view, email_error="no mail server is configured (TESSERRA_SMTP_URL)")
        if not self.site.public_url:
            return msgspec.structs.replace(view, email_error="the server's public URL is not set (TESSERRA_PUBLIC_URL)")
        letter = _invitation_email(
            email,
            tenant.name if tenant else "a tenant",
            inviter.email if inviter else "",
            cmd.role,
            link,
            invitation.expires_at,
        )
        try:
            await self.mailer.send(letter)
        except Unavailable as exc:
            return msgspec.structs.replace(view, email_error=exc.message)
        return msgspec.structs.replace(view, emailed=True)


def _one_line(text: str) -> str:
    """A name fit for a mail header: no control characters (a CR or LF would start another header)."""
    return "".join(c if c.isprintable() else " " for c in text)[:_MAX_NAME]


def _invitation_email(to: str, tenant: str, inviter: str, role: Role, link: str, expires: datetime) -> OutgoingEmail:
    by = f" by {_one_line(inviter)}" if inviter else ""
    return OutgoingEmail(
        to=to,
        subject=f"You are invited to {_one_line(tenant)} on Tesserra",
        text=(
            f"You have been invited{by} to join {_one_line(tenant)} on Tesserra as {role.value}.\n\n"
            f"Accept the invitation here (it works once, for this address, until "
            f"{expires.strftime('%Y-%m-%d %H:%M UTC')}):\n\n{link}\n\n"
            "If you did not expect this, ignore this message.\n"
        ),
    )


@dataclass(frozen=True, slots=True)
class ListInvitations:
    """The caller's tenant's pending invitations (neither accepted nor revoked), newest first."""

    scope: ClassVar[Scope] = Scope.TENANT_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, page: PageRequest) -> Page[InvitationView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            return page.answer(await uow.invitations.list(actor.tenant_id, page), InvitationView.of)


@dataclass(frozen=True, slots=True)
class RevokeInvitation:
    """Revoke a pending invitation of the caller's tenant; its token stops working. Another tenant's, or one
    already settled, is 404."""

    scope: ClassVar[Scope] = Scope.TENANT_WRITE

    uow: UnitOfWorkFactory
    clock: Clock

    async def __call__(self, actor: Principal, invitation_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            if not await uow.invitations.revoke(actor.tenant_id, invitation_id, self.clock.now()):
                raise NotFound("no such pending invitation", code="invitation_not_found")
            await uow.commit()


@dataclass(frozen=True, slots=True)
class Redeem:
    """What accepting shares: the invitation a token names, still open, taken once."""

    digest: SecretDigest
    clock: Clock

    async def open_invitation(self, uow: UnitOfWork, token: str) -> Invitation:
        invitation_id, sep, secret = token.partition(".")
        invitation = await uow.invitations.find(invitation_id) if sep and invitation_id and secret else None
        if invitation is None or not self.digest.matches(secret, invitation.token_hash):
            raise NotFound("no such invitation", code="invitation_not_found")
        if invitation.revoked_at is not None:
            raise Conflict("this invitation was revoked", code="invitation_revoked")
        if invitation.accepted_at is not None:
            raise Conflict("this invitation was already used", code="invitation_used")
        if invitation.expires_at <= self.clock.now():
            raise Conflict("this invitation has expired: ask for a new one", code="invitation_expired")
        return invitation

    async def join(self, uow: UnitOfWork, invitation: Invitation, user_id: str) -> MembershipView:
        if await uow.memberships.get(invitation.tenant_id, user_id) is not None:
            raise Conflict("you are already a member of this tenant", code="already_member")
        if not await uow.invitations.accept(invitation.id, self.clock.now()):
            raise Conflict("this invitation was already used", code="invitation_used")
        await uow.memberships.add(
            Membership(
                tenant_id=invitation.tenant_id, user_id=user_id, role=invitation.role, created_at=self.clock.now()
            )
        )
        return MembershipView(tenant_id=invitation.tenant_id, role=invitation.role)


@dataclass(frozen=True, slots=True)
class AcceptInvitation:
    """Accept an invitation as the signed-in person it was sent to: their account's email must be the invited
    one (``invitation_email_mismatch``, 403). An unknown token is 404; a revoked, used or expired one 409
    (``invitation_revoked``, ``invitation_used``, ``invitation_expired``). Only a login session accepts."""

    uow: UnitOfWorkFactory
    redeem: Redeem
    revoker: Revoker

    async def __call__(self, actor: Principal, cmd: InvitationToken) -> MembershipView:
        if actor.method is not AuthMethod.JWT:
            raise Unprocessable("only a signed-in person accepts an invitation", code="not_a_session")
        async with self.uow() as uow:
            invitation = await self.redeem.open_invitation(uow, cmd.token)
            user = await uow.users.get(actor.user_id)
            if user is None or user.email != invitation.email:
                raise Forbidden("this invitation was sent to another email address", code="invitation_email_mismatch")
            joined = await self.redeem.join(uow, invitation, user.id)
            await self.revoker.publish(uow, user_tag(user.id))  # their memberships changed
            await uow.commit()
        self.revoker.evict(user_tag(actor.user_id))
        return joined


@dataclass(frozen=True, slots=True)
class SignUpByInvitation:
    """Accept an invitation by creating the account of the invited email (then sign in as usual). If that email
    already has an account, sign in and accept instead (``user_exists``, 409). Token errors as when accepting."""

    uow: UnitOfWorkFactory
    redeem: Redeem
    hasher: PasswordHasher
    ids: IdFactory
    clock: Clock

    async def __call__(self, cmd: InvitationSignUp) -> MembershipView:
        async with self.uow(read_only=True) as uow:  # a bad token costs no password hashing
            await self.redeem.open_invitation(uow, cmd.token)
        password_hash = await self.hasher.hash(check_password(cmd.password))
        async with self.uow() as uow:
            invitation = await self.redeem.open_invitation(uow, cmd.token)
            if await uow.users.get_by_email(invitation.email) is not None:
                raise Conflict(
                    "an account with this email exists: sign in and accept the invitation", code="user_exists"
                )
            user = User(
                id=self.ids.new(),
                email=invitation.email,
                name=(cmd.name or invitation.email.split("@")[0]).strip()[:_MAX_NAME],
                password_hash=password_hash,
                is_platform_admin=False,
                active=True,
                failed_logins=0,
                locked_until=None,
                created_at=self.clock.now(),
            )
            await uow.users.add(user)
            joined = await self.redeem.join(uow, invitation, user.id)
            await uow.commit()
        return joined


class MyTenantView(msgspec.Struct, frozen=True):
    tenant_id: str
    name: str
    role: Role
    active: bool
    current: bool


@dataclass(frozen=True, slots=True)
class MyTenants:
    """The tenants the caller belongs to, oldest membership first, the one acted in marked ``current``."""

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal) -> list[MyTenantView]:
        async with self.uow(read_only=True) as uow:
            mine = await uow.memberships.list_for_user(actor.user_id)
            tenants = [(m, await uow.tenants.get(m.tenant_id)) for m in mine]
        return [
            MyTenantView(m.tenant_id, t.name, m.role, t.active, m.tenant_id == actor.tenant_id)
            for m, t in tenants
            if t is not None
        ]


@dataclass(frozen=True, slots=True)
class Members:
    """/api/tenants/atual/membros, /api/tenants/atual/convites, /api/convites/aceitar and /api/convites/cadastro."""

    list: ListMembers
    change_role: ChangeRole
    remove: RemoveMember
    invite: Invite
    invitations: ListInvitations
    revoke_invitation: RevokeInvitation
    accept: AcceptInvitation
    sign_up: SignUpByInvitation
    my_tenants: MyTenants


def members(p: Ports, *, revoker: Revoker) -> Members:
    redeem = Redeem(p.digest, p.clock)
    return Members(
        list=ListMembers(p.uow),
        change_role=ChangeRole(p.uow, revoker),
        remove=RemoveMember(p.uow, revoker),
        invite=Invite(p.uow, p.digest, p.secrets, p.ids, p.clock, p.site, p.mailer),
        invitations=ListInvitations(p.uow),
        revoke_invitation=RevokeInvitation(p.uow, p.clock),
        accept=AcceptInvitation(p.uow, redeem, revoker),
        sign_up=SignUpByInvitation(p.uow, redeem, p.hasher, p.ids, p.clock),
        my_tenants=MyTenants(p.uow),
    )
