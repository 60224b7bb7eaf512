"""What crosses the proxy in each direction.

Toward the sandbox: none of the caller's credentials (Authorization, every cookie, the proxy token,
API-key headers), no hop-by-hop header (nor any the Connection header names), no client-sent
X-Forwarded-* / Forwarded / X-Real-IP; then the proxy's own X-Forwarded-For/Proto/Host/Prefix.

Toward the client: no Set-Cookie, no credentialed CORS (Access-Control-Allow-Origin and -Credentials),
no hop-by-hop header, and the sandbox's own CSP replaced by ``sandbox`` (never ``allow-same-origin``:
the content runs in an opaque origin, so it can never act on the console's), plus nosniff.

Toward the node that runs the sandbox (``to_node``, another machine's: it proxies the request as its
own): the caller's credential as received (that node checks it again and strips it before the
sandbox) and its Host (the sandbox sees the host the client addressed, not a node's), no hop-by-hop
header, no client-sent forwarding header nor hop mark; then this node's X-Forwarded-For/Proto/Host,
its request id and the hop mark (``NODE_HOP_HEADER``). Its answer comes
back through ``to_client`` too (``hop``: minus what this server adds to every response itself).
"""

from __future__ import annotations

from collections.abc import Iterable

from tesserra_core.usecases.runtime_views import NODE_HOP_HEADER, TOKEN_HEADER, ProxyTarget

Headers = list[tuple[bytes, bytes]]

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
_TO_SANDBOX_DROPPED = HOP_BY_HOP | {
    b"host",
    b"expect",
    b"authorization",
    b"cookie",
    TOKEN_HEADER.lower().encode(),
    b"x-tesserra-api-key",
    b"x-api-key",
    b"x-user-id",
    b"forwarded",
    b"x-real-ip",
    NODE_HOP_HEADER.lower().encode(),
}
_TO_NODE_DROPPED = HOP_BY_HOP | {
    b"host",
    b"expect",
    b"forwarded",
    b"x-real-ip",
    b"x-request-id",
    NODE_HOP_HEADER.lower().encode(),
}
_SERVER_OWN = frozenset({b"date", b"server", b"x-request-id"})
"""What this server adds to each of its responses: the other node's are dropped from a hop's answer."""
_WEBSOCKET_OWN = frozenset({b"sec-websocket-key", b"sec-websocket-version", b"sec-websocket-extensions"})
_TO_CLIENT_DROPPED = HOP_BY_HOP | {
    b"set-cookie",
    b"set-cookie2",
    b"access-control-allow-origin",
    b"access-control-allow-credentials",
    b"content-security-policy",
    b"content-security-policy-report-only",
    b"x-content-type-options",
}
SANDBOX_CSP = b"sandbox allow-scripts allow-forms allow-popups allow-downloads"
ADDED_TO_CLIENT: Headers = [(b"content-security-policy", SANDBOX_CSP), (b"x-content-type-options", b"nosniff")]


def _named_by_connection(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(part.strip().lower() for part in value.split(b","))
    return named


def _forwarded(
    headers: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes], websocket: bool, client: str, scheme: str
) -> Headers:
    """``headers`` (names lowered) minus ``dropped``, any the Connection header names, a WebSocket's own
    handshake headers (``websocket``) and every client-sent X-Forwarded-*; then this server's
    X-Forwarded-For, -Proto and -Host (the request's Host: the last three, in that order)."""
    host = b""
    named = False
    kept: Headers = []
    for name, value in headers:  # one pass: Host and Connection are dropped in either direction
        low = name.lower()
        if low == b"host":
            host = value
        elif low == b"connection":
            named = True
        elif low not in dropped and not low.startswith(b"x-forwarded-"):
            kept.append((low, value))
    if named or websocket:  # rare: most requests name nothing, and pay no second pass
        also = _named_by_connection(headers) | (_WEBSOCKET_OWN if websocket else frozenset())
        kept = [(name, value) for name, value in kept if name not in also]
    kept += (
        (b"x-forwarded-for", client.encode("latin-1")),
        (b"x-forwarded-proto", b"https" if scheme in ("https", "wss") else b"http"),
        (b"x-forwarded-host", host),
    )
    return kept


def to_sandbox(
    headers: Iterable[tuple[bytes, bytes]],
    target: ProxyTarget,
    *,
    client: str,
    scheme: str,
    websocket: bool = False,
) -> Headers:
    kept = _forwarded(headers, _TO_SANDBOX_DROPPED, websocket, client, scheme)
    kept.append((b"x-forwarded-prefix", target.prefix.encode("latin-1")))
    return kept


def to_node(
    headers: Iterable[tuple[bytes, bytes]],
    *,
    client: str,
    scheme: str,
    node_id: str,
    request_id: str,
    token: str | None = None,
    websocket: bool = False,
) -> Headers:
    """``headers`` for the node that runs the sandbox; ``token``: the proxy token the query carried
    (it goes in ``X-Tesserra-Proxy-Token`` when that header is not sent: this node made its one
    exchange already)."""
    kept = _forwarded(headers, _TO_NODE_DROPPED, websocket, client, scheme)
    host = kept[-1][1]
    if token is not None and not any(name == _TOKEN for name, _ in kept):  # before the forwarded three
        kept.insert(len(kept) - 3, (_TOKEN, token.encode("latin-1")))
    kept += ((b"x-request-id", request_id.encode("latin-1")), (_HOP, node_id.encode("latin-1")))
    if host:  # first, as the request's Host: the node proxies it on as the client addressed it
        kept.insert(0, (b"host", host))
    return kept


_TOKEN = TOKEN_HEADER.lower().encode()
_HOP = NODE_HOP_HEADER.lower().encode()


def to_client(headers: list[tuple[bytes, bytes]], *, hop: bool = False) -> Headers:
    """``headers`` as the sandbox sent them (names in any case); ``hop``: as the node that runs it
    answered (filtered there already, and again here)."""
    dropped = _TO_CLIENT_DROPPED | _SERVER_OWN if hop else _TO_CLIENT_DROPPED
    if any(name.lower() == b"connection" for name, _ in headers):
        dropped = dropped | _named_by_connection(headers)
    kept = [(low, value) for name, value in headers if (low := name.lower()) not in dropped]
    kept += ADDED_TO_CLIENT
    return kept
