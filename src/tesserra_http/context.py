"""Per-request context that log lines and error bodies read: the request id."""

from __future__ import annotations

import logging
import random
import re
from contextvars import ContextVar

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

_random = random.Random()  # noqa: S311 - request ids label traces; they guard nothing
request_id_var: ContextVar[str | None] = ContextVar("tesserra_request_id", default=None)

_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def incoming_request_id(scope: Scope) -> str:
    """The caller's X-Request-Id if well formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
            break
    return new_request_id()


def new_request_id() -> str:
    """128 random bits as 32 hex characters. A request id is a trace label, not a secret: the
    non-cryptographic generator spares a getrandom() system call on every request."""
    return f"{_random.getrandbits(128):032x}"


RESPONSE_HEADERS = "tesserra.response_headers"
"""Headers that inner layers (e.g. rate limits) add to this request's response, in the ASGI scope."""


class RequestIdMiddleware:
    """Echoes a well-formed X-Request-Id or generates one; every log line and error body carries it.
    Its send wrapper is the one that also adds whatever inner layers put in ``RESPONSE_HEADERS``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        token = request_id_var.set(request_id)
        added = scope[RESPONSE_HEADERS] = [(b"x-request-id", request_id.encode())]  # type: ignore[literal-required]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True
