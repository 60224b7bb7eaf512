"""/api/runtime: a sandbox's runtime configuration, its proxy tokens (minted, revoked) and the check
every proxied request passes (``OpenProxy``), which names the upstream from stored state only.

A proxy token names one sandbox of one tenant, its lifecycle generation, its revocation epoch, a set
of its declared ports, an expiry and an id, signed by the server. On every use it is checked against
the sandbox as stored: a restart, re-create or delete (the generation moves on) or a revocation (the
epoch moves on) ends every earlier token. Nothing is cached by token; the sandbox as stored is read
at most every half second per worker (``SandboxReads``: a change this worker makes is seen at once,
another worker's within that half second, as the watch of open connections sees it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

import msgspec

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.sandboxes import Sandbox, SandboxState
from tesserra_core.errors import Conflict, Forbidden, NotFound, Unauthenticated, Unprocessable, UpstreamFailed
from tesserra_core.ports import Ports
from tesserra_core.ports.limits import IdempotencyOutcome, IdempotencyStore
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.security import ProxyClaims, ProxyTokenCodec
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.runtime_activity import ProxyActivity
from tesserra_core.usecases.runtime_views import (
    DEFAULT_TOKEN_TTL,
    MAX_TOKEN_TTL,
    PROXY_PATH,
    ProxyRevocationView,
    ProxyTarget,
    ProxyTokenRevocationView,
    ProxyTokenView,
    RuntimeConfigView,
    proxy_base,
)
from tesserra_core.usecases.runtime_watch import ProxyWatch
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle
from tesserra_core.usecases.sandbox_reads import SandboxReads
from tesserra_core.usecases.sandbox_upstream import NodeHop, UpstreamPorts
from tesserra_core.usecases.sandboxes import ATTEMPTS, sandbox_of

_TOKEN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
EXCHANGES = "sandbox-proxy-exchange"
"""The idempotency store's owner under which a query token's one exchange is recorded."""


MAX_VERIFIED = 4096
"""Verified proxy tokens a worker keeps (all dropped when full: a miss costs one signature check)."""


def _scope_error() -> Forbidden:
    return Forbidden("the proxy token does not cover this sandbox or port", code="proxy_token_scope")


def _not_hopping_again(target: ProxyTarget) -> ProxyTarget:
    if target.node_id is not None:
        raise UpstreamFailed(
            f"another node forwarded this request, but the sandbox's workload runs on node {target.node_id}",
            code="sandbox_unreachable",
        )
    return target


def _running(sandbox: Sandbox) -> None:
    if sandbox.state is not SandboxState.RUNNING:
        raise Conflict(f"the sandbox is {sandbox.state}", code=f"sandbox_{sandbox.state}")


@dataclass(frozen=True, slots=True)
class GetRuntimeConfig:
    """What a client needs to reach a sandbox: the proxy URL of each declared port, the protocols, how
    to authenticate (a proxy token from GET /api/runtime/proxy-auth/{sandboxId}, or the caller's own
    credentials), its limits, network policy, clocks and lifecycle generation. No secret."""

    scope: ClassVar[Scope] = Scope.TOOLS_READ
    uow: UnitOfWorkFactory
    site: SiteConfig

    async def __call__(self, actor: Principal, sandbox_id: str, base_url: str) -> RuntimeConfigView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            sandbox = await sandbox_of(uow, actor, sandbox_id)
        return RuntimeConfigView.of(sandbox, self.site.public_url or base_url)


@dataclass(frozen=True, slots=True)
class MintProxyToken:
    """A proxy token for one sandbox: its current lifecycle generation, ``ports`` (a subset of the
    declared ports; all of them by default: 422 port_not_declared otherwise), for ``ttl_seconds``
    (15 minutes by default, at most 24 hours) under a fresh id. Shown once. A restart, re-create or
    delete of the sandbox, or DELETE /api/runtime/proxy-auth/{sandboxId}, ends it. A deleted sandbox
    answers 409 sandbox_deleted."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    codec: ProxyTokenCodec
    ids: IdFactory
    clock: Clock
    site: SiteConfig

    async def __call__(
        self, actor: Principal, sandbox_id: str, ports: list[int] | None, ttl_seconds: int | None, base_url: str
    ) -> ProxyTokenView:
        actor.require(self.scope)
        ttl = DEFAULT_TOKEN_TTL if ttl_seconds is None else ttl_seconds
        if not 1 <= ttl <= MAX_TOKEN_TTL:
            raise Unprocessable(f"ttl_seconds must be 1-{MAX_TOKEN_TTL}", code="invalid_ttl")
        async with self.uow(read_only=True) as uow:
            sandbox = await sandbox_of(uow, actor, sandbox_id)
        if sandbox.state in (SandboxState.DELETING, SandboxState.DELETED):
            raise Conflict(f"the sandbox is {sandbox.state}", code=f"sandbox_{sandbox.state}")
        declared = sandbox.template.ports
        if not declared:
            raise Unprocessable("the sandbox declares no port to proxy", code="port_not_declared")
        chosen = tuple(sorted(set(ports))) if ports else declared
        if not set(chosen) <= set(declared):
            raise Unprocessable(f"ports must be among the declared ports {list(declared)}", code="port_not_declared")
        claims = ProxyClaims(
            token_id=self.ids.new(),
            sandbox_id=sandbox.id,
            tenant_id=sandbox.tenant_id,
            user_id=actor.user_id,
            generation=sandbox.generation,
            epoch=sandbox.proxy_epoch,
            ports=chosen,
            expires_at=self.clock.now().replace(microsecond=0) + timedelta(seconds=ttl),
        )
        return ProxyTokenView(
            token=self.codec.issue(claims),
            token_id=claims.token_id,
            sandbox_id=sandbox.id,
            generation=sandbox.generation,
            ports=list(chosen),
            expires_at=claims.expires_at,
            proxy_url=proxy_base(self.site.public_url or base_url, sandbox.id),
        )


@dataclass(frozen=True, slots=True)
class RevokeProxyTokens:
    """End every proxy token of a sandbox minted until now (its revocation epoch moves on); tokens
    minted afterwards work. Connections open through the proxy with a revoked token (streams,
    WebSockets) are cut within 2 seconds."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    clock: Clock
    reads: SandboxReads

    async def __call__(self, actor: Principal, sandbox_id: str) -> ProxyRevocationView:
        actor.require(self.scope)
        for _ in range(ATTEMPTS):
            async with self.uow() as uow:
                current = await sandbox_of(uow, actor, sandbox_id)
                now = self.clock.now()
                revoked = msgspec.structs.replace(current, proxy_epoch=current.proxy_epoch + 1).touched(now)
                if await uow.sandboxes.update(revoked, if_updated_at=current.updated_at):
                    await uow.commit()
                    self.reads.changed(current.id)
                    return ProxyRevocationView(sandbox_id=current.id, revoked_before=now)
        raise Conflict("the sandbox kept changing during the revocation; retry", code="sandbox_busy")


@dataclass(frozen=True, slots=True)
class RevokeProxyToken:
    """End one proxy token of a sandbox, named by its id (``token_id`` when it was minted); the
    sandbox's other tokens keep working. Connections open through the proxy with it (streams,
    WebSockets) are cut within 2 seconds. Revoking an id again, or one never minted, answers the same
    (no token is listed anywhere to tell). A sandbox deleting or deleted answers 409 (its tokens all
    ended with it); 409 too_many_revocations when it holds 1,000 revoked tokens that could still be
    used (revoke them all instead)."""

    scope: ClassVar[Scope] = Scope.TOOLS_WRITE
    uow: UnitOfWorkFactory
    clock: Clock
    reads: SandboxReads

    async def __call__(self, actor: Principal, sandbox_id: str, token_id: str) -> ProxyTokenRevocationView:
        actor.require(self.scope)
        if _TOKEN_ID.fullmatch(token_id) is None:
            raise Unprocessable("token_id is not a proxy token id", code="invalid_token_id")
        for _ in range(ATTEMPTS):
            async with self.uow() as uow:
                current = await sandbox_of(uow, actor, sandbox_id)
                if current.state in (SandboxState.DELETING, SandboxState.DELETED):
                    raise Conflict(f"the sandbox is {current.state}", code=f"sandbox_{current.state}")
                now = self.clock.now()
                until = now + timedelta(seconds=MAX_TOKEN_TTL)  # no token it names can live longer
                if await uow.sandboxes.update(current.revoking(token_id, until, now), if_updated_at=current.updated_at):
                    await uow.commit()
                    self.reads.changed(current.id)
                    return ProxyTokenRevocationView(sandbox_id=current.id, token_id=token_id, revoked_at=now)
        raise Conflict("the sandbox kept changing during the revocation; retry", code="sandbox_busy")


@dataclass(frozen=True, slots=True)
class OpenProxy:
    """The check every proxied request passes, with a proxy token (``once``: sent in the query, whose
        single exchange is recorded) or the caller's own credentials (tools:write): the sandbox is the
        token's or the caller's tenant's (else 404, as for a missing one), the token's generation and epoch
        are the sandbox's (401 proxy_token_revoked), it has not expired (401 proxy_token_expired), it covers
        the port (403 proxy_token_scope), the port is declared (404 port_not_declared) and the sandbox runs
        (409 sandbox_<state>). Answers where to forward: the workload's address and port as the runtime
    reports them (the host's loopback and a published port, or a container's address on its tenant's
    private network), never anything the request says; or, when the workload runs on a node on
    another machine, that node's own address (``ProxyTarget.node_id``). A request another node
    forwarded (``hop``) is never forwarded again: 502 when this node does not reach the workload."""

    reads: SandboxReads
    codec: ProxyTokenCodec
    clock: Clock
    exchanges: IdempotencyStore
    upstream: UpstreamPorts
    activity: ProxyActivity = field(compare=False)
    _verified: dict[tuple[str, str], ProxyClaims] = field(default_factory=dict, compare=False, repr=False)
    """Tokens whose signature was checked, by token AND the sandbox they were checked for (never by
    token alone: a token for A is looked up, and fails, as A's when presented for B). Only what the
    signature proves is kept; expiry, generation, epoch, revocation and port are checked on every use."""
    _opened: dict[tuple[str, int | None, str | None], tuple[Sandbox, ProxyClaims | None, ProxyTarget]] = field(
        default_factory=dict, compare=False, repr=False
    )
    """The last target answered per sandbox, port and token (None: own credentials), with the stored
    sandbox and the claims it was checked against: a request checked against the very same stored
    sandbox (the same read, ``SandboxReads``) and claims would pass the same checks to the same target
    (all of them are of those two alone, the token's expiry aside, checked before on every use)."""

    async def __call__(
        self,
        sandbox_id: str,
        port: int | None,
        *,
        token: str | None = None,
        actor: Principal | None = None,
        once: bool = False,
        hop: bool = False,
    ) -> ProxyTarget:
        claims = self._claims(token, sandbox_id) if token is not None else None
        if claims is None and actor is None:
            raise Unauthenticated("a proxy token or credentials are required", code="unauthenticated")
        if claims is None and actor is not None:
            actor.require(Scope.TOOLS_WRITE)
        tenant_id = claims.tenant_id if claims is not None else actor.tenant_id  # type: ignore[union-attr]
        sandbox = await self.reads.get(tenant_id, sandbox_id)
        if sandbox is None:
            raise NotFound("no such sandbox", code="sandbox_not_found")
        key = (sandbox_id, port, claims.token_id if claims is not None else None)
        if not once and (target := self._answered(key, sandbox, claims, hop)) is not None:
            return target
        if claims is not None and (
            (claims.generation, claims.epoch) != (sandbox.generation, sandbox.proxy_epoch)
            or sandbox.revoked(claims.token_id)
        ):
            raise Unauthenticated("the proxy token was revoked", code="proxy_token_revoked")
        declared = port if port is not None else (sandbox.template.ports or (0,))[0]
        if declared not in sandbox.template.ports:
            raise NotFound("the sandbox declares no such port", code="port_not_declared")
        if claims is not None and declared not in claims.ports:
            raise _scope_error()
        _running(sandbox)
        if claims is not None and once:
            await self._exchange_once(claims)
        upstream = await self.upstream.of(sandbox)
        if isinstance(upstream, NodeHop):
            address, host_port, node_id = upstream.host, upstream.port, upstream.node_id
        else:
            address, ports = upstream
            found, node_id = ports.get(declared), None
            if found is None:
                raise UpstreamFailed("the sandbox's port is not published", code="sandbox_unreachable")
            host_port = found
        where = sandbox_id if port is None else f"{sandbox_id}:{port}"
        target = ProxyTarget(
            sandbox_id=sandbox.id,
            tenant_id=sandbox.tenant_id,
            port=declared,
            host=address,
            host_port=host_port,
            node_id=node_id,
            prefix=f"{PROXY_PATH}/{where}",
            idle_timeout_seconds=sandbox.idle_timeout_seconds,
            generation=sandbox.generation,
            epoch=sandbox.proxy_epoch,
            token_id=claims.token_id if claims is not None else None,
        )
        if len(self._opened) >= MAX_VERIFIED:
            self._opened.clear()
        self._opened[key] = (sandbox, claims, target)
        return _not_hopping_again(target) if hop else target

    def held(self, sandbox_id: str, port: int | None, token: str) -> ProxyTarget | None:
        """What ``__call__`` answers a request with ``token`` (sent in a header or cookie; not another
        node's hop), without waiting: when this worker answered the same sandbox, port and token
        against the very read of the sandbox it still holds (``SandboxReads.held``). None when it must
        be checked in full. Raises as ``__call__`` does for the token itself (another sandbox's, expired)."""
        claims = self._claims(token, sandbox_id)
        sandbox = self.reads.held(claims.tenant_id, sandbox_id)
        if sandbox is None:
            return None
        return self._answered((sandbox_id, port, claims.token_id), sandbox, claims, hop=False)

    def _answered(
        self, key: tuple[str, int | None, str | None], sandbox: Sandbox, claims: ProxyClaims | None, hop: bool
    ) -> ProxyTarget | None:
        opened = self._opened.get(key)
        if opened is None or opened[0] is not sandbox or opened[1] is not claims:
            return None
        return _not_hopping_again(opened[2]) if hop else opened[2]

    def _claims(self, token: str, sandbox_id: str) -> ProxyClaims:
        key = (token, sandbox_id)
        claims = self._verified.get(key)
        if claims is None:
            claims = self.codec.decode(token)
            if claims.sandbox_id != sandbox_id:
                raise _scope_error()
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[key] = claims
        if claims.sandbox_id != sandbox_id:  # a second lock: never reached through the key
            raise _scope_error()
        if self.clock.now() >= claims.expires_at:
            raise Unauthenticated("the proxy token has expired", code="proxy_token_expired")
        return claims

    async def _exchange_once(self, claims: ProxyClaims) -> None:
        left = (claims.expires_at - self.clock.now()).total_seconds()
        claim = await self.exchanges.claim(EXCHANGES, claims.token_id, "exchange", max(left, 1.0) + 60)
        if claim.outcome is not IdempotencyOutcome.STARTED:
            raise Unauthenticated(
                "this proxy token was already exchanged in a URL: send it in the X-Tesserra-Proxy-Token header",
                code="proxy_token_used",
            )


@dataclass(frozen=True, slots=True)
class Runtime:
    """/api/runtime."""

    config: GetRuntimeConfig
    mint_token: MintProxyToken
    revoke_tokens: RevokeProxyTokens
    revoke_token: RevokeProxyToken
    open: OpenProxy
    activity: ProxyActivity
    watch: ProxyWatch


def runtime(p: Ports, *, lifecycle: SandboxLifecycle) -> Runtime:
    activity = ProxyActivity(lifecycle, p.clock)
    return Runtime(
        config=GetRuntimeConfig(p.uow, p.site),
        mint_token=MintProxyToken(p.uow, p.proxy_tokens, p.ids, p.clock, p.site),
        revoke_tokens=RevokeProxyTokens(p.uow, p.clock, lifecycle.reads),
        revoke_token=RevokeProxyToken(p.uow, p.clock, lifecycle.reads),
        open=OpenProxy(lifecycle.reads, p.proxy_tokens, p.clock, p.idempotency, lifecycle.upstream, activity),
        activity=activity,
        watch=ProxyWatch(lifecycle.reads),
    )
