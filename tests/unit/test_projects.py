"""Project use cases on the memory adapters: CRUD, filters, tenancy, scopes, and plan quotas."""

from __future__ import annotations

import asyncio

import pytest
from dependency_injector import providers

from tesserra_adapters.bootstrap import build
from tesserra_adapters.container import MemoryAdapters
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
    a = await uc.create_project(team.owner, NewProject(name=" Loja ", description="shop"))
    b = await uc.create_project(team.member, NewProject(name="Blog"))
    assert a.name == "Loja"
    page = await uc.list_projects(team.member, PageRequest(), ALL)
    assert [p.id for p in page.items] == [b.id, a.id]
    assert page.total == 2
    assert await uc.get_project(team.member, a.id) == a
    changed = await uc.update_project(team.owner, a.id, ProjectChanges(status=ProjectStatus.ARCHIVED))
    assert changed.status is ProjectStatus.ARCHIVED
    assert changed.name == "Loja"
    archived = await uc.list_projects(team.owner, PageRequest(), ProjectFilter(status=ProjectStatus.ARCHIVED))
    assert [p.id for p in archived.items] == [a.id]
    assert [p.id for p in (await uc.list_projects(team.owner, PageRequest(), ProjectFilter(name="LOG"))).items] == [
        b.id
    ]
    await uc.delete_project(team.owner, a.id)
    with pytest.raises(NotFound):
        await uc.get_project(team.owner, a.id)


async def test_another_tenants_project_is_not_found_for_every_use_case(
    uc: UseCases, team: Team, admin: Principal
) -> None:
    other = await make_team(uc, admin)
    mine = await uc.create_project(team.owner, NewProject(name="Mine"))
    with pytest.raises(NotFound):
        await uc.get_project(other.owner, mine.id)
    with pytest.raises(NotFound):
        await uc.update_project(other.owner, mine.id, ProjectChanges(name="Theirs"))
    with pytest.raises(NotFound):
        await uc.delete_project(other.owner, mine.id)
    assert (await uc.list_projects(other.owner, PageRequest(), ALL)).total == 0
    assert await uc.get_project(team.owner, mine.id) == mine


async def test_viewers_read_but_do_not_write(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.VIEWER)
    _, viewer = await sign_in(uc, email, tenant_id=team.tenant_id)
    p = await uc.create_project(team.owner, NewProject(name="Seen"))
    assert (await uc.get_project(viewer, p.id)).name == "Seen"
    with pytest.raises(Forbidden):
        await uc.create_project(viewer, NewProject(name="Nope"))
    with pytest.raises(Forbidden):
        await uc.update_project(viewer, p.id, ProjectChanges(name="Nope"))
    with pytest.raises(Forbidden):
        await uc.delete_project(viewer, p.id)


async def test_names_are_validated_and_unique_ignoring_case(uc: UseCases, team: Team) -> None:
    with pytest.raises(ValidationFailed):
        await uc.create_project(team.owner, NewProject(name=" "))
    with pytest.raises(ValidationFailed):
        await uc.create_project(team.owner, NewProject(name="a\nb"))
    with pytest.raises(ValidationFailed):
        await uc.create_project(team.owner, NewProject(name="ok", description="x" * 2001))
    await uc.create_project(team.owner, NewProject(name="Loja"))
    with pytest.raises(Conflict):
        await uc.create_project(team.owner, NewProject(name="LOJA"))


async def test_the_free_plan_quota_is_402_and_concurrent_creates_never_pass_it(uc: UseCases, team: Team) -> None:
    results = await asyncio.gather(
        *(uc.create_project(team.owner, NewProject(name=f"p{i}")) for i in range(6)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, PaymentRequired)]
    assert len(refused) == 3
    assert all(r.code == "subscription_required" and "projects" in r.message for r in refused)
    assert (await uc.list_projects(team.owner, PageRequest(), ALL)).total == 3


async def test_a_subscribed_plan_past_its_quota_is_quota_exceeded(settings: Settings) -> None:
    adapters = MemoryAdapters(settings=settings)
    adapters.entitlements.override(
        providers.Object(FixedEntitlements(PlanLimits(projects=1), plan="pro", subscribed=True))
    )
    uc = await build(adapters, settings)
    assert await uc.ensure_first_owner(ADMIN_EMAIL, PASSWORD)
    team = await make_team(uc, (await sign_in(uc, ADMIN_EMAIL))[1])
    await uc.create_project(team.owner, NewProject(name="only"))
    with pytest.raises(PaymentRequired) as caught:
        await uc.create_project(team.owner, NewProject(name="second"))
    assert caught.value.code == "quota_exceeded"
    assert "quota projects exceeded: plan pro allows 1" in caught.value.message
