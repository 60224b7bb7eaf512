"""Project files: the repository of their metadata (reached through the UnitOfWork), and the storage
where their bytes live (the shared database or a local directory, memory in tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tesserra_core.domain.files import ProjectFile
from tesserra_core.domain.paging import PageRequest


class StoredObjectWriter(Protocol):
    """One object being written. Nothing is visible under its key until ``commit``."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> None:
        """Publish the object under its key (atomically: whole or not at all)."""
        ...

    async def abort(self) -> None:
        """Throw away what was written. Safe to call after ``commit`` failed, or twice."""
        ...


class FileStorage(Protocol):
    max_object_bytes: int
    """The largest object one upload may store."""

    async def writer(self, key: str) -> StoredObjectWriter:
        """Start writing the object ``key`` (a platform-made path of ids, ``a/b/c``)."""
        ...

    def read(self, key: str, chunk_size: int = 65536) -> AsyncIterator[bytes]:
        """The object's bytes in chunks. Raises ``NotFound`` if there is no such object."""
        ...

    async def delete(self, key: str) -> bool:
        """True if it existed."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def purge_abandoned(self, older_than: float) -> int:
        """Drop what uploads left unfinished (their process died before commit or abort) and not written
        to for ``older_than`` seconds; how many pieces (partial files, chunks) went."""
        ...


class ProjectFileRepository(Protocol):
    async def add(self, file: ProjectFile) -> None:
        """Raises ``Conflict`` if the project already holds a file of that name."""
        ...

    async def get(self, tenant_id: str, project_id: str, file_id: str) -> ProjectFile | None: ...

    async def get_by_name(self, tenant_id: str, project_id: str, name: str) -> ProjectFile | None: ...

    async def used_bytes(self, tenant_id: str) -> int:
        """The size of every file of the tenant, summed."""
        ...

    async def delete(self, tenant_id: str, project_id: str, file_id: str) -> bool: ...

    async def delete_project(self, tenant_id: str, project_id: str) -> list[str]:
        """Forget every file of a project (deleted with it); the storage keys to delete afterwards."""
        ...

    async def list(self, tenant_id: str, project_id: str, page: PageRequest) -> tuple[list[ProjectFile], int]:
        """A page by name, and the total."""
        ...
