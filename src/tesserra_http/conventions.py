"""What a route declares, once: its use case, auth, rate limit, idempotency, errors, and their OpenAPI story.

    @post("/keys/generate", **declare(uses=GenerateApiKey, idempotent=True, errors=(400, 403)))

The guard middleware enforces the same ``opt`` that this documents, so docs and behaviour agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    Example,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter, QueryParameter
from litestar.routes import HTTPRoute

from tesserra_core.domain.identity import Scope
from tesserra_core.domain.paging import DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET, PageRequest
from tesserra_core.usecases.contract import description_of, scope_of
from tesserra_core.usecases.guards import IDEMPOTENCY_KEY_PATTERN, MAX_IDEMPOTENCY_KEY
from tesserra_http.media import parses_json

IDEMPOTENCY_KEY = "Idempotency-Key"
_IDEMPOTENCY_KEY_RULES: dict[str, Any] = {
    "min_length": 1,
    "max_length": MAX_IDEMPOTENCY_KEY,
    "pattern": IDEMPOTENCY_KEY_PATTERN,
    "description": "Replays the first response for 24 h. Visible ASCII, no spaces at either end.",
}
IdempotencyKey = Annotated[str | None, HeaderParameter(name=IDEMPOTENCY_KEY, required=False, **_IDEMPOTENCY_KEY_RULES)]
"""The header as a handler parameter, for a handler that reads it (the guard honours it on every idempotent route)."""


@dataclass
class IdempotentOperation(Operation):
    """An operation that documents the Idempotency-Key header the guard honours (unless its handler declares it)."""

    def __post_init__(self) -> None:
        params = list(self.parameters or [])
        if not any(isinstance(p, Parameter) and p.name == IDEMPOTENCY_KEY for p in params):
            rules = _IDEMPOTENCY_KEY_RULES
            schema = Schema(
                type=OpenAPIType.STRING,
                min_length=rules["min_length"],
                max_length=rules["max_length"],
                pattern=rules["pattern"],
            )
            params.append(
                Parameter(
                    name=IDEMPOTENCY_KEY,
                    param_in="header",
                    required=False,
                    schema=schema,
                    description=rules["description"],
                )
            )
        self.parameters = params


ACTING_USER = "X-User-Id"
ACTING_USER_PATTERN = r"^[!-~](?:[ -~]{0,126}[!-~])?$"


def _acting_user_parameter() -> Parameter:
    schema = Schema(type=OpenAPIType.STRING, min_length=1, max_length=128, pattern=ACTING_USER_PATTERN)
    return Parameter(
        name=ACTING_USER,
        param_in="header",
        required=True,
        schema=schema,
        description="The person this admin-tier API key acts for (recorded in the audit). Without it: 400 "
        "user_id_required.",
    )


@dataclass
class ActingUserOperation(Operation):
    """An operation that documents the X-User-Id header its use case requires."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), _acting_user_parameter()]


@dataclass
class IdempotentActingUserOperation(IdempotentOperation):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.parameters = [*(self.parameters or []), _acting_user_parameter()]


class ErrorBody(msgspec.Struct):
    """Every failure answers this body."""

    detail: str
    success: bool
    error: str
    code: str
    request_id: str | None


_EXAMPLE_CODE = {
    400: ("invalid request: limite: Expected `int` >= 1", "validation_failed"),
    401: ("invalid API key", "invalid_api_key"),
    402: ("the tenant's plan allows no more projects", "payment_required"),
    403: ("missing scope: keys:write", "insufficient_scope"),
    404: ("no such API key", "api_key_not_found"),
    408: ("the request head did not arrive within 30 s", "request_timeout"),
    409: ("a request with this Idempotency-Key is still in progress; retry later", "idempotency_in_flight"),
    413: ("the file is larger than the 2147483648 bytes one upload may store", "payload_too_large"),
    414: ("the request URL is longer than 8192 bytes", "uri_too_long"),
    415: (
        "this route takes a JSON body (Content-Type application/json or a +json type); "
        "the request declared 'text/plain'",
        "unsupported_media_type",
    ),
    422: ("this Idempotency-Key was already used with a different request", "idempotency_key_reused"),
    429: ("rate limit exceeded: retry later", "rate_limited"),
    431: ("the request line and headers are larger than 65536 bytes", "request_headers_too_large"),
    502: ("the OAuth provider refused the token request (server_error)", "oauth_token_failed"),
    503: ("the database is unavailable", "database_unavailable"),
}

_ERROR_TEXT = {
    400: "Malformed input (the detail names the field).",
    401: "Missing, invalid, expired or revoked credentials.",
    402: "The tenant's plan or subscription does not allow this.",
    403: "Authenticated, but a scope, tier or role is missing.",
    404: "No such object for this caller (another tenant's objects look like this too).",
    408: "The request line and headers did not arrive in time (30 s by default).",
    409: "Conflicts with the current state, or an identical Idempotency-Key request is in flight.",
    413: "The body is larger than this operation accepts.",
    414: "The URL (path and query) is longer than 8 KiB, however valid each parameter is.",
    415: "The body is not declared as JSON (Content-Type application/json or a +json type).",
    422: "Semantically unacceptable, e.g. an Idempotency-Key reused with a different request.",
    429: "Rate limit exceeded or account locked; see Retry-After and X-RateLimit-*.",
    431: "The request line and headers together are larger than 64 KiB.",
    502: "A service called on the caller's behalf (e.g. an OAuth provider) failed or answered nonsense.",
    503: "A service this depends on is unavailable.",
}

SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "BearerToken": SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT or tessera_<prefix>_<secret>",
        description="An access token from POST /api/auth/login, or an API key.",
    ),
    "TesserraApiKey": SecurityScheme(type="apiKey", security_scheme_in="header", name="X-Tesserra-Api-Key"),
    "ApiKey": SecurityScheme(type="apiKey", security_scheme_in="header", name="X-API-Key"),
}
COMPONENTS = Components(security_schemes=SECURITY_SCHEMES)
_AUTHENTICATED: list[SecurityRequirement] = [{name: []} for name in SECURITY_SCHEMES]

_RULE_TEXT = {
    "login": "5 requests per 15 minutes per client IP; an account locks for 15 minutes after 5 failed logins.",
    "me": "60 requests per minute per token.",
    "console": "60 requests per minute per token.",
    "admin": "120 requests per minute per token.",
    "oauth_callback": "30 requests per minute per client IP.",
}

_SCOPE_TEXT = {Scope.ADMIN: "Scope: admin, held by platform administrators only."}


HEAD_LIMITS = frozenset({408, 414, 431})
"""What every operation may answer before routing: a head too slow, a URL over 8 KiB, a head over 64 KiB."""


def declare(
    *,
    uses: type | None = None,
    negotiates: tuple[type, ...] = (),
    public: bool = False,
    identify: bool = False,
    rate_limit: str | None = None,
    idempotent: bool = False,
    acting_user: bool = False,
    errors: tuple[int, ...] = (),
    description: str = "",
    **route: Any,
) -> dict[str, Any]:
    """Keyword arguments for a Litestar route decorator. ``uses`` is the use case the handler calls: the
    OpenAPI description is its docstring, then ``description`` (this route's own notes), then the scope
    it needs, auth, rate limit and idempotency (see ``tesserra_core.usecases.contract``). ``negotiates``:
    the use cases the handler calls instead, by the request's Accept (the same rules, another shape)."""
    # Any credential can be refused (401) or belong to a suspended tenant (403 tenant_suspended); any
    # request's head is bounded in time and size before routing (408, 414, 431: tesserra_http/protocol.py).
    statuses = set(errors) | ({429} if rate_limit else set()) | (set() if public else {401, 403}) | HEAD_LIMITS
    if idempotent:
        statuses |= {409, 422}
    notes = [text for text in (description_of(uses) if uses is not None else "", description) if text]
    scope = scope_of(uses) if uses is not None and not public else None
    if scope is not None:
        notes.append(_SCOPE_TEXT.get(scope, f"Scope: {scope.value}."))
    notes.append("Auth: none." if public else "Auth: Bearer JWT or API key (any of the documented headers).")
    if rate_limit:
        notes.append(f"Rate limit: {_RULE_TEXT[rate_limit]}")
    if idempotent:
        notes.append(
            "Idempotency: send Idempotency-Key (<= 255 chars); a retry within 24 h replays the first response "
            "with Idempotent-Replayed: true."
        )
    opt: dict[str, Any] = {"public": public, "idempotent": idempotent, "uses": uses, "negotiates": negotiates}
    if rate_limit:
        opt["rate_limit"] = rate_limit
    if identify:
        opt["identify"] = True
    if acting_user:
        notes.append(f"Needs an admin-tier API key and {ACTING_USER} (400 user_id_required without it).")
        route.setdefault("operation_class", IdempotentActingUserOperation if idempotent else ActingUserOperation)
    if idempotent:
        route.setdefault("operation_class", IdempotentOperation)
    return {
        "opt": opt,
        "security": [] if public else _AUTHENTICATED,
        "description": "\n\n".join(notes),
        "responses": {status: _error_spec(status) for status in sorted(statuses)},
        **route,
    }


def document_json_bodies(app: Litestar) -> None:
    """Every route that takes a JSON body documents the 415 the guard answers for any other type."""
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if parses_json(handler):
                    handler.responses = {**(handler.responses or {}), 415: _error_spec(415)}


def _error_spec(status: int) -> ResponseSpec:
    message, code = _EXAMPLE_CODE[status]
    body = {"detail": message, "success": False, "error": message, "code": code, "request_id": "3f2a9c0d"}
    return ResponseSpec(
        data_container=ErrorBody,
        description=_ERROR_TEXT[status],
        generate_examples=False,
        examples=[Example(summary=code, value=body)],
    )


async def provide_page(
    limite: Annotated[
        int, QueryParameter(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT}.")
    ] = DEFAULT_LIMIT,
    offset: Annotated[
        int,
        # Litestar writes bounds as floats, and 2**63 - 1 rounds up to 2**63 as one: state it exactly.
        QueryParameter(ge=0, le=MAX_OFFSET, description="Items to skip.", schema_extra={"maximum": MAX_OFFSET}),
    ] = 0,
) -> PageRequest:
    return PageRequest(limite, offset)
