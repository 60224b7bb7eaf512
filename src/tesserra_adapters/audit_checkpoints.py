"""Signed audit checkpoints outside the database: files (``<dir>/<tenant id>/<seq>.json``, signed with an
Ed25519 key kept in ``<dir>/signing.key``, mode 0600), or in memory for the in-process set. Both sign and
check with ``cryptography``'s Ed25519."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tesserra_adapters.settings import make_private
from tesserra_core.domain.infra_ssh_audit import Checkpoint

_decoder = msgspec.json.Decoder(Checkpoint)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Signed:
    """Signs checkpoints with one Ed25519 key and checks them against it; the key comes from ``_load`` on
    first use (a server that never signs a checkpoint makes no key)."""

    _key: Ed25519PrivateKey | None = None

    def _load(self) -> Ed25519PrivateKey:
        raise NotImplementedError

    def _signing(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = self._load()
        return self._key

    def sign(self, checkpoint: Checkpoint) -> Checkpoint:
        return checkpoint.signed(self._signing().sign(checkpoint.payload()))

    def genuine(self, checkpoint: Checkpoint) -> bool:
        public = self._signing().public_key()
        try:
            public.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.payload())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


class MemoryAuditCheckpoints(_Signed):
    def __init__(self) -> None:
        self.kept: dict[str, list[Checkpoint]] = {}

    def _load(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.generate()

    async def keep(self, checkpoint: Checkpoint) -> Checkpoint:
        signed = self.sign(checkpoint)
        self.kept.setdefault(checkpoint.tenant_id, []).append(signed)
        return signed

    async def of_tenant(self, tenant_id: str) -> list[Checkpoint]:
        return sorted(self.kept.get(tenant_id, []), key=lambda c: c.seq)

    async def last_seq(self, tenant_id: str) -> int:
        return max((c.seq for c in self.kept.get(tenant_id, [])), default=0)


def _signing_key(path: Path) -> Ed25519PrivateKey:
    """The key at ``path``, made (0600) on first use."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)  # whole or not at all; of two workers making one at once, the first wins
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return loaded


class FileAuditCheckpoints(_Signed):
    def __init__(self, directory: Path) -> None:
        self._dir = directory

    def _load(self) -> Ed25519PrivateKey:
        make_private(self._dir, directory=True)
        return _signing_key(self._dir / "signing.key")

    def _tenant_dir(self, tenant_id: str) -> Path:
        if not tenant_id or "/" in tenant_id or tenant_id.startswith("."):
            raise ValueError(f"not a tenant id: {tenant_id!r}")
        return self._dir / tenant_id

    async def keep(self, checkpoint: Checkpoint) -> Checkpoint:
        signed = self.sign(checkpoint)
        await asyncio.to_thread(self._write, signed)
        return signed

    def _write(self, checkpoint: Checkpoint) -> None:
        where = self._tenant_dir(checkpoint.tenant_id)  # under the directory _load made private
        make_private(where, directory=True)
        fd, tmp = tempfile.mkstemp(dir=where, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(checkpoint))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, where / f"{checkpoint.seq:012d}.json")

    async def of_tenant(self, tenant_id: str) -> list[Checkpoint]:
        return await asyncio.to_thread(self._read, tenant_id)

    def _read(self, tenant_id: str) -> list[Checkpoint]:
        where = self._tenant_dir(tenant_id)
        if not where.is_dir():
            return []
        found = []
        for path in sorted(where.glob("*.json")):
            try:
                found.append(_decoder.decode(path.read_bytes()))
            except msgspec.DecodeError:  # unreadable: as bad as a forged one, and named so
                seq = int(path.stem) if path.stem.isdigit() else 0
                found.append(Checkpoint(tenant_id=tenant_id, seq=seq, head_hash="", at=_EPOCH, signature=""))
        return sorted(found, key=lambda c: c.seq)

    async def last_seq(self, tenant_id: str) -> int:
        where = self._tenant_dir(tenant_id)
        seqs = [int(p.stem) for p in where.glob("*.json") if p.stem.isdigit()] if where.is_dir() else []
        return max(seqs, default=0)
