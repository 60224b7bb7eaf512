"""JSON bodies and query date-times are decoded strictly, as /openapi.json types them.

Litestar converts a handler's ``data`` leniently (``strict=False``, meant for query strings): ``0``
became ``false``, ``"5"`` became ``5``, ``1.0`` an integer. A body is JSON, so its types are what it
says: before the handler, a body bound to a Struct is decoded again with ``strict=True`` and any
mismatch is the same 400 ``validation_failed`` that any other malformed field gets. Likewise a
date-time in the query string must be RFC 3339 (the lenient conversion read ``?until=0.5`` as a
Unix time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from tesserra_core.domain.inputs import where


def _struct_type(request: Request[Any, Any, Any]) -> type[msgspec.Struct] | None:
    field = request.route_handler.parsed_data_field
    if field is None:
        return None
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    return None


def _refuse(key: str, message: str, source: str) -> ValidationException:
    return ValidationException(
        detail=f"invalid request: {key}: {message}", extra=[{"message": message, "key": key, "source": source}]
    )


def _check_query_datetimes(request: Request[Any, Any, Any]) -> None:
    for name, field in request.route_handler.parsed_fn_signature.parameters.items():
        if not (field.is_subclass_of(datetime) or field.has_inner_subclass_of(datetime)):
            continue
        raw = request.query_params.get(name)
        if raw is None:
            continue
        try:
            msgspec.convert(raw, datetime, strict=True)
        except msgspec.ValidationError:
            raise _refuse(name, "Expected `datetime` (RFC 3339, e.g. 2026-01-31T00:00:00Z)", "query") from None


async def decode_strictly(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: refuse a body whose JSON types differ from the Struct's, and a query
    date-time that is not RFC 3339."""
    _check_query_datetimes(request)
    struct = _struct_type(request)
    if struct is None:
        return
    body = await request.body()
    if not body.strip():
        return  # Litestar answers a missing body itself
    try:
        document = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # not JSON at all: Litestar's own decoding answers it
    try:
        msgspec.convert(_integral_floats_as_ints(document), struct, strict=True)
    except RecursionError:
        raise _refuse("body", "nested too deeply", "body") from None
    except msgspec.ValidationError as exc:
        field, message = where(exc)
        raise _refuse(field or "body", message, "body") from None


def _integral_floats_as_ints(value: Any) -> Any:
    """JSON Schema's ``integer`` is any number without a fraction: 3600.0 is one, as it is to Litestar."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_integral_floats_as_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _integral_floats_as_ints(v) for k, v in value.items()}
    return value
