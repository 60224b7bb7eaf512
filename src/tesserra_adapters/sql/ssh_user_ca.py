"""The Infra SSH user CA in the database (table ``ssh_user_ca``, one row), sealed by the secret box: every
node sharing the database signs with the same CA, so a host that trusts it accepts a certificate minted by
any node. Made on first use under a race-safe insert: of nodes (or workers) making it at once, the first
row wins and the others read it. A server that kept its CA in ``<data_dir>/ssh/user_ca.sealed`` before
stores that one (sealed as it was) instead of making a new one, so its hosts keep trusting it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tesserra_adapters.sql import schema as t
from tesserra_adapters.sql.limits import insert_new
from tesserra_adapters.ssh.certificates import CA_CONTEXT, AsyncsshCertificateAuthority
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.ssh_certificates import UserCa

ROW = 1


class SqlUserCa:
    def __init__(
        self,
        engine: AsyncEngine,
        box: SecretBox,
        authority: AsyncsshCertificateAuthority,
        *,
        legacy: Path | None = None,
    ) -> None:
        self._engine, self._box, self._authority, self._legacy = engine, box, authority, legacy
        self._ca: UserCa | None = None
        self._making = asyncio.Lock()

    async def load(self) -> UserCa:
        if self._ca is None:
            async with self._making:
                if self._ca is None:
                    sealed = await self._stored() or await self._store(await asyncio.to_thread(self._first))
                    self._ca = msgspec.json.decode(self._box.open(sealed, context=CA_CONTEXT), type=UserCa)
        return self._ca

    async def _stored(self) -> str | None:
        async with self._engine.connect() as conn:
            found = (await conn.execute(select(t.ssh_user_ca.c.sealed).where(t.ssh_user_ca.c.id == ROW))).scalar()
        return None if found is None else str(found)

    def _first(self) -> str:
        """The sealed CA to store: this node's former CA file if it has one, else a new CA."""
        if self._legacy is not None and self._legacy.is_file():
            return self._legacy.read_text()
        return self._box.seal(msgspec.json.encode(self._authority.new_ca()), context=CA_CONTEXT)

    async def _store(self, sealed: str) -> str:
        """Store ``sealed`` unless a CA is stored already; the CA stored either way."""
        async with self._engine.begin() as conn:
            if await insert_new(conn, t.ssh_user_ca, {"id": ROW, "sealed": sealed, "created_at": time.time()}):
                return sealed
        stored = await self._stored()
        assert stored is not None  # a row is never deleted
        return stored
