"""Identity tools: who am I, and my API keys."""

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.views import ApiKeyView, MeView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


@tools.tool(Scope.PROFILE_READ)
async def whoami(*, uc: UseCases, actor: Principal) -> MeView:
    """Who is calling: user, tenant, role, scopes, tier and how they authenticated."""
    return await uc.sessions.me(actor)


@tools.tool(Scope.KEYS_READ)
async def list_api_keys(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[ApiKeyView]:
    """The tenant's API keys (owners and admins) or the caller's own, newest first. Secrets are never shown."""
    return await uc.api_keys.list(actor, PageRequest(limite, offset))
