"""The member tools: each returns what its REST twin returns, is shown by the key's scopes and tier, and
refuses what the use case refuses (a role above the creator's, another tenant's member, the last owner)."""

from __future__ import annotations

from tesserra_core.domain.identity import Tier
from tests.drivers.mcp.helpers import MEMBER_READ_TOOLS, MEMBER_TOOLS, Site, bearer, mcp_session


async def test_list_members_and_invitations_return_what_rest_returns(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        invited = await session.call_tool("invite_member", {"email": "twin@example.com", "role": "viewer"})
        members = await session.call_tool("list_members", {})
        invitations = await session.call_tool("list_invitations", {"limite": 5})
    assert not invited.is_error
    assert invited.structured_content is not None
    assert invited.structured_content["invitation"]["role"] == "viewer"
    assert "?token=" in invited.structured_content["accept_url"]
    async with site.http(site.owner_token) as http:
        rest_members = await http.get("/api/tenants/atual/membros")
        rest_invitations = await http.get("/api/tenants/atual/convites", params={"limite": 5})
    assert members.structured_content == rest_members.json()
    assert invitations.structured_content == rest_invitations.json()
    assert [i["email"] for i in rest_invitations.json()["items"]] == ["twin@example.com"]

    invitation_id = invited.structured_content["invitation"]["id"]
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        revoked = await session.call_tool("revoke_invitation", {"invitation_id": invitation_id})
        again = await session.call_tool("revoke_invitation", {"invitation_id": invitation_id})
        last = await session.call_tool("change_member_role", {"user_id": site.owner.user_id, "role": "admin"})
        stranger = await session.call_tool("remove_member", {"user_id": "0" * 26})
    assert revoked.structured_content == {"revoked": invitation_id}
    assert again.is_error
    assert again.structured_content is not None
    assert again.structured_content["code"] == "invitation_not_found"
    assert last.structured_content is not None
    assert last.structured_content["code"] == "last_owner"
    assert stranger.structured_content is not None
    assert stranger.structured_content["code"] == "member_not_found"


async def test_keys_see_the_member_tools_their_scopes_and_tier_allow(site: Site) -> None:
    reader = await site.key("tenant:read")
    writer = await site.key("tenant:read", "tenant:write", tier=Tier.STANDARD)
    async with mcp_session(site.mcp_url, bearer(reader.key)) as session:
        seen = {t.name for t in (await session.list_tools()).tools} & MEMBER_TOOLS
        hidden = await session.call_tool("invite_member", {"email": "x@example.com"})
    assert seen == MEMBER_READ_TOOLS
    assert hidden.is_error
    async with mcp_session(site.mcp_url, bearer(writer.key)) as session:
        seen = {t.name for t in (await session.list_tools()).tools} & MEMBER_TOOLS
        too_high = await session.call_tool("invite_member", {"email": "boss@example.com", "role": "owner"})
        fine = await session.call_tool("invite_member", {"email": "helper@example.com", "role": "member"})
    assert seen == MEMBER_TOOLS
    assert not fine.is_error
    # the key's creator is the owner: an owner may invite an owner, so the key may too
    assert not too_high.is_error
