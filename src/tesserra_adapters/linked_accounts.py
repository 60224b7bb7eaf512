"""The shared-tools OAuth seam, until that subsystem supplies users' tokens."""

from __future__ import annotations


class NoLinkedAccounts:
    """No user has linked any account: entries that need one wait in ``needs_auth``."""

    async def access_token(self, tenant_id: str, user_id: str, provider: str) -> str | None:
        return None
