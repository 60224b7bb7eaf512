"""CatalogRepository and InstallationRepository contracts: round trips, search, visibility, all-or-nothing."""

from __future__ import annotations

import msgspec
import pytest

from tesserra_core.domain.identity import Tenant, User
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import (
    CatalogEntry,
    EnvironmentVariable,
    Installation,
    InstallationStatus,
    InstallScope,
    Package,
    Remote,
    ToolInfo,
    Transport,
)
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tests.contract.entities import T0, new_id, seed_member


def entry(name: str, **fields: object) -> CatalogEntry:
    values: dict[str, object] = {
        "id": name.replace("/", "-"),
        "name": name,
        "version": "1.0",
        "description": f"{name} does things",
        "packages": (Package(registry_type="pypi", identifier="x", version="1.0"),),
    }
    values.update(fields)
    return CatalogEntry(**values)  # type: ignore[arg-type]


def installation(tenant_id: str, user_id: str, **fields: object) -> Installation:
    values: dict[str, object] = {
        "id": new_id(),
        "tenant_id": tenant_id,
        "user_id": user_id,
        "scope": InstallScope.TENANT,
        "entry_id": "a-b",
        "entry_version": "1.0",
        "config": {},
        "sealed_secrets": None,
        "secret_names": (),
        "status": InstallationStatus.INSTALLING,
        "status_reason": None,
        "tools": (),
        "workload_id": None,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(fields)
    return Installation(**values)  # type: ignore[arg-type]


async def test_catalog_round_trip_and_search(uow_factory: UnitOfWorkFactory) -> None:
    rich = entry(
        "io.x/rich",
        title="Rich Tool",
        category="developer",
        tags=("git", "100%"),
        oauth_provider="github",
        network=True,
        packages=(
            Package(
                registry_type="oci",
                identifier="ghcr.io/x/rich",
                version="2",
                transport=Transport(type="stdio"),
                environment_variables=(EnvironmentVariable(name="TOKEN", is_required=True, is_secret=True),),
            ),
        ),
        remotes=(Remote(type="streamable-http", url="https://x.example/mcp"),),
    )
    plain = entry("io.x/plain", category="web", tags=("search",), description="Finds pagesXwith things")
    async with uow_factory() as uow:
        await uow.catalog.replace([rich, plain])
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.catalog.get(rich.id) == rich
        assert await uow.catalog.get("nope") is None
        assert await uow.catalog.count() == 2
        names = lambda found: [e.name for e in found[0]]  # noqa: E731
        assert names(await uow.catalog.search(PageRequest())) == ["io.x/plain", "io.x/rich"]
        assert names(await uow.catalog.search(PageRequest(), text="RICH tool")) == ["io.x/rich"]
        assert names(await uow.catalog.search(PageRequest(), text="rich pages")) == []
        assert names(await uow.catalog.search(PageRequest(), category="web")) == ["io.x/plain"]
        assert names(await uow.catalog.search(PageRequest(), tag="git")) == ["io.x/rich"]
        assert names(await uow.catalog.search(PageRequest(), tag="gi")) == []
        assert names(await uow.catalog.search(PageRequest(), tag="100%")) == ["io.x/rich"]
        assert names(await uow.catalog.search(PageRequest(), text="%")) == ["io.x/rich"]
        assert names(await uow.catalog.search(PageRequest(), text="pages_with")) == []  # "_" is no wildcard
        assert names(await uow.catalog.search(PageRequest(), text="PAGESXWITH")) == ["io.x/plain"]
        page, total = await uow.catalog.search(PageRequest(limit=1, offset=1))
        assert ([e.name for e in page], total) == (["io.x/rich"], 2)


async def test_catalog_replace_is_all_or_nothing(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.catalog.replace([entry("io.x/one")])
        await uow.commit()
    async with uow_factory() as uow:
        await uow.catalog.replace([entry("io.x/two"), entry("io.x/three")])
        # no commit: rolled back
    async with uow_factory(read_only=True) as uow:
        assert [e.name for e in (await uow.catalog.search(PageRequest()))[0]] == ["io.x/one"]


@pytest.fixture
async def member(uow_factory: UnitOfWorkFactory) -> tuple[Tenant, User]:
    return await seed_member(uow_factory)


async def test_installation_round_trip_update_delete(
    uow_factory: UnitOfWorkFactory, member: tuple[Tenant, User]
) -> None:
    t, u = member
    i = installation(
        t.id,
        u.id,
        config={"A": "1", "B": "é"},
        sealed_secrets="v1.k.sealed",
        secret_names=("S", "T"),
        tools=(ToolInfo(name="x", description="does x", input_schema={"type": "object"}),),
    )
    async with uow_factory() as uow:
        await uow.installations.add(i)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        assert await uow.installations.get(t.id, i.id) == i
        assert await uow.installations.find(i.id) == i
        assert await uow.installations.get("other-tenant", i.id) is None
        assert await uow.installations.count(t.id) == 1
    ready = msgspec.structs.replace(
        i, status=InstallationStatus.READY, status_reason="fine", workload_id="w1", updated_at=T0.replace(year=2026)
    )
    async with uow_factory() as uow:
        assert await uow.installations.update(ready)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.get(t.id, i.id) == ready
        assert not await uow.installations.delete("other-tenant", i.id)
        assert await uow.installations.delete(t.id, i.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.find(i.id) is None
        assert not await uow.installations.update(ready)
        assert i.id not in {x.id for x in await uow.installations.all()}


async def test_installations_visible_to_a_user(uow_factory: UnitOfWorkFactory, member: tuple[Tenant, User]) -> None:
    t, u = member
    t2, u2 = await seed_member(uow_factory)
    shared = installation(t.id, u.id)
    mine = installation(t.id, u.id, scope=InstallScope.USER)
    others = installation(t.id, u2.id, scope=InstallScope.USER)
    elsewhere = installation(t2.id, u2.id)
    async with uow_factory() as uow:
        for i in (shared, mine, others, elsewhere):
            await uow.installations.add(i)
        await uow.commit()
    async with uow_factory(read_only=True) as uow:
        found, total = await uow.installations.list_visible(t.id, u.id, PageRequest())
        assert ([i.id for i in found], total) == (sorted([shared.id, mine.id], reverse=True), 2)
        found, total = await uow.installations.list_visible(t.id, u2.id, PageRequest())
        assert {i.id for i in found} == {shared.id, others.id}
        found, total = await uow.installations.list_visible(t.id, u.id, PageRequest(limit=1))
        assert (len(found), total) == (1, 2)
        assert await uow.installations.count(t.id) == 3
