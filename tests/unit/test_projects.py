"""Project use cases on the memory adapters: CRUD, filters, tenancy, scopes, and plan quotas."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from tesserra_adapters.bootstrap import build, memory_ports
from tesserra_adapters.plans import FixedEntitlements
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Principal, Role
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.domain.projects import ProjectFilter, ProjectStatus
from tesserra_core.errors import Conflict, Forbidden, NotFound, PaymentRequired, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.projects import NewProject, ProjectChanges
from tests.unit.conftest import make_team
from tests.unit.helpers import ADMIN_EMAIL, PASSWORD, Team, add_user, sign_in

ALL = ProjectFilter()


async def test_create_list_get_update_delete(uc: UseCases, team: Team) -> None:
    a = await uc.projects.create(team.owner, NewProject(name=" Loja ", description="shop"))
    b = await uc.projects.create(team.member, NewProject(name="Blog"))
    assert a.name == "Loja"
    page = await uc.projects.list(team.member, PageRequest(), ALL)
    assert [p.id for p in page.items] == [b.id, a.id]
    assert page.total == 2
    assert await uc.projects.get(team.member, a.id) == a
    changed = await uc.projects.update(team.owner, a.id, ProjectChanges(status=ProjectStatus.ARCHIVED))
    assert changed.status is ProjectStatus.ARCHIVED
    assert changed.name == "Loja"
    archived = await uc.projects.list(team.owner, PageRequest(), ProjectFilter(status=ProjectStatus.ARCHIVED))
    assert [p.id for p in archived.items] == [a.id]
    assert [p.id for p in (await uc.projects.list(team.owner, PageRequest(), ProjectFilter(name="LOG"))).items] == [
        b.id
    ]
    await uc.projects.delete(team.owner, a.id)
    with pytest.raises(NotFound):
        await uc.projects.get(team.owner, a.id)


async def test_another_tenants_project_is_not_found_for_every_use_case(
    uc: UseCases, team: Team, admin: Principal
) -> None:
    other = await make_team(uc, admin)
    mine = await uc.projects.create(team.owner, NewProject(name="Mine"))
    with pytest.raises(NotFound):
        await uc.projects.get(other.owner, mine.id)
    with pytest.raises(NotFound):
        await uc.projects.update(other.owner, mine.id, ProjectChanges(name="Theirs"))
    with pytest.raises(NotFound):
        await uc.projects.delete(other.owner, mine.id)
    assert (await uc.projects.list(other.owner, PageRequest(), ALL)).total == 0
    assert await uc.projects.get(team.owner, mine.id) == mine


async def test_viewers_read_but_do_not_write(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.VIEWER)
    _, viewer = await sign_in(uc, email, tenant_id=team.tenant_id)
    p = await uc.projects.create(team.owner, NewProject(name="Seen"))
    assert (await uc.projects.get(viewer, p.id)).name == "Seen"
    with pytest.raises(Forbidden):
        await uc.projects.create(viewer, NewProject(name="Nope"))
    with pytest.raises(Forbidden):
        await uc.projects.update(viewer, p.id, ProjectChanges(name="Nope"))
    with pytest.raises(Forbidden):
        await uc.projects.delete(viewer, p.id)


async def test_names_are_validated_and_unique_ignoring_case(uc: UseCases, team: Team) -> None:
    with pytest.raises(ValidationFailed):
        await uc.projects.create(team.owner, NewProject(name=" "))
    with pytest.raises(ValidationFailed):
        await uc.projects.create(team.owner, NewProject(name="a\nb"))
    with pytest.raises(ValidationFailed):
        await uc.projects.create(team.owner, NewProject(name="ok", description="x" * 2001))
    await uc.projects.create(team.owner, NewProject(name="Loja"))
    with pytest.raises(Conflict):
        await uc.projects.create(team.owner, NewProject(name="LOJA"))


async def test_the_free_plan_quota_is_402_and_concurrent_creates_never_pass_it(uc: UseCases, team: Team) -> None:
    results = await asyncio.gather(
        *(uc.projects.create(team.owner, NewProject(name=f"p{i}")) for i in range(6)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, PaymentRequired)]
    assert len(refused) == 3
    assert all(r.code == "subscription_required" and "projects" in r.message for r in refused)
    assert (await uc.projects.list(team.owner, PageRequest(), ALL)).total == 3


async def test_a_subscribed_plan_past_its_quota_is_quota_exceeded(
    settings: Settings, exit_stack: AsyncExitStack
) -> None:
    entitlements = FixedEntitlements(PlanLimits(projects=1), plan="pro", subscribed=True)
    uc = await build(memory_ports(settings, exit_stack, entitlements=entitlements), settings)
    assert await uc.operators.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    team = await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])
    await uc.projects.create(team.owner, NewProject(name="only"))
    with pytest.raises(PaymentRequired) as caught:
        await uc.projects.create(team.owner, NewProject(name="second"))
    assert caught.value.code == "quota_exceeded"
    assert "quota projects exceeded: plan pro allows 1" in caught.value.message
