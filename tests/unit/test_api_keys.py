"""API keys: least-privilege defaults, no escalation, expiry, revocation, visibility, shrinking rights."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tesserra_core.domain.identity import ROLE_SCOPES, AuthMethod, Principal, Role, Scope, Tier
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, NotFound, Unauthenticated, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.ports.persistence import Revocation
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.credentials import split_api_key
from tests.unit.conftest import make_team
from tests.unit.helpers import FakeClock, Team, add_user, set_role, sign_in


async def test_a_key_works_as_its_creator_with_its_scopes(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="deploy", scopes=[Scope.PROJECTS_READ]))

    principal = await uc.authenticate(minted.key)

    assert split_api_key(minted.key) is not None
    assert principal.method is AuthMethod.API_KEY
    assert principal.credential_id == minted.api_key.id
    assert (principal.user_id, principal.tenant_id) == (team.member.user_id, team.tenant_id)
    assert principal.scopes == {Scope.PROJECTS_READ}
    assert minted.api_key.scopes == ["projects:read"]


async def test_the_secret_is_not_stored(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="deploy"))
    _, secret = split_api_key(minted.key) or ("", "")

    async with uc.ports.uow(read_only=True) as uow:
        stored = await uow.api_keys.get(team.tenant_id, minted.api_key.id)

    assert stored is not None
    assert secret not in stored.secret_hash
    assert uc.ports.digest.matches(secret, stored.secret_hash)


async def test_defaults_drop_admin_and_cap_the_tier_at_standard(uc: UseCases, admin: Principal) -> None:
    minted = await uc.api_keys.generate(admin, NewApiKey(name="default"))

    principal = await uc.authenticate(minted.key)

    assert Scope.ADMIN in admin.scopes
    assert admin.tier is Tier.ADMIN
    assert Scope.ADMIN not in principal.scopes
    assert principal.scopes == frozenset(Scope) - {Scope.ADMIN}
    assert principal.tier is Tier.STANDARD


async def test_a_viewer_key_defaults_to_the_basic_tier(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.VIEWER)
    _, viewer = await sign_in(uc, email)

    minted = await uc.api_keys.generate(viewer, NewApiKey(name="read-only"))

    assert minted.api_key.tier is Tier.BASIC
    assert set(minted.api_key.scopes) == {s.value for s in ROLE_SCOPES[Role.VIEWER]}


async def test_admin_rights_must_be_asked_for_by_name(uc: UseCases, admin: Principal) -> None:
    minted = await uc.api_keys.generate(admin, NewApiKey(name="ops", scopes=[Scope.ADMIN], tier=Tier.ADMIN))

    principal = await uc.authenticate(minted.key)

    assert principal.scopes == {Scope.ADMIN}
    assert principal.tier is Tier.ADMIN


async def test_scopes_beyond_the_callers_are_refused(uc: UseCases, team: Team) -> None:
    with pytest.raises(Forbidden) as caught:
        await uc.api_keys.generate(
            team.member, NewApiKey(name="greedy", scopes=[Scope.PROJECTS_READ, Scope.BILLING_WRITE])
        )

    assert caught.value.code == "scope_escalation"


async def test_a_tier_above_the_callers_is_refused(uc: UseCases, team: Team) -> None:
    with pytest.raises(Forbidden) as caught:
        await uc.api_keys.generate(team.owner, NewApiKey(name="greedy", tier=Tier.ADMIN))

    assert caught.value.code == "tier_escalation"


@pytest.mark.parametrize("scopes", [["projects:fly"], [], ["PROJECTS:READ"]])
async def test_unknown_or_no_scopes_are_invalid(uc: UseCases, team: Team, scopes: list[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.api_keys.generate(team.member, NewApiKey(name="bad", scopes=scopes))  # type: ignore[arg-type]  # unknown on purpose

    assert caught.value.code == "invalid_scopes"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_a_name_must_be_1_to_100_characters(uc: UseCases, team: Team, name: str) -> None:
    with pytest.raises(ValidationFailed):
        await uc.api_keys.generate(team.member, NewApiKey(name=name))


async def test_an_expiry_in_the_past_or_without_zone_is_invalid(uc: UseCases, team: Team, clock: FakeClock) -> None:
    with pytest.raises(Unprocessable) as past:  # depends on now: semantic
        await uc.api_keys.generate(team.member, NewApiKey(name="old", expires_at=clock.now() - timedelta(seconds=1)))
    with pytest.raises(ValidationFailed) as naive:
        await uc.api_keys.generate(team.member, NewApiKey(name="naive", expires_at=datetime(2999, 1, 1)))

    assert past.value.code == naive.value.code == "invalid_expiry"


async def test_a_key_stops_working_when_it_expires(uc: UseCases, team: Team, clock: FakeClock) -> None:
    expires = clock.now() + timedelta(seconds=1)
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="short", expires_at=expires))
    await uc.authenticate(minted.key)
    clock.advance(1.5)

    with pytest.raises(Unauthenticated) as caught:
        await uc.authenticate(minted.key)

    assert caught.value.code == "api_key_expired"
    assert minted.api_key.expires_at == expires.astimezone(UTC)


@pytest.mark.parametrize(
    "credential",
    ["tessera_nosuchprefix_" + "s" * 43, "tessera_bad-prefix_" + "s" * 43, "tessera_abc_short", "garbage"],
)
async def test_unknown_or_malformed_keys_are_rejected(uc: UseCases, team: Team, credential: str) -> None:
    with pytest.raises(Unauthenticated):
        await uc.authenticate(credential)


async def test_a_key_with_a_wrong_secret_is_rejected(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="deploy"))
    prefix, secret = split_api_key(minted.key) or ("", "")

    with pytest.raises(Unauthenticated) as caught:
        await uc.authenticate(f"tessera_{prefix}_{secret[::-1]}")

    assert caught.value.code == "invalid_api_key"


async def test_revoking_a_key_rejects_it_at_once(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="deploy"))
    await uc.authenticate(minted.key)  # cached now

    await uc.api_keys.revoke(team.member, minted.api_key.id)

    with pytest.raises(Unauthenticated) as caught:
        await uc.authenticate(minted.key)
    assert caught.value.code == "api_key_revoked"


async def test_revoking_twice_is_harmless(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="deploy"))
    await uc.api_keys.revoke(team.member, minted.api_key.id)

    await uc.api_keys.revoke(team.member, minted.api_key.id)

    page = await uc.api_keys.list(team.member, PageRequest())
    assert [k.revoked_at is not None for k in page.items] == [True]


async def test_a_member_sees_only_their_own_keys_and_the_owner_sees_all(uc: UseCases, team: Team) -> None:
    mine = await uc.api_keys.generate(team.member, NewApiKey(name="member key"))
    owners = await uc.api_keys.generate(team.owner, NewApiKey(name="owner key"))

    member_page = await uc.api_keys.list(team.member, PageRequest())
    owner_page = await uc.api_keys.list(team.owner, PageRequest())

    assert [k.id for k in member_page.items] == [mine.api_key.id]
    assert member_page.total == 1
    # newest first, by id; ids are only roughly time-ordered within one millisecond
    assert [k.id for k in owner_page.items] == sorted([owners.api_key.id, mine.api_key.id], reverse=True)
    assert owner_page.total == 2


async def test_a_member_cannot_revoke_someone_elses_key(uc: UseCases, team: Team) -> None:
    owners = await uc.api_keys.generate(team.owner, NewApiKey(name="owner key"))

    with pytest.raises(NotFound):
        await uc.api_keys.revoke(team.member, owners.api_key.id)

    assert (await uc.authenticate(owners.key)).credential_id == owners.api_key.id


async def test_the_owner_can_revoke_a_members_key(uc: UseCases, team: Team) -> None:
    members = await uc.api_keys.generate(team.member, NewApiKey(name="member key"))

    await uc.api_keys.revoke(team.owner, members.api_key.id)

    with pytest.raises(Unauthenticated):
        await uc.authenticate(members.key)


async def test_another_tenants_key_is_not_found(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    theirs = await uc.api_keys.generate(other.owner, NewApiKey(name="theirs"))

    with pytest.raises(NotFound) as caught:
        await uc.api_keys.revoke(team.owner, theirs.api_key.id)

    assert caught.value.code == "api_key_not_found"
    assert (await uc.authenticate(theirs.key)).tenant_id == other.tenant_id
    assert (await uc.api_keys.list(team.owner, PageRequest())).total == 0


async def test_a_keys_rights_shrink_with_its_creators_role(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.ADMIN)
    _, tenant_admin = await sign_in(uc, email)
    minted = await uc.api_keys.generate(tenant_admin, NewApiKey(name="admin's key"))
    before = await uc.authenticate(minted.key)
    await uc.revocations.poll()  # the first poll only takes the feed's cursor

    set_role(uc, team.tenant_id, tenant_admin.user_id, Role.VIEWER)
    async with uc.ports.uow() as uow:
        await uow.revocations.publish(Revocation("user", tenant_admin.user_id), uc.ports.clock.now())
        await uow.commit()
    cached = await uc.authenticate(minted.key)
    await uc.revocations.poll()
    after = await uc.authenticate(minted.key)

    assert Scope.TENANT_WRITE in before.scopes
    assert cached == before
    assert after.scopes == ROLE_SCOPES[Role.VIEWER] & before.scopes
    assert Scope.TENANT_WRITE not in after.scopes
    assert after.tier is Tier.BASIC
    assert after.role is Role.VIEWER


async def test_keys_need_the_keys_scopes(uc: UseCases, team: Team) -> None:
    narrow = await uc.api_keys.generate(team.member, NewApiKey(name="narrow", scopes=[Scope.PROJECTS_READ]))
    key_principal = await uc.authenticate(narrow.key)

    with pytest.raises(Forbidden) as write:
        await uc.api_keys.generate(key_principal, NewApiKey(name="child"))
    with pytest.raises(Forbidden) as read:
        await uc.api_keys.list(key_principal, PageRequest())

    assert write.value.code == read.value.code == "insufficient_scope"
