"""The MCP server: the tool families over the use-case facade, filtered and enforced per caller.

``tools/list`` shows a caller only the tools its key's tier and scopes allow, and ``tools/call``
refuses the others exactly as it refuses a tool that does not exist: a hidden tool is uncallable.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, ListToolsResult, TextContent
from starlette.types import ASGIApp, Receive, Scope, Send

from tesserra_core.domain.identity import Principal
from tesserra_core.errors import (
    Forbidden,
    RateLimited,
    TesserraError,
    Unauthenticated,
    Unavailable,
    error_body,
)
from tesserra_core.usecases import UseCases
from tesserra_core.usecases.facade import VERSION
from tesserra_mcp.registry import ACTOR, REQUEST_ID, ToolSpec, as_error, bind, request_value
from tesserra_mcp.tools import ALL

Resolve = Callable[[], Awaitable[Principal]]


def _specs() -> dict[str, ToolSpec]:
    return {spec.name: spec for toolset in ALL for spec in toolset.specs}


def build_server(uc: UseCases, stdio_actor: Resolve | None = None) -> MCPServer[Any]:
    """An MCPServer over ``uc``. Over HTTP the caller comes from the request (see ``McpEndpoint``);
    over stdio from ``stdio_actor`` (the key in TESSERRA_API_KEY, re-checked on every call)."""
    specs = _specs()

    async def actor_of_request(request: Any) -> Principal:
        actor = request_value(request, ACTOR)
        if isinstance(actor, Principal):
            return actor
        if stdio_actor is not None:
            return await stdio_actor()
        raise Unauthenticated("credentials required", code="missing_credentials")

    async def actor_of(ctx: Context) -> Principal:
        return await actor_of_request(ctx.request_context.request)

    async def visibility(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/list":
            actor = await actor_of_request(ctx.request)
            result = await call_next(ctx)

            def shown(name: object) -> bool:
                return isinstance(name, str) and name in specs and specs[name].allows(actor)

            if isinstance(result, ListToolsResult):
                result.tools = [t for t in result.tools if shown(t.name)]
            elif isinstance(result, dict) and isinstance(result.get("tools"), list):
                # The runner hands middleware the wire form (a dict), not the model.
                tools = [t for t in result["tools"] if isinstance(t, dict) and shown(t.get("name"))]
                result = {**result, "tools": tools}
            return result
        if ctx.method == "tools/call":
            name = (ctx.params or {}).get("name")
            try:
                actor = await actor_of_request(ctx.request)
            except TesserraError as exc:
                return as_error(exc, ctx.request)
            spec = specs.get(name) if isinstance(name, str) else None
            if spec is None or not spec.allows(actor):
                return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
        return await call_next(ctx)

    server: MCPServer[Any] = MCPServer(
        "tesserra",
        version=VERSION,
        instructions="Tesserra control plane. Tools act in the tenant of the API key you connect with.",
        middleware=[visibility],
    )
    for spec in specs.values():
        server.add_tool(bind(spec, uc, actor_of), name=spec.name, description=spec.fn.__doc__)
    return server


class McpEndpoint:
    """The streamable-HTTP MCP app: API-key auth in front (401 without one), sessions managed by
    ``lifespan()``, which the hosting server runs for as long as it serves."""

    def __init__(
        self,
        uc: UseCases,
        *,
        allowed_hosts: tuple[str, ...] = (),
        request_id: Callable[[], str | None] | None = None,
    ) -> None:
        """``request_id`` gives the id the hosting server assigned to the current request (echoed
        or generated), so that a refusal's body names the id its X-Request-Id header carries."""
        self._uc = uc
        self._request_id = request_id
        self.server = build_server(uc)
        hosts = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*", *allowed_hosts]
        security = TransportSecuritySettings(
            allowed_hosts=hosts,
            allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
        )
        self._app: ASGIApp = self.server.streamable_http_app(
            streamable_http_path="/", json_response=True, transport_security=security
        )

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = (self._request_id() if self._request_id is not None else None) or headers.get("x-request-id")
        scope[REQUEST_ID] = request_id
        try:
            scope[ACTOR] = await self._uc.authenticate.from_headers(headers.get)
        except TesserraError as exc:
            await _send_error(send, exc, request_id)
            return
        await self._app(scope, receive, send)


_STATUS: tuple[tuple[type[TesserraError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RateLimited, 429),
    (Unavailable, 503),
)


async def _send_error(send: Send, exc: TesserraError, request_id: str | None) -> None:
    """What authentication failed with, as the HTTP error body (this endpoint stands alone)."""
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 400)
    body = msgspec.json.encode(error_body(exc.message, exc.code, request_id))
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="tesserra"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def run_stdio(uc: UseCases, api_key: str) -> None:
    """Serve MCP on stdin/stdout as the holder of ``api_key`` (checked now, and on every call)."""
    await uc.authenticate(api_key)

    async def actor() -> Principal:
        return await uc.authenticate(api_key)

    server = build_server(uc, stdio_actor=actor)
    await server.run_stdio_async()
