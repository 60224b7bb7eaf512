"""Request bodies are read as the type they declare: a route that parses a JSON ``data`` body takes
``application/json`` or a ``+json`` type (parameters such as ``charset`` allowed) and nothing else.

Litestar parses such a body as JSON whatever its Content-Type says (text/plain and form data too),
so a proxy or firewall that inspects bodies by their declared type, or a browser's cross-site "simple"
(text/plain) post, would get a JSON request through as something else. The guard asks ``json_body_refusal`` before the
body is read; an empty body is nobody's type and passes (a route needing one then answers 400).
Upload routes read their own bodies (multipart or raw) and take no JSON ``data``: untouched here.
"""

from __future__ import annotations

from litestar.enums import RequestEncodingType
from litestar.handlers import BaseRouteHandler

JSON_TYPES = "application/json or a +json type"


def parses_json(handler: BaseRouteHandler) -> bool:
    """Whether the route's handler takes a ``data`` body parsed as JSON (Litestar caches the field)."""
    data = handler.parsed_data_field
    if data is None:
        return False
    media_type = getattr(data.kwarg_definition, "media_type", RequestEncodingType.JSON)
    return media_type == RequestEncodingType.JSON


def is_json(content_type: bytes) -> bool:
    """``application/json`` or ``application/<name>+json``, in any case, with or without parameters."""
    essence = content_type.split(b";", 1)[0].strip().lower()
    kind, _, subtype = essence.partition(b"/")
    return kind == b"application" and (subtype == b"json" or (subtype.endswith(b"+json") and len(subtype) > 5))


def has_body(headers: dict[bytes, bytes]) -> bool:
    """Whether a body follows: a non-zero Content-Length, or a chunked one (HTTP/1.1 framing)."""
    if b"transfer-encoding" in headers:
        return True
    length = headers.get(b"content-length", b"0").strip()
    return length not in (b"0", b"") and (not length.isdigit() or int(length) > 0)


def json_body_refusal(handler: BaseRouteHandler, headers: dict[bytes, bytes]) -> str | None:
    """Why this request's body may not reach the route's JSON parser, or None if it may."""
    if not has_body(headers) or not parses_json(handler):
        return None
    declared = headers.get(b"content-type")
    if declared is not None and is_json(declared):
        return None
    named = f"'{declared.decode('latin-1')[:100]}'" if declared else "none"
    return f"this route takes a JSON body (Content-Type {JSON_TYPES}); the request declared {named}"
