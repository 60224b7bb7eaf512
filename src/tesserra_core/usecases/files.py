"""Project files: streamed in with their checksum and the tenant's storage quota enforced as the
bytes arrive, listed, streamed out, deleted."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from tesserra_core.domain.files import DEFAULT_CONTENT_TYPE, ProjectFile, check_content_type, check_filename
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.domain.plans import Entitlement
from tesserra_core.errors import Conflict, NotFound, PayloadTooLarge, found
from tesserra_core.ports import Ports
from tesserra_core.ports.files import FileStorage, StoredObjectWriter
from tesserra_core.ports.persistence import UnitOfWork, UnitOfWorkFactory
from tesserra_core.ports.plans import Entitlements
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.projects import project_of
from tesserra_core.usecases.views import View


class ProjectFileView(View[ProjectFile], frozen=True):
    id: str
    project_id: str
    name: str
    size: int
    sha256: str
    content_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Upload:
    """A file on its way in: its name, its declared type, and its bytes as they arrive."""

    filename: str
    content_type: str | None
    chunks: AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class Download:
    file: ProjectFileView
    chunks: AsyncIterator[bytes]


def _content_type(declared: str | None, name: str) -> str:
    kind = check_content_type(declared)
    if kind is None or kind == DEFAULT_CONTENT_TYPE:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        kind = check_content_type(guessed) or kind
    return kind or DEFAULT_CONTENT_TYPE


@dataclass(frozen=True, slots=True)
class UploadProjectFile:
    """Store a file in a project, streamed to storage with its SHA-256. Past the per-file limit
    (``file_too_large``) or the plan's ``storage_bytes`` nothing is kept; a name the project already holds is
    refused (``file_exists``)."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    storage: FileStorage
    entitlements: Entitlements
    ids: IdFactory
    clock: Clock

    async def __call__(self, actor: Principal, project_id: str, upload: Upload) -> ProjectFileView:
        actor.require(self.scope)
        name = check_filename(upload.filename)
        content_type = _content_type(upload.content_type, name)
        entitlement = await self.entitlements.of(actor.tenant_id)
        async with self.uow(read_only=True) as uow:
            await project_of(uow, actor, project_id)
            if await uow.project_files.get_by_name(actor.tenant_id, project_id, name) is not None:
                raise Conflict(f"filename: the project already holds a file named {name!r}", code="file_exists")
            used = await uow.project_files.used_bytes(actor.tenant_id)
        file_id = self.ids.new()
        key = f"{actor.tenant_id}/{project_id}/{file_id}"
        size, sha256 = await self._store(key, upload.chunks, entitlement, used)
        stored = ProjectFile(
            id=file_id,
            tenant_id=actor.tenant_id,
            project_id=project_id,
            name=name,
            size=size,
            sha256=sha256,
            content_type=content_type,
            storage_key=key,
            created_at=self.clock.now(),
        )
        try:
            async with self.uow() as uow:
                await project_of(uow, actor, project_id)
                await uow.tenants.lock(actor.tenant_id)  # the sum below holds until commit
                # Again at commit: uploads that ran side by side may have used the room together.
                entitlement.allow("storage_bytes", await uow.project_files.used_bytes(actor.tenant_id), size)
                await uow.project_files.add(stored)
                await uow.commit()
        except BaseException:
            await self.storage.delete(key)
            raise
        return ProjectFileView.of(stored)

    async def _store(
        self, key: str, chunks: AsyncIterable[bytes], entitlement: Entitlement, used: int
    ) -> tuple[int, str]:
        """Write the bytes as they come, counting and hashing; past a limit, throw them all away."""
        limit = self.storage.max_object_bytes
        quota = entitlement.limits.storage_bytes
        digest = hashlib.sha256()
        size = 0
        writer: StoredObjectWriter = await self.storage.writer(key)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(
                        f"the file is larger than the {limit} bytes one upload may store", code="file_too_large"
                    )
                if quota is not None and used + size > quota:
                    entitlement.allow("storage_bytes", used, size)
                digest.update(chunk)
                await writer.write(chunk)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return size, digest.hexdigest()


@dataclass(frozen=True, slots=True)
class ListProjectFiles:
    """A project's files, by name, with their size, type and SHA-256."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory

    async def __call__(self, actor: Principal, project_id: str, page: PageRequest) -> Page[ProjectFileView]:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await project_of(uow, actor, project_id)
            return page.answer(await uow.project_files.list(actor.tenant_id, project_id, page), ProjectFileView.of)


async def _file(uow: UnitOfWork, actor: Principal, project_id: str, file_id: str) -> ProjectFile:
    await project_of(uow, actor, project_id)
    file = await uow.project_files.get(actor.tenant_id, project_id, file_id)
    return found(file, "no such file", code="file_not_found")


@dataclass(frozen=True, slots=True)
class DownloadProjectFile:
    """A project file's bytes, streamed, with its name, type and SHA-256."""

    scope: ClassVar[Scope] = Scope.PROJECTS_READ

    uow: UnitOfWorkFactory
    storage: FileStorage

    async def __call__(self, actor: Principal, project_id: str, file_id: str) -> Download:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            file = await _file(uow, actor, project_id, file_id)
        if not await self.storage.exists(file.storage_key):
            raise NotFound("the file's content is missing", code="file_content_missing")
        return Download(ProjectFileView.of(file), self.storage.read(file.storage_key))


@dataclass(frozen=True, slots=True)
class DeleteProjectFile:
    """Delete a project file."""

    scope: ClassVar[Scope] = Scope.PROJECTS_WRITE

    uow: UnitOfWorkFactory
    storage: FileStorage

    async def __call__(self, actor: Principal, project_id: str, file_id: str) -> None:
        actor.require(self.scope)
        async with self.uow() as uow:
            file = await _file(uow, actor, project_id, file_id)
            await uow.project_files.delete(actor.tenant_id, project_id, file_id)
            await uow.commit()
        await self.storage.delete(file.storage_key)


@dataclass(frozen=True, slots=True)
class Files:
    """/api/projetos/{id}/arquivos."""

    upload: UploadProjectFile
    list: ListProjectFiles
    download: DownloadProjectFile
    delete: DeleteProjectFile


def files(p: Ports) -> Files:
    return Files(
        upload=UploadProjectFile(p.uow, p.file_storage, p.entitlements, p.ids, p.clock),
        list=ListProjectFiles(p.uow),
        download=DownloadProjectFile(p.uow, p.file_storage),
        delete=DeleteProjectFile(p.uow, p.file_storage),
    )
