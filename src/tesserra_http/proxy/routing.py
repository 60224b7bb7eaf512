"""Where a proxied request goes inside its sandbox, read from the raw request target only:
``/api/runtime/proxy/{sandboxId}/{path}`` (the first declared port) or ``/api/runtime/proxy/{sandboxId}:{port}/{path}``.
The sandbox id and port come from the first segment (strictly: anything else is the 404 of a missing
sandbox); the path is forwarded as received, except that a dot segment (``.``, ``..``, encoded or
not) or an encoded NUL is refused (400 ``invalid_path``); the proxy token is taken out of the query."""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from tesserra_core.errors import NotFound, ValidationFailed
from tesserra_core.usecases.runtime_views import PROXY_PATH, TOKEN_QUERY

PREFIX = f"{PROXY_PATH}/".encode()
_WHERE = re.compile(rb"([0-9A-Za-z_-]{1,64})(?::([0-9]{1,5}))?")
_TOKEN_KEY = TOKEN_QUERY.encode()
_TOKEN_KEY_RE = re.compile(re.escape(_TOKEN_KEY))


class Route:
    __slots__ = ("path", "port", "query", "sandbox_id", "token")

    def __init__(self, sandbox_id: str, port: int | None, path: bytes, query: bytes, token: str | None) -> None:
        self.sandbox_id = sandbox_id
        self.port = port
        self.path = path
        self.query = query
        self.token = token
        """The proxy token sent in the query (once, to be exchanged), if any."""

    @property
    def target(self) -> str:
        """The request target toward the sandbox (origin-form)."""
        raw = self.path + (b"?" + self.query if self.query else b"")
        return raw.decode("latin-1")


def _missing() -> NotFound:
    return NotFound("no such sandbox", code="sandbox_not_found")


def route(raw_path: bytes, query_string: bytes) -> Route:
    if not raw_path.startswith(PREFIX):
        raise _missing()
    where, _, tail = raw_path[len(PREFIX) :].partition(b"/")
    found = _WHERE.fullmatch(where)
    if found is None:
        raise _missing()
    port = int(found.group(2)) if found.group(2) is not None else None
    if port is not None and not 1 <= port <= 65535:
        raise _missing()
    path = b"/" + tail
    if b"/." in path or b"%" in path or b"\\" in path or b"\0" in path:  # else no dot segment nor NUL
        decoded = unquote_to_bytes(path)
        if b"\0" in decoded or any(seg in (b".", b"..") for seg in decoded.replace(b"\\", b"/").split(b"/")):
            raise ValidationFailed("the path may not hold dot segments nor NUL", code="invalid_path")
    query, token = _without_token(query_string)
    return Route(found.group(1).decode(), port, path, query, token)


def _without_token(query_string: bytes) -> tuple[bytes, str | None]:
    # The plain query holds the key unless escaped; a compiled literal finds it many times faster
    # than ``bytes.__contains__`` in a long query (which a proxied request may carry on each call).
    if _TOKEN_KEY_RE.search(query_string) is None and (
        b"%" not in query_string or _TOKEN_KEY not in unquote_to_bytes(query_string)
    ):
        return query_string, None
    kept, token = [], None
    for item in query_string.split(b"&"):
        key, _, value = item.partition(b"=")
        if unquote_to_bytes(key.replace(b"+", b" ")) == _TOKEN_KEY:
            token = unquote_to_bytes(value).decode("latin-1")
        else:
            kept.append(item)
    return b"&".join(kept), token
