"""Identity tools: who am I, and my API keys."""

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import api_keys, sessions
from tesserra_core.usecases.views import ApiKeyView, MeView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()


# Any credential may ask who it is over REST (Me checks no scope); as a tool, whoami is shown to keys
# that may read the profile.
@tools.tool(sessions.Me, scope=Scope.PROFILE_READ)
async def whoami(*, uc: UseCases, actor: Principal) -> MeView:
    return await uc.sessions.me(actor)


@tools.tool(api_keys.ListApiKeys)
async def list_api_keys(
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[ApiKeyView]:
    return await uc.api_keys.list(actor, PageRequest(limite, offset))
