"""The MCP server: the tool families over the use-case facade, filtered and enforced per caller.

``tools/list`` shows a caller only the tools its key's tier and scopes allow, and ``tools/call``
refuses the others exactly as it refuses a tool that does not exist: a hidden tool is uncallable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent
from starlette.types import ASGIApp, Receive, Scope, Send

from tesserra_core.domain.identity import Principal
from tesserra_core.errors import TesserraError, Unauthenticated
from tesserra_core.facade import VERSION, UseCases
from tesserra_mcp.endpoint import ACTOR
from tesserra_mcp.registry import ToolSpec, as_error, bind, request_value
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

            if isinstance(result, dict) and isinstance(result.get("tools"), list):
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
        server.add_tool(bind(spec, uc, actor_of), name=spec.name, description=spec.description)
    return server


def http_app(server: MCPServer[Any], allowed_hosts: tuple[str, ...], *, stateless: bool = False) -> ASGIApp:
    """The SDK's streamable-HTTP app for ``server`` (JSON responses, DNS-rebinding protection).

    ``stateless``: a legacy (pre-2026-07-28) client is answered without a session (no
    ``Mcp-Session-Id``, which the spec makes optional; a session id it sends is not looked up), so
    each of its requests stands alone and any worker or node answers it, as for modern clients.
    What it loses: server-to-client requests and the GET stream, which no tool of ours uses."""
    hosts = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*", *allowed_hosts]
    security = TransportSecuritySettings(
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
    )
    app = server.streamable_http_app(
        streamable_http_path="/", json_response=True, stateless_http=stateless, transport_security=security
    )
    owned = _sessions_owned_by_caller(app)
    return _no_stream(owned) if stateless else owned


def _no_stream(app: ASGIApp) -> ASGIApp:
    """Without sessions, a GET stream has nothing that would ever write to it (no session to notify):
    405, which the spec offers a server that opens no stream, instead of a connection held open."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"no stream here: POST requests"}}'
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"allow", b"POST, DELETE"),
            ]
            await send({"type": "http.response.start", "status": 405, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return asgi


def _sessions_owned_by_caller(app: ASGIApp) -> ASGIApp:
    """``app`` with the caller presented to the SDK as the scope's authenticated user.

    The SDK's session manager binds a stateful (pre-2026-07-28) session to the user that opened
    it and answers any other user's request on it (POST, GET stream, DELETE) exactly as for an
    unknown session: 404 "Session not found". Stateless (2026-07-28) requests have no session.
    """

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        actor = scope.get(ACTOR)
        if isinstance(actor, Principal):
            owner = actor.connection_owner
            scope["user"] = AuthenticatedUser(AccessToken(token="", client_id="tesserra", scopes=[], subject=owner))
        await app(scope, receive, send)

    return asgi


async def run_stdio(uc: UseCases, api_key: str, acting_user_id: str | None = None) -> None:
    """Serve MCP on stdin/stdout as the holder of ``api_key`` (checked now, and on every call).
    The caller runs it inside ``uc.running(guest=True)``: the tool servers this process started end
    with it, and no reconciler runs here (the workloads of a server sharing the store are its own)."""
    await uc.authenticate(api_key, acting_user_id)

    async def actor() -> Principal:
        return await uc.authenticate(api_key, acting_user_id)

    server = build_server(uc, stdio_actor=actor)
    await server.run_stdio_async()
