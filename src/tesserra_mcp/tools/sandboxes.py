"""Sandbox tools: list, inspect and create the tenant's sandboxes, and act on one. Each calls the use
case of its REST twin under /api/sandboxes."""

from typing import Annotated, Any

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.domain.sandboxes import OnIdle, OnTtl
from tesserra_core.facade import UseCases
from tesserra_core.usecases import sandboxes
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

SandboxId = Annotated[str, Field(description="The sandbox's id.")]


@tools.tool(sandboxes.ListSandboxes)
async def list_sandboxes(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[SandboxView]:
    return await uc.sandboxes.list(actor, PageRequest(limite, offset))


@tools.tool(sandboxes.GetSandbox)
async def get_sandbox(sandbox_id: SandboxId, *, uc: UseCases, actor: Principal) -> SandboxView:
    return await uc.sandboxes.get(actor, sandbox_id)


@tools.tool(sandboxes.CreateSandbox, tier=Tier.STANDARD)
async def create_sandbox(
    name: str,
    image: Annotated[str | None, Field(description="The image, on image runtimes (Docker).")] = None,
    command: Annotated[list[str] | None, Field(description="The argument vector to run.")] = None,
    ports: Annotated[list[int] | None, Field(description="Ports it listens on (the first is in PORT).")] = None,
    env: dict[str, str] | None = None,
    memory_mb: int | None = None,
    cpus: float | None = None,
    network: Annotated[bool, Field(description="Outbound network access (egress).")] = False,
    ttl_seconds: Annotated[int | None, Field(description="Hard cap on its life (default one hour).")] = None,
    on_ttl: OnTtl = OnTtl.STOP,
    idle_timeout_seconds: int | None = None,
    on_idle: OnIdle = OnIdle.PAUSE,
    *,
    uc: UseCases,
    actor: Principal,
) -> SandboxView:
    """env is an object of names and values here (a list of {name, value} over REST)."""
    fields: dict[str, Any] = {
        "name": name,
        "image": image,
        "command": command or [],
        "ports": ports or [],
        "env": [{"name": name, "value": value} for name, value in (env or {}).items()],
        "memory_mb": memory_mb,
        "cpus": cpus,
        "network": network,
        "ttl_seconds": ttl_seconds,
        "on_ttl": on_ttl,
        "idle_timeout_seconds": idle_timeout_seconds,
        "on_idle": on_idle,
    }
    return await uc.sandboxes.create(actor, convert(NewSandbox, fields))


@tools.tool(sandboxes.ActOnSandbox, tier=Tier.STANDARD)
async def sandbox_action(
    sandbox_id: SandboxId,
    action: Annotated[str, Field(description="start, stop, pause, resume, restart, keepalive or delete")],
    *,
    uc: UseCases,
    actor: Principal,
) -> SandboxView:
    return await uc.sandboxes.action(actor, sandbox_id, action)
