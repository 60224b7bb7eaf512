"""The warm pool: workloads made ahead of time, paused, for the templates sandboxes are created from,
so that a create whose template matches claims one instead of waiting for a cold start.

Off unless the operator sets a size (``TESSERRA_SANDBOX_POOL_SIZE``, per template). The pool learns
its templates from creates: after a create from template T (the first is cold), it keeps ``size``
paused workloads of T, for the ``templates`` templates used last, each paused once its first declared
port answers HTTP (its server started: a claim then only resumes it). A claim hands the workload to the
sandbox (the runtime's ``adopt``: its owner and tenant) and resumes it; the sandbox itself is made
exactly as a cold create makes it (tenant, user, clocks, generation 1, the same events). A pooled
workload has run no tenant's code and is claimed once: nothing of one sandbox reaches another. The
pool refills in the background; a claim that fails (the workload gone) falls back to a cold start.

A runtime whose workloads are bound to their tenant when made (``pools_per_tenant``: Docker, where a
sandbox's container is made on its tenant's own network, and moving it there at a claim costs more than
the whole claim may take) gets pools per tenant: a create of tenant X from T learns the pair (T, X),
whose workloads are made for X (on X's network) and only ever claimed by X's sandboxes. There a create
reserves its workload before its sandbox is recorded and resumes it while the row is written (it is
X's template's own command, made for X: nothing runs that would not have run in the pool); the claim
after the commit only hands it over (on Docker a rename), as the sandbox's row must exist before a
workload is its (the reconciler removes a sandbox workload whose row it cannot read). The pairs are
bounded: ``templates`` pairs in all (the least recently used dropped first), ``per_tenant`` per tenant,
and a pair no create has used for ``idle_after`` seconds is drained (its workloads removed). The pool's workloads
(owner ``pool:<this pool>:...``) are removed when the server stops, and at start those of a previous
run are removed (a server that several workers share: each removes the others' at its start; the
claims that then miss start cold).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec

from tesserra_core.domain.addresses import authority
from tesserra_core.domain.sandboxes import Sandbox, owner_of
from tesserra_core.errors import describe
from tesserra_core.ports.health import HttpProbe
from tesserra_core.ports.runtime import ContainerRuntime, Workload, WorkloadSpec

log = logging.getLogger("tesserra.sandboxes")

POOL_OWNER = "pool:"
REFILL_ATTEMPTS = 3
"""Failed starts in a row after which a refill waits for the next claim."""
REFILL_PAUSE = 0.5
AFTER_CLAIM = 0.25
"""Seconds a refill waits after a claim: the claimed sandbox's first requests do not compete with the
making of its successor (on Docker, a container create and start: the engine and this server's CPU)."""
BETWEEN = 0.25
"""Seconds a refill waits after each workload it made ready before making the next: a create that claims
it at once (one waiting for the pool) does not compete with the next one's making."""
SWEEP_EVERY = 5.0
"""The longest between two looks for idle per-tenant pools."""


def pool_key(spec: WorkloadSpec) -> str:
    """What two sandboxes' workloads share when one may stand for the other: the spec but its owner
    and tenant."""
    neutral = msgspec.structs.replace(spec, owner="", tenant_id="")
    return hashlib.sha256(msgspec.json.encode(neutral)).hexdigest()[:24]


def _tenant_of(key: str) -> str:
    return key.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Reserved:
    """A pooled workload taken for one create before its sandbox is recorded, already being resumed
    (``waking``): the claim then only hands it over."""

    key: str
    workload_id: str
    waking: asyncio.Task[Workload]


class SandboxPool:
    def __init__(
        self,
        runtime: ContainerRuntime,
        size: int,
        instance: str,
        probe: HttpProbe,
        *,
        templates: int = 4,
        per_tenant: int = 2,
        idle_after: float = 600.0,
        warm_within: float = 10.0,
    ) -> None:
        self.runtime = runtime
        self.probe = probe
        self.warm_within = warm_within
        """How long a pooled workload may take to answer HTTP on its first declared port before it is
        paused (a server that never answers HTTP is paused after this long all the same)."""
        self.size = size
        self.templates = templates
        """How many templates (per-tenant pools: template and tenant pairs) the pool keeps workloads for."""
        self.per_tenant = per_tenant
        """Per-tenant pools: how many templates of one tenant."""
        self.idle_after = idle_after
        """Per-tenant pools: seconds without a create after which a pair's workloads are removed."""
        self._used: dict[str, float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._prefix = f"{POOL_OWNER}{instance}:"
        self._specs: OrderedDict[str, WorkloadSpec] = OrderedDict()
        self._ready: dict[str, deque[str]] = {}
        self._filling: dict[str, asyncio.Task[None]] = {}
        self._made = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0

    def _key(self, spec: WorkloadSpec) -> str:
        """The pool ``spec``'s sandbox claims from: its template's, and on a runtime that binds
        workloads to their tenant when made, its tenant's."""
        tenant = spec.tenant_id if self.runtime.pools_per_tenant else ""
        return f"{pool_key(spec)}:{tenant}"

    def ready(self, spec: WorkloadSpec) -> int:
        """How many paused workloads wait for ``spec``'s sandbox."""
        return len(self._ready.get(self._key(spec), ()))

    def reserve(self, spec: WorkloadSpec) -> Reserved | None:
        """Take a ready workload for ``spec``'s sandbox and start resuming it now, while the sandbox is
        being recorded; ``claim`` hands it over, ``release`` pauses it and puts it back. Per-tenant pools
        only: such a workload was made for this tenant, on its network, and has run nothing but the
        template's own command, so it may run before it is the sandbox's (in another runtime's pool it
        would run unclaimed). None when there is none, or on other runtimes."""
        if not self.enabled or not self.runtime.pools_per_tenant:
            return None
        key = self._key(spec)
        ready = self._ready.get(key)
        if not ready:
            return None
        workload_id = ready.popleft()
        return Reserved(key, workload_id, asyncio.create_task(self.runtime.resume(workload_id)))

    def release(self, reserved: Reserved | None) -> None:
        """A reserved workload no sandbox took (its create failed): paused again and back in its pool,
        or removed when it cannot be."""
        if reserved is None:
            return
        name = f"release:{reserved.workload_id}"
        self._filling[name] = task = asyncio.create_task(self._put_back(reserved))
        task.add_done_callback(functools.partial(self._done, name))

    async def _put_back(self, reserved: Reserved) -> None:
        try:
            await reserved.waking
            await self.runtime.pause(reserved.workload_id)
        except Exception as exc:
            log.warning("pausing pooled workload %s again failed: %s", reserved.workload_id, describe(exc))
            await self._discard(reserved.workload_id)
            return
        ready = self._ready.get(reserved.key)
        if reserved.key in self._specs and ready is not None and len(ready) < self.size:
            ready.appendleft(reserved.workload_id)
        else:
            await self._discard(reserved.workload_id)

    async def claim(self, sandbox: Sandbox, spec: WorkloadSpec, reserved: Reserved | None = None) -> Workload | None:
        """A pooled workload of ``spec``'s template, now the sandbox's and running; None when none is
        ready (the template is then learned, and the pool fills for the next create). ``reserved``: the
        one ``reserve`` took for it, tried first."""
        if not self.enabled:
            self.release(reserved)
            return None
        key = self._key(spec)
        self._learn(key, spec)
        ready = self._ready.get(key)
        claimed = None
        if reserved is not None:
            claimed = await self._take(reserved, sandbox)
        while ready and claimed is None:
            workload_id = ready.popleft()
            try:
                claimed = await self.runtime.adopt(workload_id, owner_of(sandbox.id), sandbox.tenant_id, resume=True)
            except Exception as exc:
                log.warning("claiming pooled workload %s failed, trying another: %s", workload_id, describe(exc))
                await self._discard(workload_id)
        self._fill(key, after=AFTER_CLAIM if claimed is not None else 0.0)
        return claimed

    async def _take(self, reserved: Reserved, sandbox: Sandbox) -> Workload | None:
        """Hand a reserved workload to ``sandbox`` while its resume ends (the engine is asked for the
        rename at once); None, and the workload removed, when either failed."""
        adopted, woken = await asyncio.gather(
            self.runtime.adopt(reserved.workload_id, owner_of(sandbox.id), sandbox.tenant_id),
            reserved.waking,
            return_exceptions=True,
        )
        for outcome in (adopted, woken):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, Exception):
                    raise outcome
                log.warning("claiming pooled workload %s failed: %s", reserved.workload_id, describe(outcome))
                await self._discard(reserved.workload_id)
                return None
        assert isinstance(adopted, Workload)
        assert isinstance(woken, Workload)
        return msgspec.structs.replace(adopted, state=woken.state, paused=woken.paused)

    def _learn(self, key: str, spec: WorkloadSpec) -> None:
        self._specs[key] = msgspec.structs.replace(spec, owner="", tenant_id=_tenant_of(key))
        self._specs.move_to_end(key)
        self._used[key] = asyncio.get_running_loop().time()
        tenant = _tenant_of(key)
        if tenant:
            theirs = [k for k in self._specs if _tenant_of(k) == tenant]  # least recently used first
            for old in theirs[: max(0, len(theirs) - self.per_tenant)]:
                self._drop(old)
        while len(self._specs) > self.templates:
            self._drop(next(iter(self._specs)))
        if tenant and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.create_task(self._sweep())

    def _drop(self, key: str) -> None:
        """Forget a pool and remove its waiting workloads (one being made is removed when it is)."""
        self._specs.pop(key, None)
        self._used.pop(key, None)
        for workload_id in self._ready.pop(key, deque()):
            name = f"discard:{workload_id}"
            self._filling[name] = task = asyncio.create_task(self._discard(workload_id))
            task.add_done_callback(functools.partial(self._done, name))

    def _done(self, name: str, task: asyncio.Task[None]) -> None:
        if self._filling.get(name) is task:
            del self._filling[name]

    async def _sweep(self) -> None:
        """Drain the per-tenant pools no create has used for ``idle_after`` seconds; ends with the last."""
        loop = asyncio.get_running_loop()
        while any(_tenant_of(k) for k in self._specs):
            await asyncio.sleep(max(0.05, min(self.idle_after / 4, SWEEP_EVERY)))
            now = loop.time()
            for key in [k for k in self._specs if _tenant_of(k) and now - self._used.get(k, now) >= self.idle_after]:
                log.info("draining the warm pool of tenant %s: unused for %.0f s", _tenant_of(key), self.idle_after)
                self._drop(key)

    def _fill(self, key: str, *, after: float = 0.0) -> None:
        running = self._filling.get(key)
        if running is None or running.done():
            self._filling[key] = asyncio.create_task(self._refill(key, after))

    async def _refill(self, key: str, after: float = 0.0) -> None:
        if after:
            await asyncio.sleep(after)
        failures = 0
        while key in self._specs and len(self._ready.setdefault(key, deque())) < self.size:
            self._made += 1
            spec = msgspec.structs.replace(self._specs[key], owner=f"{self._prefix}{key}:{self._made}")
            try:
                workload = await self.runtime.run(spec)
                await self._until_serving(workload)
                await self.runtime.pause(workload.id)
            except Exception as exc:
                failures += 1
                log.warning("warming a sandbox for the pool failed (%d): %s", failures, describe(exc))
                if failures >= REFILL_ATTEMPTS:
                    return  # the next claim tries again
                await asyncio.sleep(REFILL_PAUSE * failures)
                continue
            failures = 0
            if key not in self._specs:
                await self._discard(workload.id)
                continue
            ready = self._ready.setdefault(key, deque())
            ready.append(workload.id)
            if len(ready) < self.size:
                await asyncio.sleep(BETWEEN)  # a create that waited for this one is not slowed by the next

    async def _until_serving(self, workload: Workload) -> None:
        """Wait until the workload's first declared port answers HTTP (any status): paused any
        earlier, a claimed sandbox would still have its server's start-up ahead of it."""
        port = next(iter(workload.ports.values()), None)
        if port is None:
            return
        url = f"http://{authority(workload.address, port)}/"
        deadline = asyncio.get_running_loop().time() + self.warm_within
        while asyncio.get_running_loop().time() < deadline:
            if (await self.probe.get(url, within=1.0)).status_code is not None:
                return
            await asyncio.sleep(0.02)

    async def _discard(self, workload_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.runtime.remove(workload_id)

    async def clear_leftovers(self) -> int:
        """Remove pooled workloads this pool did not make (a previous run's)."""
        removed = 0
        for workload_id, workload in (await self.runtime.statuses(POOL_OWNER)).items():
            if not workload.owner.startswith(self._prefix):
                await self._discard(workload_id)
                removed += 1
        return removed

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SandboxPool]:
        if self.enabled:
            try:
                await self.clear_leftovers()
            except Exception:
                log.exception("removing a previous run's pooled sandboxes failed; continuing")
        try:
            yield self
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        tasks = list(self._filling.values()) + ([self._sweeper] if self._sweeper is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._filling.clear()
        self._sweeper = None
        self._specs.clear()
        self._used.clear()
        for ready in list(self._ready.values()):
            while ready:
                await self._discard(ready.popleft())
        if self.enabled:
            with contextlib.suppress(Exception):
                for workload_id in await self.runtime.statuses(self._prefix):
                    await self._discard(workload_id)
