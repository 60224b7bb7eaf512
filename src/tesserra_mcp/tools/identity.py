"""Identity tools: who am I, and my API keys."""

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import ListApiKeys
from tesserra_core.usecases.sessions import Me
from tesserra_core.usecases.views import ApiKeyView, MeView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


# Any credential may ask who it is over REST (Me checks no scope); as a tool, whoami is shown to keys
# that may read the profile.
@tools.tool(Me, scope=Scope.PROFILE_READ)
async def whoami(*, uc: UseCases, actor: Principal) -> MeView:
    """Who is calling: user, tenant, role, scopes, tier and how they authenticated."""
    return await uc.sessions.me(actor)


@tools.tool(ListApiKeys)
async def list_api_keys(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[ApiKeyView]:
    """The tenant's API keys (owners and admins) or the caller's own, newest first. Secrets are never shown."""
    return await uc.api_keys.list(actor, PageRequest(limite, offset))
