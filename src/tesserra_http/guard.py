"""One middleware that applies the API's conventions to every request, and what each route
declares in its ``opt``:

- every request gets an id (a well-formed ``X-Request-Id`` echoed, or a new one) that every log
  line, error body and response carries;
- ``public``: no credentials needed; otherwise the caller is authenticated (every header form);
  ``identify``: public, but good credentials name the caller (who may then see more);
- a route taking a JSON body gets one declared as JSON, or answers 415 (see ``media``);
- ``rate_limit``: a named rule from the core, counted per token (or per client IP when public; the
  client IP is the peer's, or the one trusted proxies forwarded: see ``client_address``);
- ``idempotent``: ``Idempotency-Key`` replays the first response, refuses reuse and in-flight twins.

Pure ASGI and a single layer with a single send wrapper, so the cost on a hot route is a few
dictionary lookups.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from tesserra_core.domain.identity import Principal
from tesserra_core.errors import TesserraError, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.ports.limits import RateDecision, StoredResponse
from tesserra_core.usecases.guards import rate_limited
from tesserra_http.client_address import ClientAddress
from tesserra_http.context import incoming_request_id, request_id_var, request_scope_var
from tesserra_http.errors import retry_after, send_core_error, send_error
from tesserra_http.media import json_body_refusal

MAX_IDEMPOTENT_BODY = 1 << 20


def _rate_headers(decision: RateDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(decision.limit).encode()),
        (b"x-ratelimit-remaining", str(decision.remaining).encode()),
        (b"x-ratelimit-reset", retry_after(decision.reset_after).encode()),
    ]


class GuardMiddleware:
    def __init__(self, app: ASGIApp, uc: UseCases, client_address: ClientAddress) -> None:
        self.app = app
        self.uc = uc
        self.client_address = client_address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope)
        token = request_id_var.set(request_id)
        self.uc.ports.tracer.request_id(request_id)
        scope_token = request_scope_var.set(scope)
        added = [(b"x-request-id", request_id.encode())]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self._guard(scope, receive, send_with_headers, added)
        finally:
            request_id_var.reset(token)
            request_scope_var.reset(scope_token)

    async def _guard(self, scope: Scope, receive: Receive, send: Send, added: list[tuple[bytes, bytes]]) -> None:
        next_app = self.app
        opt = scope["route_handler"].opt
        headers = dict(scope["headers"])
        try:
            actor = None
            if not opt.get("public"):
                actor = await self.uc.authenticate.from_headers(scope["headers"])
            elif opt.get("identify"):
                actor = await self._identified(scope)
            scope["user"] = actor
            refusal = json_body_refusal(scope["route_handler"], headers)
            if refusal is not None:
                await send_error(send, 415, refusal, "unsupported_media_type")
                return
            rule = opt.get("rate_limit")
            if rule is not None:
                subject = actor.subject if actor is not None else f"ip:{self.client_address(scope)}"
                decision = await self.uc.throttle(rule, subject)
                added.extend(_rate_headers(decision))
                if not decision.allowed:
                    raise rate_limited(decision)
            key = headers.get(b"idempotency-key")
            if opt.get("idempotent") and key is not None:
                if actor is None:
                    raise ValidationFailed(
                        "Idempotency-Key needs an authenticated caller", code="idempotency_anonymous"
                    )
                await self._idempotent(actor.subject, key.decode("latin-1"), scope, receive, send, next_app)
                return
        except TesserraError as exc:
            await send_core_error(send, exc)
            return
        await next_app(scope, receive, send)

    async def _identified(self, scope: Scope) -> Principal | None:
        """On a public route that says more to some callers: the caller, if its credentials are good."""
        try:
            return await self.uc.authenticate.from_headers(scope["headers"])
        except TesserraError:
            return None

    async def _idempotent(
        self, owner: str, key: str, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp
    ) -> None:
        body = await _read_body(receive)
        digest = hashlib.sha256()
        method: str = scope.get("method", "")  # type: ignore[assignment]
        for part in (method.encode(), scope["raw_path"], scope.get("query_string", b""), body):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        stored = await self.uc.idempotency.claim(owner, key, digest.hexdigest())
        if stored is not None:
            await _replay(stored, send)
            return
        captured: dict[str, Any] = {"status": 500, "type": b"", "body": [], "stored": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"content-type":
                        captured["type"] = value
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
                # Stored (or, for a server error, released) before the client sees the end of the
                # response: a retry sent the moment it arrives is then a replay (or a new attempt),
                # not an "in flight" conflict.
                if not message.get("more_body", False) and captured["status"] < 500:
                    content = b"".join(captured["body"])
                    response = StoredResponse(captured["status"], content, captured["type"].decode())
                    await self.uc.idempotency.complete(owner, key, response)
                    captured["stored"] = True
                elif not message.get("more_body", False):
                    await self.uc.idempotency.release(owner, key)
                    captured["stored"] = True
            await send(message)

        try:
            await next_app(scope, _replaying(body, receive), capture)
        finally:
            if not captured["stored"]:
                await self.uc.idempotency.release(owner, key)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message: dict[str, Any] = await receive()  # type: ignore[assignment]
        if message["type"] == "http.disconnect":
            raise ValidationFailed("the client went away", code="client_disconnected")
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_IDEMPOTENT_BODY:
            raise ValidationFailed("request body too large for an idempotent request", code="body_too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the real channel (so a disconnect still arrives)."""
    sent = False

    async def replay() -> Any:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _replay(stored: StoredResponse, send: Send) -> None:
    """The first response again. Never cacheable: it may carry a secret shown once (a new API key)."""
    headers = [
        (b"idempotent-replayed", b"true"),
        (b"cache-control", b"no-store"),
        (b"content-length", str(len(stored.body)).encode()),
    ]
    if stored.content_type:
        headers.append((b"content-type", stored.content_type.encode()))
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body, "more_body": False})
