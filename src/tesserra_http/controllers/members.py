"""/api/tenants/atual/membros and /api/tenants/atual/convites (the caller's tenant), and /api/convites (the
invited person's side: accept signed in, or create the account)."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.members import (
    AcceptInvitation,
    ChangeRole,
    InvitationSignUp,
    InvitationToken,
    InvitationView,
    Invite,
    ListInvitations,
    ListMembers,
    MemberView,
    NewInvitation,
    NewInvitationView,
    RemoveMember,
    RevokeInvitation,
    RoleChange,
    SignUpByInvitation,
)
from tesserra_core.usecases.views import MembershipView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

NO_STORE = CacheControlHeader(no_store=True)


def routes(uc: UseCases) -> Router:
    @get("/membros", **declare(uses=ListMembers, errors=(400, 403)))
    async def list_members(request: Caller, page: Paging) -> Page[MemberView]:
        return await uc.members.list(request.user, page)

    @patch("/membros/{user_id:str}", **declare(uses=ChangeRole, errors=(400, 403, 404, 409)))
    async def change_role(user_id: FromPath[str], data: JSONBody[RoleChange], request: Caller) -> MemberView:
        return await uc.members.change_role(request.user, user_id, data)

    @delete("/membros/{user_id:str}", status_code=204, **declare(uses=RemoveMember, errors=(403, 404, 409)))
    async def remove_member(user_id: FromPath[str], request: Caller) -> None:
        await uc.members.remove(request.user, user_id)

    @get("/convites", **declare(uses=ListInvitations, errors=(400, 403)))
    async def list_invitations(request: Caller, page: Paging) -> Page[InvitationView]:
        return await uc.members.invitations(request.user, page)

    @post(
        "/convites",
        status_code=201,
        cache_control=NO_STORE,
        **declare(uses=Invite, idempotent=True, errors=(400, 403, 409)),
    )
    async def invite(data: JSONBody[NewInvitation], request: Caller) -> NewInvitationView:
        return await uc.members.invite(request.user, data)

    @delete("/convites/{invitation_id:str}", status_code=204, **declare(uses=RevokeInvitation, errors=(403, 404)))
    async def revoke_invitation(invitation_id: FromPath[str], request: Caller) -> None:
        await uc.members.revoke_invitation(request.user, invitation_id)

    handlers = [list_members, change_role, remove_member, list_invitations, invite, revoke_invitation]
    return Router("/api/tenants/atual", tags=["Members"], route_handlers=handlers)


def invitation_routes(uc: UseCases) -> Router:
    @post("/aceitar", status_code=200, **declare(uses=AcceptInvitation, errors=(400, 403, 404, 409, 422)))
    async def accept(data: JSONBody[InvitationToken], request: Caller) -> MembershipView:
        return await uc.members.accept(request.user, data)

    @post(
        "/cadastro",
        status_code=201,
        **declare(uses=SignUpByInvitation, public=True, rate_limit="login", errors=(400, 404, 409)),
    )
    async def sign_up(data: JSONBody[InvitationSignUp]) -> MembershipView:
        return await uc.members.sign_up(data)

    return Router("/api/convites", tags=["Members"], route_handlers=[accept, sign_up])
