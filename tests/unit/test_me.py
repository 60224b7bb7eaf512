"""Who-am-I: served from a cache, yet never stale after a change that touches what it shows."""

from __future__ import annotations

from tesserra_core.domain.identity import Principal
from tesserra_core.facade import UseCases
from tesserra_core.usecases.tenants import NewTenant, TenantChanges
from tests.unit.helpers import Team, store


async def test_me_answers_from_the_cache_without_the_store(uc: UseCases, team: Team) -> None:
    first = await uc.sessions.me(team.member)
    store(uc).users.clear()  # a second answer that needed the store would now fail

    assert await uc.sessions.me(team.member) == first


async def test_renaming_the_tenant_shows_at_once(uc: UseCases, team: Team, admin: Principal) -> None:
    await uc.sessions.me(team.member)

    await uc.tenants.update(admin, team.tenant_id, TenantChanges(name="Renamed Co"))

    assert (await uc.sessions.me(team.member)).tenant.name == "Renamed Co"


async def test_joining_another_tenant_shows_in_memberships(uc: UseCases, team: Team, admin: Principal) -> None:
    before = await uc.sessions.me(team.member)

    other = await uc.tenants.create(admin, NewTenant(name="Second Home", owner_email=team.member_email))

    after = await uc.sessions.me(team.member)
    assert {m.tenant_id for m in after.memberships} == {m.tenant_id for m in before.memberships} | {other.id}


async def test_acting_user_is_per_request_not_cached(uc: UseCases, team: Team) -> None:
    from msgspec.structs import replace

    plain = await uc.sessions.me(team.owner)
    acting = await uc.sessions.me(replace(team.owner, acting_user_id="ops-alice"))

    assert plain.acting_user_id is None
    assert acting.acting_user_id == "ops-alice"
    assert (await uc.sessions.me(team.owner)).acting_user_id is None
