"""Use cases on the in-memory adapter set, built by the composition root, with a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Role
from tesserra_core.facade import UseCases
from tesserra_core.usecases.tenants import NewTenant
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, FakeClock, Team, add_user, sign_in, unique_email


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="x" * 48)


@pytest.fixture
async def uc(settings: Settings, clock: FakeClock) -> AsyncIterator[UseCases]:
    # The adapters' resources (the memory runtime) live as long as the facade: released here, and
    # not whenever the garbage collector finalizes them mid-test.
    async with AsyncExitStack() as stack:
        yield await build(memory_ports(settings, stack, clock=clock), settings)


@pytest.fixture
async def admin(uc: UseCases) -> Principal:
    """The platform administrator: the first owner, signed in with a JWT."""
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    return (await sign_in(uc, ADMIN_EMAIL))[1]


@pytest.fixture
async def team(uc: UseCases, admin: Principal) -> Team:
    """A customer tenant with an owner and a member (neither a platform administrator)."""
    return await make_team(uc, admin)


async def make_team(uc: UseCases, admin: Principal) -> Team:
    owner_email = unique_email("owner")
    tenant = await uc.tenants.create(
        admin, NewTenant(name=f"Padaria {owner_email[6:16]}", owner_email=owner_email, owner_password=PASSWORD)
    )
    _, owner = await sign_in(uc, owner_email, tenant_id=tenant.id)
    member_email = await add_user(uc, tenant.id, Role.MEMBER)
    _, member = await sign_in(uc, member_email, tenant_id=tenant.id)
    return Team(tenant_id=tenant.id, owner=owner, member=member, owner_email=owner_email, member_email=member_email)
