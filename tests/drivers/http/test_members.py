"""Members and invitations over REST, on SQLite and PostgreSQL: invite, accept (signed in, or creating the
account), list, change role, remove, revoke; and the attacks: a viewer inviting, an admin inviting an owner,
another tenant's member, expired/used/revoked tokens, another email's account accepting, and two owners
demoting each other at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tesserra_core.domain.identity import Invitation, Role
from tests.drivers.http.conftest import PASSWORD, Accounts, assert_error, sign_in, unique_email
from tests.support import LiveServer


async def _invite(
    client: httpx.AsyncClient, bearer: dict[str, str], email: str, role: str = "member"
) -> dict[str, Any]:
    response = await client.post("/api/tenants/atual/convites", json={"email": email, "role": role}, headers=bearer)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    return dict(response.json())


async def _members(client: httpx.AsyncClient, bearer: dict[str, str]) -> dict[str, str]:
    response = await client.get("/api/tenants/atual/membros", headers=bearer)
    assert response.status_code == 200, response.text
    return {m["email"]: m["role"] for m in response.json()["items"]}


async def test_invite_sign_up_and_accept_signed_in(client: httpx.AsyncClient, accounts: Accounts, server) -> None:
    owner = await accounts.tenant_owner()
    newcomer = unique_email("new")
    created = await _invite(client, owner.bearer, newcomer, "admin")
    assert created["invitation"]["email"] == newcomer
    assert created["invitation"]["role"] == "admin"
    assert created["accept_url"].endswith(f"/console/invitations/accept?token={created['token']}")
    listed = await client.get("/api/tenants/atual/convites", headers=owner.bearer)
    assert [i["id"] for i in listed.json()["items"]] == [created["invitation"]["id"]]

    # A new person creates their account with the token (no credential needed), then signs in.
    joined = await client.post("/api/convites/cadastro", json={"token": created["token"], "password": "a-long-pass-1"})
    assert joined.status_code == 201, joined.text
    assert joined.json() == {"tenant_id": owner.tenant_id, "role": "admin"}
    assert (await _members(client, owner.bearer))[newcomer] == "admin"
    assert (await client.get("/api/tenants/atual/convites", headers=owner.bearer)).json()["items"] == []
    again = await client.post("/api/convites/cadastro", json={"token": created["token"], "password": "a-long-pass-1"})
    assert_error(again, 409, "invitation_used")

    # Someone with an account in another tenant accepts signed in, and can then sign in to this one.
    elsewhere = await accounts.tenant_owner("Other")
    invited = await _invite(client, owner.bearer, elsewhere.email, "viewer")
    taken = await client.post("/api/convites/cadastro", json={"token": invited["token"], "password": "a-long-pass-1"})
    assert_error(taken, 409, "user_exists")
    accepted = await client.post("/api/convites/aceitar", json={"token": invited["token"]}, headers=elsewhere.bearer)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"tenant_id": owner.tenant_id, "role": "viewer"}
    me = await client.get("/api/auth/me", headers=elsewhere.bearer)
    assert {m["tenant_id"] for m in me.json()["memberships"]} == {elsewhere.tenant_id, owner.tenant_id}
    there = await sign_in(server.uc, elsewhere.email, PASSWORD, owner.tenant_id)
    assert there.tenant_id == owner.tenant_id


async def test_who_may_invite_and_with_what_role(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    admin = await accounts.member(owner.tenant_id, Role.ADMIN)
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    body = {"email": unique_email("x"), "role": "viewer"}
    for weak in (viewer, member):
        assert_error(
            await client.post("/api/tenants/atual/convites", json=body, headers=weak.bearer), 403, "insufficient_scope"
        )
    as_owner = {"email": unique_email("x"), "role": "owner"}
    assert_error(
        await client.post("/api/tenants/atual/convites", json=as_owner, headers=admin.bearer), 403, "role_too_high"
    )
    await _invite(client, admin.bearer, unique_email("x"), "admin")  # up to their own role
    await _invite(client, owner.bearer, unique_email("x"), "owner")
    existing = {"email": member.email, "role": "viewer"}
    assert_error(
        await client.post("/api/tenants/atual/convites", json=existing, headers=owner.bearer), 409, "already_member"
    )
    bad = await client.post("/api/tenants/atual/convites", json={"email": "nope", "role": "god"}, headers=owner.bearer)
    assert bad.status_code == 400


async def test_tokens_expired_used_revoked_forged_or_for_another_email(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    stranger = await accounts.tenant_owner("Stranger")
    invited = await _invite(client, owner.bearer, unique_email("someone"))
    wrong_person = await client.post("/api/convites/aceitar", json={"token": invited["token"]}, headers=stranger.bearer)
    assert_error(wrong_person, 403, "invitation_email_mismatch")
    invitation_id = invited["invitation"]["id"]
    assert (
        await client.delete(f"/api/tenants/atual/convites/{invitation_id}", headers=owner.bearer)
    ).status_code == 204
    assert_error(
        await client.delete(f"/api/tenants/atual/convites/{invitation_id}", headers=owner.bearer),
        404,
        "invitation_not_found",
    )
    revoked = await client.post("/api/convites/cadastro", json={"token": invited["token"], "password": "a-long-pass-1"})
    assert_error(revoked, 409, "invitation_revoked")
    forged = invited["token"][:-4] + "AAAA"
    assert_error(
        await client.post("/api/convites/cadastro", json={"token": forged, "password": "a-long-pass-1"}),
        404,
        "invitation_not_found",
    )
    assert_error(
        await client.post("/api/convites/aceitar", json={"token": "no-dot"}, headers=stranger.bearer),
        404,
        "invitation_not_found",
    )

    ports = server.uc.ports
    secret, now = ports.secrets.token(32), datetime.now(UTC)
    expired = Invitation(
        id=ports.ids.new(),
        tenant_id=owner.tenant_id,
        email=stranger.email,
        role=Role.MEMBER,
        token_hash=ports.digest.digest(secret),
        invited_by=owner.user_id,
        created_at=now - timedelta(days=8),
        expires_at=now - timedelta(days=1),
        accepted_at=None,
        revoked_at=None,
    )
    async with ports.uow() as uow:
        await uow.invitations.add(expired)
        await uow.commit()
    late = await client.post("/api/convites/aceitar", json={"token": f"{expired.id}.{secret}"}, headers=stranger.bearer)
    assert_error(late, 409, "invitation_expired")

    # Another tenant's invitation is not revocable here; an API key is never the invited person.
    theirs = await _invite(client, stranger.bearer, unique_email("theirs"))
    assert_error(
        await client.delete(f"/api/tenants/atual/convites/{theirs['invitation']['id']}", headers=owner.bearer), 404
    )
    key = await client.post("/api/auth/keys/generate", json={"name": "k"}, headers=stranger.bearer)
    by_key = {"Authorization": f"Bearer {key.json()['key']}"}
    assert_error(
        await client.post("/api/convites/aceitar", json={"token": theirs["token"]}, headers=by_key),
        422,
        "not_a_session",
    )


async def test_roles_change_and_members_go_within_rank(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    admin = await accounts.member(owner.tenant_id, Role.ADMIN)
    member = await accounts.member(owner.tenant_id, Role.MEMBER)
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    other = await accounts.tenant_owner("Other")
    path = "/api/tenants/atual/membros"

    promoted = await client.patch(f"{path}/{viewer.user_id}", json={"role": "member"}, headers=admin.bearer)
    assert promoted.status_code == 200
    assert promoted.json()["role"] == "member"
    # the promoted member's own credential carries the new role at once
    assert (await client.get("/api/auth/me", headers=viewer.bearer)).json()["role"] == "member"
    assert_error(await client.patch(f"{path}/{owner.user_id}", json={"role": "viewer"}, headers=admin.bearer), 403)
    assert_error(
        await client.patch(f"{path}/{member.user_id}", json={"role": "owner"}, headers=admin.bearer),
        403,
        "role_too_high",
    )
    assert_error(await client.patch(f"{path}/{admin.user_id}", json={"role": "viewer"}, headers=member.bearer), 403)
    assert_error(await client.delete(f"{path}/{owner.user_id}", headers=admin.bearer), 403, "role_too_high")
    # another tenant's member is 404, whatever the role
    assert_error(await client.patch(f"{path}/{other.user_id}", json={"role": "viewer"}, headers=owner.bearer), 404)
    assert_error(await client.delete(f"{path}/{other.user_id}", headers=owner.bearer), 404, "member_not_found")
    # the last owner stays owner, and is not removed
    assert_error(
        await client.patch(f"{path}/{owner.user_id}", json={"role": "admin"}, headers=owner.bearer), 409, "last_owner"
    )
    assert_error(await client.delete(f"{path}/{owner.user_id}", headers=owner.bearer), 409, "last_owner")

    assert (await client.delete(f"{path}/{member.user_id}", headers=admin.bearer)).status_code == 204
    assert_error(await client.get("/api/auth/me", headers=member.bearer), 401)  # their session ended here
    assert member.email not in await _members(client, owner.bearer)


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(clients, accounts: Accounts) -> None:
    for _ in range(3):
        first = await accounts.tenant_owner()
        second = await accounts.member(first.tenant_id, Role.OWNER)
        path = "/api/tenants/atual/membros"
        a, b = clients(), clients()
        results = await asyncio.gather(
            a.patch(f"{path}/{second.user_id}", json={"role": "admin"}, headers=first.bearer),
            b.patch(f"{path}/{first.user_id}", json={"role": "admin"}, headers=second.bearer),
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses[0] == 200, [r.text for r in results]
        assert statuses[1] in (403, 409), [r.text for r in results]
        roles = await _members(a, (first if results[1].status_code != 200 else second).bearer)
        assert sorted(roles.values()) == ["admin", "owner"], roles


async def test_hostile_ids_tokens_and_bodies_are_4xx_with_the_error_body(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    ids = ["%00", "x" * 300, "%F0%9F%94%91", "..%2F..%2Fetc", "'%20OR%201=1"]
    for bad in ids:
        for response in (
            await client.patch(f"/api/tenants/atual/membros/{bad}", json={"role": "viewer"}, headers=owner.bearer),
            await client.delete(f"/api/tenants/atual/membros/{bad}", headers=owner.bearer),
            await client.delete(f"/api/tenants/atual/convites/{bad}", headers=owner.bearer),
        ):
            assert 400 <= response.status_code < 500, (bad, response.status_code, response.text)
            assert_error(response, response.status_code)
    tokens = ["\u0000.\u0000", "a" * 199 + ".b", ".", "x.", ".y", "🔑.🔑", "a" * 500]
    for token in tokens:
        for response in (
            await client.post("/api/convites/aceitar", json={"token": token}, headers=owner.bearer),
            await client.post("/api/convites/cadastro", json={"token": token, "password": "a-long-pass-1"}),
        ):
            assert 400 <= response.status_code < 500, (token, response.status_code, response.text)
            assert_error(response, response.status_code)
    bodies: list[object] = [{"role": "god"}, {"role": None}, {}, {"role": "viewer", "extra": 1}, []]
    for body in bodies:
        response = await client.patch(f"/api/tenants/atual/membros/{owner.user_id}", json=body, headers=owner.bearer)
        assert_error(response, 400)
