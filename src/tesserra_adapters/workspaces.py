"""Installation workspaces: ``<data_dir>/workspaces/<installation id>/``, mounted into the server.

The server may write there (as root in a container): an upload replaces a link it left with a
file (``os.replace`` renames over the link, never through it), and links count for nothing.

With an ``owner`` (the uid and gid a container workload runs as), each workspace and each uploaded
file belong to that user, so a workload that is not root reads and writes its own workspace. A
server that may not give files away (not root) opens them instead: the workspace 0777, its uploads
0644; only the data dir's own mode (0700) then keeps other users of the host out. Without an
``owner``, uploads belong to whoever owns the workspace (the process runtime's sandbox gives it to
its workload's uid)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import stat
from pathlib import Path

from tesserra_core.errors import ValidationFailed
from tesserra_core.ports.tools import StoredFile

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def workspaces_root(data_dir: Path) -> Path:
    """The directory holding every workspace: the only one whose subdirectories a container may mount."""
    return data_dir / "workspaces"


def _give(target: Path | int, owner: tuple[int, int], open_mode: int) -> None:
    """Hand a workspace path (or open file) to the workload's user, or open it to every user if the
    server may not chown."""
    try:
        if isinstance(target, int):
            os.fchown(target, *owner)
        else:
            os.chown(target, *owner, follow_symlinks=False)
    except PermissionError:
        if isinstance(target, int):
            os.fchmod(target, open_mode)
        else:
            os.chmod(target, open_mode, follow_symlinks=False)


class LocalWorkspaces:
    def __init__(self, data_dir: Path, owner: tuple[int, int] | None = None) -> None:
        self._root = workspaces_root(data_dir)
        self._owner = owner

    def _dir(self, installation_id: str) -> Path:
        if not _ID.match(installation_id):
            raise ValidationFailed("bad installation id", code="invalid_id")
        return self._root / installation_id

    def path(self, installation_id: str) -> str:
        directory = self._dir(installation_id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._owner is not None:
            _give(directory, self._owner, 0o777)
        return str(directory)

    async def save(self, installation_id: str, name: str, data: bytes, *, max_total: int) -> StoredFile:
        return await asyncio.to_thread(self._save, installation_id, name, data, max_total)

    def _save(self, installation_id: str, name: str, data: bytes, max_total: int) -> StoredFile:
        directory = Path(self.path(installation_id))
        target = directory / name
        if target.parent != directory:  # names arrive sanitized; this is the last line of defence
            raise ValidationFailed("file name is not allowed", code="invalid_file_name")
        # The server (in a container too) writes here: its links are neither followed nor counted.
        sizes = (p.lstat() for p in directory.iterdir() if p.name != name)
        used = sum(s.st_size for s in sizes if stat.S_ISREG(s.st_mode))
        if used + len(data) > max_total:
            raise ValidationFailed(
                f"the workspace would exceed {max_total} bytes ({used} in use)", code="workspace_full"
            )
        tmp = directory / f".upload-{os.getpid()}-{id(data)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        # A workspace the process runtime's sandbox gave to its workload's uid keeps its files that uid's.
        found = directory.stat()
        owner = self._owner or ((found.st_uid, found.st_gid) if found.st_uid != os.geteuid() else None)
        with os.fdopen(fd, "wb") as out:
            if owner is not None:
                _give(out.fileno(), owner, 0o644)
            out.write(data)
        os.replace(tmp, target)
        return StoredFile(name, len(data))

    async def remove(self, installation_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self._dir(installation_id), True)
