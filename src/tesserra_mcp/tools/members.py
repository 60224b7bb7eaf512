"""Member tools: the caller's tenant's members and invitations. Each calls the REST twin's use case.

Accepting an invitation needs a login session (an API key is never the invited person), so it has no tool:
the invitee accepts in the console or over REST."""

from typing import Annotated, Any

from pydantic import Field

from tesserra_core.domain.identity import Principal, Role, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import members
from tesserra_core.usecases.members import (
    InvitationView,
    MemberView,
    NewInvitation,
    NewInvitationView,
    RoleChange,
)
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

UserId = Annotated[str, Field(description="The member's user id.")]


@tools.tool(members.ListMembers)
async def list_members(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[MemberView]:
    return await uc.members.list(actor, PageRequest(limite, offset))


@tools.tool(members.ChangeRole, tier=Tier.STANDARD)
async def change_member_role(user_id: UserId, role: Role, *, uc: UseCases, actor: Principal) -> MemberView:
    return await uc.members.change_role(actor, user_id, convert(RoleChange, {"role": role}))


@tools.tool(members.RemoveMember, tier=Tier.STANDARD)
async def remove_member(user_id: UserId, *, uc: UseCases, actor: Principal) -> dict[str, Any]:
    await uc.members.remove(actor, user_id)
    return {"removed": user_id}


@tools.tool(members.ListInvitations)
async def list_invitations(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[InvitationView]:
    return await uc.members.invitations(actor, PageRequest(limite, offset))


@tools.tool(members.Invite, tier=Tier.STANDARD)
async def invite_member(
    email: Annotated[str, Field(description="Who to invite.")],
    role: Annotated[Role, Field(description="At most your own role.")] = Role.MEMBER,
    *,
    uc: UseCases,
    actor: Principal,
) -> NewInvitationView:
    return await uc.members.invite(actor, convert(NewInvitation, {"email": email, "role": role}))


@tools.tool(members.RevokeInvitation, tier=Tier.STANDARD)
async def revoke_invitation(
    invitation_id: Annotated[str, Field(description="The invitation's id.")], *, uc: UseCases, actor: Principal
) -> dict[str, Any]:
    await uc.members.revoke_invitation(actor, invitation_id)
    return {"revoked": invitation_id}
