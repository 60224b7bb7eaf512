"""What the Infra SSH pages share: the signed-in person as the Infra SSH use cases take them (acting for
themselves, as an admin key acts for its X-User-Id), and the catalog's actions by id."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh import ParamKind
from tesserra_core.domain.paging import PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases.infra_ssh_views import ActionView, HostView

AnyRequest = Request[Any, Any, Any]
MAX_FIELD = 500
"""Longest form value read (the use cases' own limits are shorter or equal)."""
HOSTS_OFFERED = 100
"""Hosts a lease form lists to choose from."""


def operator(actor: Principal) -> Principal:
    """The console's person as the one the Infra SSH use cases act for: themselves (the use cases refuse
    anyone but a platform administrator, as they refuse any key but an admin-tier one)."""
    return msgspec.structs.replace(actor, acting_user_id=actor.user_id)


async def actions_by_id(uc: UseCases, actor: Principal) -> dict[str, ActionView]:
    return {a.id: a for a in await uc.infra_ssh.list_actions(actor)}


async def hosts_offered(uc: UseCases, actor: Principal) -> list[HostView]:
    return list((await uc.infra_ssh.list_hosts(actor, PageRequest(limit=HOSTS_OFFERED, offset=0))).items)


def field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def parameters(form: Any, action: ActionView | None) -> dict[str, object]:
    """An action's parameters from the form's ``param-<name>`` fields, an integer parameter's text read as a
    number when it is one (the action's template checks every value, as it does the REST body's)."""
    if action is None:
        return {}
    found: dict[str, object] = {}
    for parameter in action.parameters:
        raw = field(form, f"param-{parameter.name}").strip()
        if not raw:
            continue
        is_number = raw.lstrip("-").isdigit() and len(raw) <= 18
        found[parameter.name] = int(raw) if parameter.kind is ParamKind.INTEGER and is_number else raw
    return found
