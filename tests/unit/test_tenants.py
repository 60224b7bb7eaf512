"""Tenants: the caller's own, and the platform administrators' management of all of them."""

from __future__ import annotations

import pytest

from tesserra_core.domain.identity import Principal, Role, TenantStatus
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, Forbidden, NotFound, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.tenants import NewTenant, TenantChanges
from tests.unit.helpers import PASSWORD, Team, add_user, sign_in, stored_user, unique_email


async def _tenant_count(uc: UseCases, admin: Principal) -> int:
    return (await uc.tenants.list(admin, PageRequest())).total


async def test_the_current_tenant_is_the_callers(uc: UseCases, team: Team) -> None:
    view = await uc.tenants.current(team.member)

    assert view.id == team.tenant_id
    assert view.status is TenantStatus.ACTIVE


async def test_tenant_administration_is_for_platform_admins_only(uc: UseCases, team: Team) -> None:
    calls = [
        lambda: uc.tenants.list(team.owner, PageRequest()),
        lambda: uc.tenants.get(team.owner, team.tenant_id),
        lambda: uc.tenants.create(team.owner, NewTenant(name="Mine")),
        lambda: uc.tenants.update(team.owner, team.tenant_id, TenantChanges(plan="enterprise")),
        lambda: uc.tenants.suspend(team.owner, team.tenant_id),
    ]
    for call in calls:
        with pytest.raises(Forbidden) as caught:
            await call()

        assert caught.value.code == "admin_only"


async def test_a_platform_admins_key_without_the_admin_scope_is_refused(uc: UseCases, admin: Principal) -> None:
    minted = await uc.api_keys.generate(admin, NewApiKey(name="no admin"))
    key_principal = await uc.authenticate(minted.key)

    with pytest.raises(Forbidden) as caught:
        await uc.tenants.list(key_principal, PageRequest())

    assert caught.value.code == "admin_only"


async def test_create_with_a_new_owner_who_can_then_sign_in(uc: UseCases, admin: Principal) -> None:
    email = unique_email("founder")

    view = await uc.tenants.create(
        admin, NewTenant(name="Oficina do Zé", plan="pro", owner_email=email, owner_password=PASSWORD)
    )
    _, owner = await sign_in(uc, email, tenant_id=view.id)

    assert (view.name, view.slug, view.plan, view.status) == (
        "Oficina do Zé",
        "oficina-do-z",
        "pro",
        TenantStatus.ACTIVE,
    )
    assert (await uc.tenants.get(admin, view.id)) == view
    assert owner.role is Role.OWNER
    assert not owner.is_platform_admin


async def test_a_new_owner_needs_a_password(uc: UseCases, admin: Principal) -> None:
    before = await _tenant_count(uc, admin)

    with pytest.raises(Unprocessable) as caught:
        await uc.tenants.create(admin, NewTenant(name="No Password", owner_email=unique_email()))

    assert caught.value.code == "password_required"
    assert await _tenant_count(uc, admin) == before


async def test_a_weak_owner_password_is_refused(uc: UseCases, admin: Principal) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.tenants.create(admin, NewTenant(name="Weak", owner_email=unique_email(), owner_password="short"))

    assert caught.value.code == "weak_password"


async def test_an_existing_user_with_a_password_conflicts(uc: UseCases, admin: Principal, team: Team) -> None:
    before = await _tenant_count(uc, admin)

    with pytest.raises(Conflict) as caught:
        await uc.tenants.create(
            admin, NewTenant(name="Second Shop", owner_email=team.member_email, owner_password=PASSWORD)
        )

    assert caught.value.code == "user_exists"
    assert await _tenant_count(uc, admin) == before


async def test_an_existing_user_without_a_password_becomes_the_owner(
    uc: UseCases, admin: Principal, team: Team
) -> None:
    hash_before = (await stored_user(uc, team.member_email)).password_hash

    view = await uc.tenants.create(admin, NewTenant(name="Second Shop", owner_email=team.member_email))
    _, principal = await sign_in(uc, team.member_email, tenant_id=view.id)

    assert principal.role is Role.OWNER
    assert (await stored_user(uc, team.member_email)).password_hash == hash_before


async def test_a_taken_slug_conflicts(uc: UseCases, admin: Principal) -> None:
    await uc.tenants.create(admin, NewTenant(name="Bakery", slug="bakery"))

    with pytest.raises(Conflict):
        await uc.tenants.create(admin, NewTenant(name="Another Bakery", slug="bakery"))


@pytest.mark.parametrize("slug", ["Bakery", "-bakery", "bakery-", "ba_kery", "x" * 64])
async def test_a_malformed_slug_is_invalid(uc: UseCases, admin: Principal, slug: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.tenants.create(admin, NewTenant(name="Bakery", slug=slug))

    assert caught.value.code == "invalid_slug"


async def test_update_changes_the_fields_given(uc: UseCases, admin: Principal, team: Team) -> None:
    before = await uc.tenants.get(admin, team.tenant_id)

    updated = await uc.tenants.update(admin, team.tenant_id, TenantChanges(name="Padaria Nova", plan="enterprise"))

    assert (updated.name, updated.plan, updated.slug) == ("Padaria Nova", "enterprise", before.slug)
    assert await uc.tenants.get(admin, team.tenant_id) == updated


async def test_update_to_a_taken_slug_conflicts_and_changes_nothing(uc: UseCases, admin: Principal, team: Team) -> None:
    await uc.tenants.create(admin, NewTenant(name="Taken", slug="taken"))
    before = await uc.tenants.get(admin, team.tenant_id)

    with pytest.raises(Conflict):
        await uc.tenants.update(admin, team.tenant_id, TenantChanges(slug="taken", name="Renamed"))

    assert await uc.tenants.get(admin, team.tenant_id) == before


async def test_unknown_tenants_are_not_found(uc: UseCases, admin: Principal) -> None:
    with pytest.raises(NotFound):
        await uc.tenants.get(admin, "0" * 26)
    with pytest.raises(NotFound):
        await uc.tenants.update(admin, "0" * 26, TenantChanges(plan="pro"))


async def test_suspension_cuts_off_every_cached_credential_at_once(uc: UseCases, admin: Principal, team: Team) -> None:
    pair, _ = await sign_in(uc, team.member_email)
    minted = await uc.api_keys.generate(team.owner, NewApiKey(name="bot"))
    await uc.authenticate(pair.access_token)
    await uc.authenticate(minted.key)

    suspended = await uc.tenants.suspend(admin, team.tenant_id)

    assert suspended.status is TenantStatus.SUSPENDED
    for credential in (pair.access_token, minted.key):
        with pytest.raises(Forbidden) as caught:
            await uc.authenticate(credential)
        assert caught.value.code == "tenant_suspended"


async def test_suspension_leaves_other_tenants_alone(uc: UseCases, admin: Principal, team: Team) -> None:
    home = (await uc.tenants.current(admin)).id
    pair, _ = await sign_in(uc, await add_user(uc, home, Role.MEMBER))
    await uc.authenticate(pair.access_token)

    await uc.tenants.suspend(admin, team.tenant_id)

    assert (await uc.authenticate(pair.access_token)).tenant_id == home


async def test_reactivation_restores_access(uc: UseCases, admin: Principal, team: Team) -> None:
    pair, _ = await sign_in(uc, team.member_email)
    minted = await uc.api_keys.generate(team.owner, NewApiKey(name="bot"))
    await uc.tenants.suspend(admin, team.tenant_id)

    reactivated = await uc.tenants.reactivate(admin, team.tenant_id)

    assert reactivated.status is TenantStatus.ACTIVE
    assert (await uc.authenticate(pair.access_token)).tenant_id == team.tenant_id
    assert (await uc.authenticate(minted.key)).tenant_id == team.tenant_id


async def test_tenants_list_in_pages(uc: UseCases, admin: Principal) -> None:
    for n in range(3):
        await uc.tenants.create(admin, NewTenant(name=f"Shop {n}"))

    everything = await uc.tenants.list(admin, PageRequest())
    page = await uc.tenants.list(admin, PageRequest(limit=2, offset=1))

    assert everything.total == 4  # the admin's own and three more
    assert (page.total, page.limit, page.offset) == (4, 2, 1)
    assert page.items == everything.items[1:3]
