"""Declaring MCP tools: each is one use-case call, with the tier it needs, and its use case's scope and text.

A tool is declared by the use case it calls (``@tools.tool(CreateProject, tier=...)``): it needs the
scope the use case states, and its description is the use case's docstring followed by the tool
function's own, which holds only what is particular to MCP (see ``tesserra_core.usecases.contract``).

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
from tesserra_core.usecases.contract import description_of, scope_of
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
    uses: type
    """The use case the tool calls: the tool needs the scope it states (see ``tesserra_core.usecases.contract``)."""
    tier: Tier
    rate_limit: str | None = None
    """The core's named rule its REST twin declares, counted per token on the same counter."""
    scope: Scope | None = None
    """Only for a use case that states no scope (public over REST): the scope the tool needs all the same."""

    def __post_init__(self) -> None:
        stated = scope_of(self.uses)
        if stated is not None and self.scope is not None:
            raise TypeError(f"{self.name}: {self.uses.__name__} states its scope ({stated}); the tool cannot name one")
        if stated is None and self.scope is None:
            raise TypeError(f"{self.name}: {self.uses.__name__} states no scope; name the one the tool needs")

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def description(self) -> str:
        """What the client reads: the use case's docstring, then the tool's own notes (its arguments, its answer)."""
        return "\n\n".join(part for part in (description_of(self.uses), inspect.getdoc(self.fn)) if part)

    @property
    def scopes(self) -> tuple[Scope, ...]:
        scope = scope_of(self.uses) or self.scope
        return (scope,) if scope is not None else ()

    def allows(self, actor: Principal) -> bool:
        return actor.tier.covers(self.tier) and all(actor.has(s) for s in self.scopes)


@dataclass
class ToolSet:
    """The tools of one family. Each area declares its own and the server gathers them."""

    specs: list[ToolSpec] = field(default_factory=list)

    def tool(
        self, uses: type, *, tier: Tier = Tier.BASIC, rate_limit: str | None = None, scope: Scope | None = None
    ) -> Callable[[ToolFn], ToolFn]:
        """Declare a tool that calls the use case ``uses``: it needs the scope ``uses`` states (``scope``
        only for a use case that states none) and ``tier``, and counts against ``rate_limit``."""

        def decorate(fn: ToolFn) -> ToolFn:
            self.specs.append(ToolSpec(fn, uses, tier, rate_limit, scope))
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
    body = error_body(exc.message, exc.code, request_value(request, REQUEST_ID), exc.details())
    return CallToolResult(content=[TextContent(type="text", text=exc.message)], structured_content=body, is_error=True)


def bind(spec: ToolSpec, uc: UseCases, actor_of: ActorOf) -> Callable[..., Awaitable[CallToolResult]]:
    """The function the SDK registers: MCP arguments + Context in, CallToolResult out."""
    signature = inspect.signature(spec.fn)
    wire = [p for name, p in signature.parameters.items() if name not in ("uc", "actor")]
    ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)

    async def call(ctx: Context, **arguments: Any) -> CallToolResult:
        tracer = uc.ports.tracer
        if not tracer.enabled:
            return await answer(ctx, arguments)
        with tracer.span(f"mcp.tools/call {spec.name}", {"mcp.tool": spec.name}):
            request_id = request_value(ctx.request_context.request, REQUEST_ID)
            if request_id:
                tracer.request_id(request_id)
            return await answer(ctx, arguments)

    async def answer(ctx: Context, arguments: dict[str, Any]) -> CallToolResult:
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
    call.__doc__ = spec.description
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*wire, ctx_param], return_annotation=CallToolResult
    )
    call.__annotations__ = {p.name: p.annotation for p in wire} | {"ctx": Context, "return": CallToolResult}
    return call
