"""Shell-side use cases: the first owner on an empty database, and minting a key for a user."""

from __future__ import annotations

from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Role, Scope, Tier
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import NotFound
from tesserra_core.facade import UseCases
from tesserra_core.usecases.operators import KeyForUser
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, Team, sign_in, stored_user


async def test_first_owner_is_created_once_with_a_tenant(tmp_path: Path) -> None:
    async with running(Settings(data_dir=tmp_path, secret_key="x" * 48), memory=True) as uc:
        created = await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
        again = await uc.operators.ensure_first_owner("someone-else@tesserra.test", PASSWORD)

        owner = await stored_user(uc, ADMIN_EMAIL)
        async with uc.ports.uow(read_only=True) as uow:
            users = await uow.users.count()
            tenants, total = await uow.tenants.list(PageRequest())
            memberships = await uow.memberships.list_for_user(owner.id)

    assert (created, again) == (True, False)
    assert users == 1
    assert total == 1
    assert owner.is_platform_admin
    assert [(m.tenant_id, m.role) for m in memberships] == [(tenants[0].id, Role.OWNER)]


async def test_first_owner_can_sign_in_with_every_right(uc: UseCases) -> None:
    await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)

    _, principal = await sign_in(uc, ADMIN_EMAIL)

    assert principal.is_platform_admin
    assert principal.role is Role.OWNER
    assert principal.scopes == frozenset(Scope)
    assert principal.tier is Tier.ADMIN


async def test_a_minted_key_gets_at_most_the_users_rights(uc: UseCases, team: Team) -> None:
    minted = await uc.operators.mint_key_for_user(KeyForUser(email=team.member_email, name="ci"))

    principal = await uc.authenticate(minted.key)

    assert principal.user_id == team.member.user_id
    assert principal.tenant_id == team.tenant_id
    assert principal.scopes == team.member.scopes
    assert principal.tier is Tier.STANDARD


async def test_minting_for_an_unknown_user_is_not_found(uc: UseCases) -> None:
    with pytest.raises(NotFound):
        await uc.operators.mint_key_for_user(KeyForUser(email="ghost@example.com", name="ci"))
