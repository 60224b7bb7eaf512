"""Errors, translated once: core errors and framework errors become the documented error body."""

from __future__ import annotations

import logging
import math
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import Scope, Send

from tesserra_core import errors as core
from tesserra_core.domain.inputs import readable
from tesserra_http.context import incoming_request_id, new_request_id, request_id_var

log = logging.getLogger("tesserra.http")

_HTTP_CODES = {
    400: "validation_failed",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_response(
    status: int,
    message: str,
    code: str,
    headers: dict[str, str] | None = None,
    *,
    scope: Scope | None = None,
    **extra: Any,
) -> Response[dict[str, object]]:
    all_headers = _error_headers(status, headers)
    request_id = request_id_var.get()
    if request_id is None:  # failed before any route (unknown path, wrong method): still traceable
        fresh = incoming_request_id(scope) if scope is not None else new_request_id()
        request_id = all_headers["X-Request-Id"] = fresh
    body = core.error_body(message, code, request_id)
    body.update(extra)
    return Response(body, status_code=status, headers=all_headers)


def _error_headers(status: int, headers: dict[str, str] | None) -> dict[str, str]:
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="tesserra"')
    return all_headers


async def send_error(send: Send, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
    """The same error body, straight onto the wire, for middleware that answers before any handler."""
    body = msgspec.json.encode(core.error_body(message, code, request_id_var.get()))
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in _error_headers(status, headers).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _core_headers(exc: core.TesserraError) -> dict[str, str] | None:
    return {"Retry-After": retry_after(exc.retry_after)} if exc.retry_after is not None else None


async def send_core_error(send: Send, exc: core.TesserraError) -> None:
    await send_error(send, exc.status, exc.message, exc.code, _core_headers(exc))


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


def on_core_error(_: Request[Any, Any, Any], exc: core.TesserraError) -> Response[dict[str, object]]:
    response = error_response(exc.status, exc.message, exc.code, _core_headers(exc))
    response.content.update(exc.details())
    return response


def _readable(problem: object) -> object:
    """A pattern's refusal in words (the pattern itself is in /openapi.json, and may be long)."""
    if not isinstance(problem, dict) or not isinstance(message := problem.get("message"), str):
        return problem
    return {**problem, "message": readable(message)}


def on_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, object]]:
    problems = [_readable(p) for p in exc.extra] if isinstance(exc.extra, list) else []
    parts = [
        f"{p.get('key') or p.get('source') or 'body'}: {p.get('message')}" for p in problems if isinstance(p, dict)
    ]
    message = "invalid request" + (f": {'; '.join(parts)}" if parts else "")
    return error_response(400, message, "validation_failed", errors=problems)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return error_response(status, "internal server error", "internal_error", scope=request.scope)
    return error_response(status, str(exc.detail), _HTTP_CODES.get(status, "error"), exc.headers, scope=request.scope)


def on_undecodable(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    """msgspec raises UnicodeDecodeError (invalid UTF-8 inside a JSON string) and RecursionError (nesting too
    deep) rather than DecodeError, and Litestar lets both through: the client's malformed body, a 400."""
    if isinstance(exc, RecursionError) and "deserializ" not in str(exc):
        return on_unexpected(request, exc)  # a genuine server fault, not a body that failed to decode
    message = "invalid request: the body is not valid JSON (bad UTF-8 or nested too deeply)"
    return error_response(400, message, "validation_failed", scope=request.scope)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    log.exception("unhandled error", exc_info=exc)
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "internal server error", "internal_error", scope=request.scope
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    core.TesserraError: on_core_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    UnicodeDecodeError: on_undecodable,
    RecursionError: on_undecodable,
    Exception: on_unexpected,
}
