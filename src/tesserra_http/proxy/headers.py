"""What crosses the proxy in each direction.

Toward the sandbox: none of the caller's credentials (Authorization, every cookie, the proxy token,
API-key headers), no hop-by-hop header (nor any the Connection header names), no client-sent
X-Forwarded-* / Forwarded / X-Real-IP; then the proxy's own X-Forwarded-For/Proto/Host/Prefix.

Toward the client: no Set-Cookie, no credentialed CORS (Access-Control-Allow-Origin and -Credentials),
no hop-by-hop header, and the sandbox's own CSP replaced by ``sandbox`` (never ``allow-same-origin``:
the content runs in an opaque origin, so it can never act on the console's), plus nosniff.
"""

from __future__ import annotations

from collections.abc import Iterable

from tesserra_core.usecases.runtime_views import TOKEN_HEADER, ProxyTarget

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
}
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


def to_sandbox(
    headers: Iterable[tuple[bytes, bytes]],
    target: ProxyTarget,
    *,
    client: str,
    scheme: str,
    websocket: bool = False,
) -> list[tuple[str, str]]:
    headers = list(headers)
    dropped = _TO_SANDBOX_DROPPED | _named_by_connection(headers) | (_WEBSOCKET_OWN if websocket else frozenset())
    kept = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in headers
        if (low := name.lower()) not in dropped and not low.startswith(b"x-forwarded-")
    ]
    host = next((value for name, value in headers if name.lower() == b"host"), b"").decode("latin-1")
    kept += [
        ("X-Forwarded-For", client),
        ("X-Forwarded-Proto", "https" if scheme in ("https", "wss") else "http"),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Prefix", target.prefix),
    ]
    return kept


def to_client(headers: Iterable[tuple[bytes, bytes]]) -> Headers:
    headers = list(headers)
    dropped = _TO_CLIENT_DROPPED | _named_by_connection(headers)
    return [(name.lower(), value) for name, value in headers if name.lower() not in dropped] + ADDED_TO_CLIENT
