"""Per-request context that log lines and error bodies read: the request id (set by the guard)."""

from __future__ import annotations

import logging
import random
import re
from contextvars import ContextVar

from litestar.types import Scope

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


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True
