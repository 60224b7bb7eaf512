"""The stored sandboxes proxied requests are checked against, read at most once per ``FRESH`` seconds
per sandbox in each worker instead of once per request (a read was most of a proxied request's cost).

A change made on this worker is seen by the next request (the use case that made it calls
``changed`` after its commit); one made on another worker, within ``FRESH``: the same bound within
which the watch of open connections (``ProxyWatch``) sees it and cuts what it let in."""

from __future__ import annotations

from tesserra_core.domain.sandboxes import Sandbox
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock
from tesserra_core.usecases.caching import Fresh, TaggedCache

FRESH = 0.5
"""Seconds a read of a sandbox answers the checks of this worker's proxied requests."""


def _tag(sandbox_id: str) -> str:
    return f"sandbox:{sandbox_id}"


class SandboxReads:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock
        self._cache: TaggedCache[Sandbox] = TaggedCache(max_entries=10_000)

    def held(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        """The tenant's sandbox as read at most ``FRESH`` seconds ago, if this worker holds such a read;
        None otherwise (``get`` reads it)."""
        return self._cache.get(f"{tenant_id} {sandbox_id}", self.clock.monotonic())

    async def get(self, tenant_id: str, sandbox_id: str) -> Sandbox | None:
        """The tenant's sandbox as stored at most ``FRESH`` seconds ago; None if it has none of that id
        (not kept: the next request reads again)."""
        now = self.clock.monotonic()
        key = f"{tenant_id} {sandbox_id}"
        kept = self._cache.get(key, now)
        if kept is not None:  # nearly every request: no read to prepare
            return kept

        async def read() -> Fresh[Sandbox]:
            async with self.uow(read_only=True) as uow:
                sandbox = await uow.sandboxes.get(tenant_id, sandbox_id)
            if sandbox is None:
                raise _Missing
            return sandbox, now + FRESH, (_tag(sandbox_id),)

        try:
            return await self._cache.fetch(key, now, read)
        except _Missing:
            return None

    def changed(self, sandbox_id: str, stored: Sandbox | None = None) -> None:
        """Called after a change to the sandbox commits: the next request reads it again, or, given
        the row just committed (``stored``), checks against it for ``FRESH`` seconds."""
        self._cache.evict(_tag(sandbox_id))
        if stored is not None:
            key = f"{stored.tenant_id} {stored.id}"
            self._cache.put(key, stored, self.clock.monotonic() + FRESH, (_tag(stored.id),))


class _Missing(Exception):
    """No such sandbox: nothing to keep."""
