"""Project files on the memory adapters: streamed in with their SHA-256, limits enforced while the
bytes arrive (nothing kept past one), names checked, tenants kept apart."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import msgspec
import pytest

from tesserra_adapters.memory.storage import MemoryFileStorage
from tesserra_core.domain.files import check_filename
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, NotFound, PayloadTooLarge, PaymentRequired, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.files import Upload
from tesserra_core.usecases.projects import NewProject
from tests.unit.conftest import make_team
from tests.unit.helpers import Team


def storage(uc: UseCases) -> MemoryFileStorage:
    found = uc.ports.file_storage
    assert isinstance(found, MemoryFileStorage)
    return found


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def project(uc: UseCases, actor: Principal) -> str:
    return (await uc.projects.create(actor, NewProject(name="loja"))).id


async def test_an_upload_is_hashed_typed_and_stored(uc: UseCases, team: Team) -> None:
    p = await project(uc, team.owner)
    view = await uc.files.upload(team.owner, p, Upload("foto.JPG", None, chunks(b"ab", b"", b"cd")))
    assert (view.name, view.size, view.content_type) == ("foto.JPG", 4, "image/jpeg")
    assert view.sha256 == hashlib.sha256(b"abcd").hexdigest()
    download = await uc.files.download(team.owner, p, view.id)
    assert b"".join([c async for c in download.chunks]) == b"abcd"
    assert download.file == view
    page = await uc.files.list(team.owner, p, PageRequest())
    assert page.items == [view]
    with pytest.raises(Conflict):
        await uc.files.upload(team.owner, p, Upload("foto.JPG", None, chunks(b"x")))
    await uc.files.delete(team.owner, p, view.id)
    assert storage(uc).objects == {}
    with pytest.raises(NotFound):
        await uc.files.download(team.owner, p, view.id)


async def test_past_the_size_limit_nothing_is_kept(uc: UseCases, team: Team) -> None:
    p = await project(uc, team.owner)
    limit = storage(uc).max_object_bytes
    store = storage(uc)
    store.max_object_bytes = 10
    try:
        with pytest.raises(PayloadTooLarge):
            await uc.files.upload(team.owner, p, Upload("a.bin", None, chunks(b"123456", b"789012")))
    finally:
        store.max_object_bytes = limit
    assert store.objects == {}
    assert not store.partial
    assert (await uc.files.list(team.owner, p, PageRequest())).total == 0


async def test_past_the_storage_quota_nothing_is_kept(uc: UseCases, team: Team) -> None:
    p = await project(uc, team.owner)
    quota = (await uc.ports.entitlements.of(team.tenant_id)).limits.storage_bytes
    assert quota is not None
    first = await uc.files.upload(team.owner, p, Upload("big.bin", None, chunks(b"x" * 1000)))
    async with uc.ports.uow() as uow:  # pretend the tenant already holds almost all of its quota
        stored = await uow.project_files.get(team.tenant_id, p, first.id)
        assert stored is not None
        await uow.project_files.delete(team.tenant_id, p, first.id)
        await uow.project_files.add(msgspec.structs.replace(stored, size=quota - 100))
        await uow.commit()
    with pytest.raises(PaymentRequired) as caught:
        await uc.files.upload(team.owner, p, Upload("more.bin", None, chunks(b"y" * 60, b"y" * 60)))
    assert "storage_bytes" in caught.value.message
    assert set(storage(uc).objects) == {f"{team.tenant_id}/{p}/{first.id}"}
    assert not storage(uc).partial
    fits = await uc.files.upload(team.owner, p, Upload("fits.bin", None, chunks(b"z" * 100)))
    assert fits.size == 100


async def test_a_failing_stream_leaves_nothing(uc: UseCases, team: Team) -> None:
    p = await project(uc, team.owner)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ValidationFailed("the client went away", code="client_disconnected")

    with pytest.raises(ValidationFailed):
        await uc.files.upload(team.owner, p, Upload("a.bin", None, broken()))
    assert storage(uc).objects == {}
    assert not storage(uc).partial


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "a\\b", "..", ".", "", "nul\x00", "ctl\x1b[31m", "bidi\u202e", " x", "x" * 256]
)
def test_names_are_never_paths(name: str) -> None:
    with pytest.raises(ValidationFailed):
        check_filename(name)


@pytest.mark.parametrize("name", ["relatório.pdf", "..hidden", "a..b", "%2e%2e%2f", "Ω.txt", "x" * 255])
def test_ordinary_names_pass(name: str) -> None:
    assert check_filename(name) == name


async def test_another_tenants_project_and_files_are_404(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    p = await project(uc, team.owner)
    view = await uc.files.upload(team.owner, p, Upload("a.txt", "text/plain", chunks(b"hi")))
    for call in (
        uc.files.list(other.owner, p, PageRequest()),
        uc.files.download(other.owner, p, view.id),
        uc.files.delete(other.owner, p, view.id),
        uc.files.upload(other.owner, p, Upload("b.txt", None, chunks(b"x"))),
    ):
        with pytest.raises(NotFound):
            await call
    assert len(storage(uc).objects) == 1


async def test_deleting_a_project_deletes_its_files_and_frees_the_quota(uc: UseCases, team: Team) -> None:
    p = await project(uc, team.owner)
    other = (await uc.projects.create(team.owner, NewProject(name="outro"))).id
    await uc.files.upload(team.owner, p, Upload("a.bin", None, chunks(b"a" * 100)))
    kept = await uc.files.upload(team.owner, other, Upload("b.bin", None, chunks(b"b" * 10)))
    await uc.projects.delete(team.owner, p)
    assert set(storage(uc).objects) == {f"{team.tenant_id}/{other}/{kept.id}"}
    async with uc.ports.uow(read_only=True) as uow:
        assert await uow.project_files.used_bytes(team.tenant_id) == 10
