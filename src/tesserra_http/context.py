"""Per-request context that log lines and error bodies read: the request id and the request's scope
(its route template and, once authenticated, its principal), both set by the guard."""

from __future__ import annotations

import logging
import os
import random
import re
from contextvars import ContextVar
from typing import Any

from litestar.types import Scope

_random = random.Random()  # noqa: S311 - request ids label traces; they guard nothing
# Forked workers would otherwise share the generator's state, and so hand out the same ids.
os.register_at_fork(after_in_child=_random.seed)
request_id_var: ContextVar[str | None] = ContextVar("tesserra_request_id", default=None)
request_scope_var: ContextVar[Scope | None] = ContextVar("tesserra_request_scope", default=None)

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
    """Gives each record the request's id, route template, tenant and principal (where a record names
    its own, as an access line does, those stay)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = record.__dict__
        if "request_id" not in fields:
            record.request_id = request_id_var.get() or "-"
        if "route" not in fields:
            scope = request_scope_var.get()
            actor = scope.get("user") if scope is not None else None
            record.route = scope.get("path_template") if scope is not None else None
            record.tenant_id = getattr(actor, "tenant_id", None)
            record.principal_id = getattr(actor, "user_id", None)
        return True
