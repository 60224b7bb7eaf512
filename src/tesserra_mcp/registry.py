"""Declaring MCP tools: each is one use-case call, with the scope and tier it needs.

A tool function takes its MCP arguments plus two keyword-only parameters that never reach the
wire, ``uc`` (the facade) and ``actor`` (the caller). ``bind`` gives the SDK a signature with
those replaced by the SDK's ``Context``, counts the call against the rate limit its REST twin
declares (the same rule, on the same per-token counter), maps domain errors to tool errors (same
message and code) and returns the result as structured content plus its JSON text.
"""

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import Field

from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.domain.paging import MAX_LIMIT
from tesserra_core.errors import TesserraError, error_body
from tesserra_core.facade import UseCases
from tesserra_core.usecases.guards import rate_limited
from tesserra_mcp.endpoint import REQUEST_ID

# Pagination arguments. Their bounds are documented in the schema but enforced by the core, so a
# bad value answers the same message and code over MCP as over REST.
Limite = Annotated[
    int,
    Field(description=f"Page size, 1-{MAX_LIMIT}.", json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}),
]
Offset = Annotated[int, Field(description="Items to skip.", json_schema_extra={"minimum": 0})]

ToolFn = Callable[..., Awaitable[Any]]
ActorOf = Callable[[Context], Awaitable[Principal]]


@dataclass(frozen=True)
class ToolSpec:
    fn: ToolFn
    scopes: tuple[Scope, ...]
    tier: Tier
    rate_limit: str | None = None
    """The core's named rule its REST twin declares, counted per token on the same counter."""

    @property
    def name(self) -> str:
        return self.fn.__name__

    def allows(self, actor: Principal) -> bool:
        return actor.tier.covers(self.tier) and all(actor.has(s) for s in self.scopes)


@dataclass
class ToolSet:
    """The tools of one family. Each area declares its own and the server gathers them."""

    specs: list[ToolSpec] = field(default_factory=list)

    def tool(
        self, *scopes: Scope, tier: Tier = Tier.BASIC, rate_limit: str | None = None
    ) -> Callable[[ToolFn], ToolFn]:
        def decorate(fn: ToolFn) -> ToolFn:
            self.specs.append(ToolSpec(fn, scopes, tier, rate_limit))
            return fn

        return decorate


def as_result(value: Any) -> CallToolResult:
    data = msgspec.to_builtins(value)
    if not isinstance(data, dict):
        data = {"result": data}
    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))], structured_content=data)


def request_value(request: Any, key: str) -> Any:
    """What the HTTP endpoint put in the request's ASGI scope (None over stdio)."""
    return getattr(request, "scope", {}).get(key) if request is not None else None


def as_error(exc: TesserraError, request: Any) -> CallToolResult:
    """A domain error as a tool error: the message as text, the error body (with its code) as data."""
    body = error_body(exc.message, exc.code, request_value(request, REQUEST_ID))
    return CallToolResult(content=[TextContent(type="text", text=exc.message)], structured_content=body, is_error=True)


def bind(spec: ToolSpec, uc: UseCases, actor_of: ActorOf) -> Callable[..., Awaitable[CallToolResult]]:
    """The function the SDK registers: MCP arguments + Context in, CallToolResult out."""
    signature = inspect.signature(spec.fn)
    wire = [p for name, p in signature.parameters.items() if name not in ("uc", "actor")]
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)

    async def call(ctx: Context, **arguments: Any) -> CallToolResult:
        try:
            actor = await actor_of(ctx)
            if spec.rate_limit is not None:
                decision = await uc.throttle(spec.rate_limit, actor.subject)
                if not decision.allowed:
                    raise rate_limited(decision)
            return as_result(await spec.fn(**arguments, uc=uc, actor=actor))
        except TesserraError as exc:
            return as_error(exc, ctx.request_context.request)

    call.__name__ = spec.name
    call.__doc__ = spec.fn.__doc__
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*wire, ctx_param], return_annotation=CallToolResult
    )
    call.__annotations__ = {p.name: p.annotation for p in wire} | {"ctx": Context, "return": CallToolResult}
    return call
