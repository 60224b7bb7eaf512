"""What the runtime use cases show: a minted proxy token, a sandbox's runtime configuration (no
secret), a revocation, and what the proxy forwards to (``ProxyTarget``, for the driver only)."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tesserra_core.domain.sandboxes import OnIdle, OnTtl, Sandbox, SandboxState
from tesserra_core.usecases.views import View

PROXY_PATH = "/api/runtime/proxy"
TOKEN_HEADER = "X-Tesserra-Proxy-Token"
"""Where programs send a proxy token."""
TOKEN_QUERY = "tesserra_proxy_token"
"""Where a browser or a WebSocket client sends it once (exchanged for the cookie)."""
TOKEN_COOKIE = "tesserra_proxy"
"""The HttpOnly cookie a query token is exchanged for, scoped to the sandbox's proxy path."""
DEFAULT_TOKEN_TTL = 15 * 60
MAX_TOKEN_TTL = 24 * 3600


def proxy_base(base_url: str, sandbox_id: str, port: int | None = None) -> str:
    """The URL a sandbox's (first, or ``port``) declared port is proxied at, ending with a slash."""
    where = sandbox_id if port is None else f"{sandbox_id}:{port}"
    return f"{base_url.rstrip('/')}{PROXY_PATH}/{where}/"


class ProxyTokenView(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    """Send it as ``X-Tesserra-Proxy-Token``; or once as ``?tesserra_proxy_token=`` (browsers,
    WebSockets): the proxy answers 303 to the same URL without it and sets an HttpOnly cookie scoped to
    that proxy path. It is never shown again."""
    token_id: str
    sandbox_id: str
    generation: int
    """The sandbox's lifecycle generation it is bound to: a restart, re-create or delete ends it."""
    ports: list[int]
    expires_at: datetime
    header: str = TOKEN_HEADER
    query_parameter: str = TOKEN_QUERY
    proxy_url: str
    """The first declared port's proxy URL; another port ``p`` is at ``.../{sandboxId}:p/``."""


class ProxyRevocationView(msgspec.Struct, frozen=True, kw_only=True):
    sandbox_id: str
    revoked_before: datetime
    """Every proxy token of the sandbox minted before this instant no longer works."""


class ProxyTokenRevocationView(msgspec.Struct, frozen=True, kw_only=True):
    sandbox_id: str
    token_id: str
    revoked_at: datetime
    """The token with this id no longer works, nor does any connection opened with it (they are cut
    within 2 seconds); the sandbox's other tokens are unaffected."""


class PortView(msgspec.Struct, frozen=True, kw_only=True):
    port: int
    url: str
    protocols: list[str]


class ProxyAuthInfo(msgspec.Struct, frozen=True, kw_only=True):
    token_endpoint: str
    header: str = TOKEN_HEADER
    query_parameter: str = TOKEN_QUERY
    cookie: str = TOKEN_COOKIE
    default_ttl_seconds: int = DEFAULT_TOKEN_TTL
    max_ttl_seconds: int = MAX_TOKEN_TTL


class LimitsView(msgspec.Struct, frozen=True, kw_only=True):
    memory_mb: int | None
    cpus: float | None


class NetworkView(msgspec.Struct, frozen=True, kw_only=True):
    egress: bool
    """Whether the sandbox may reach the network beyond its declared ports."""
    inbound: str = "proxy"
    """Its declared ports are reachable only through this proxy."""


class ClocksView(View[Sandbox], frozen=True):
    ttl_seconds: int
    on_ttl: OnTtl
    expires_at: datetime
    idle_timeout_seconds: int | None
    on_idle: OnIdle
    idle_expires_at: datetime | None
    last_activity_at: datetime


class RuntimeConfigView(msgspec.Struct, frozen=True, kw_only=True):
    sandbox_id: str
    state: SandboxState
    generation: int
    proxy_url: str
    """The first declared port's proxy URL (``.../{sandboxId}/``)."""
    protocol: str = "http"
    """HTTP/1.1 (every method, streamed both ways) and WebSocket upgrades."""
    ports: list[PortView]
    auth: ProxyAuthInfo
    limits: LimitsView
    network: NetworkView
    clocks: ClocksView

    @classmethod
    def of(cls, sandbox: Sandbox, base_url: str) -> RuntimeConfigView:
        t = sandbox.template
        return cls(
            sandbox_id=sandbox.id,
            state=sandbox.state,
            generation=sandbox.generation,
            proxy_url=proxy_base(base_url, sandbox.id),
            ports=[
                PortView(port=p, url=proxy_base(base_url, sandbox.id, p), protocols=["http", "ws"]) for p in t.ports
            ],
            auth=ProxyAuthInfo(token_endpoint=f"{base_url.rstrip('/')}/api/runtime/proxy-auth/{sandbox.id}"),
            limits=LimitsView(memory_mb=t.memory_mb, cpus=t.cpus),
            network=NetworkView(egress=t.network),
            clocks=ClocksView.of(sandbox),
        )


NODE_HOP_HEADER = "X-Tesserra-Node-Hop"
"""Marks a proxied request another node forwarded (its value: that node's id): the node receiving it
proxies it only to a workload it reaches itself, never on to a third node."""


class ProxyTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where a proxied request goes: taken from the stored sandbox and the runtime, never the request."""

    sandbox_id: str
    tenant_id: str
    port: int
    """The declared port."""
    host: str
    host_port: int
    prefix: str
    """The proxy path the sandbox is reached under (``/api/runtime/proxy/{id}`` or ``...{id}:{port}``)."""
    idle_timeout_seconds: int | None
    generation: int = 0
    """The sandbox's lifecycle generation when the request was let in."""
    epoch: int = 0
    """Its proxy revocation epoch then."""
    token_id: str | None = None
    """The proxy token that let it in (None: the caller's own credentials)."""
    node_id: str | None = None
    """Set: the sandbox's workload runs on this node, on another machine, and ``host``:``host_port``
    is that node's own HTTP server: the request goes there as received (its whole proxy path, with
    the caller's credential, which that node checks again), marked as a hop (``NODE_HOP_HEADER``)."""
