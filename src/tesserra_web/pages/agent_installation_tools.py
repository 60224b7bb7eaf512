"""The private agent form's installation tools: the tools of the tenant's installations an agent may call
(``installation_tools`` of the REST body), offered as checkboxes. Each box's value is the JSON pair
``[entry_id, tool]`` (either may hold any character the use case allows). The agent's current tools stay
offered (and checked) when their installation is gone, so a save never drops them unseen; the use case
checks each pair as it checks the REST body's."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec

from tesserra_core.domain.agents import InstallationToolRef
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import NotFound, ValidationFailed
from tesserra_core.facade import UseCases

FIELD = "installation_tools"
OFFERED_INSTALLATIONS = 100
"""Installations whose tools the form lists (the newest first)."""
MAX_VALUE = 400
"""Longest box value read: the pair's own bounds (200 + 128 characters) and its JSON."""


class Offered(msgspec.Struct, frozen=True, kw_only=True):
    """One box: the pair, its form value and whether an installation of the tenant reports it now."""

    entry_id: str
    tool: str
    value: str
    installed: bool


def value_of(entry_id: str, tool: str) -> str:
    return msgspec.json.encode([entry_id, tool]).decode()


def chosen(form: Any) -> list[dict[str, str]]:
    """The checked boxes as the REST body's ``installation_tools``; a value that is no pair is a 400."""
    refs = []
    for raw in form.getall(FIELD, []):
        try:
            if not isinstance(raw, str) or len(raw) > MAX_VALUE:
                raise msgspec.ValidationError("too long")
            entry_id, tool = msgspec.json.decode(raw, type=tuple[str, str])
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise ValidationFailed(
                f"{FIELD}: each must be an installation's tool offered by the form", code="validation_failed"
            ) from None
        refs.append({"entry_id": entry_id, "tool": tool})
    return refs


def values(refs: list[dict[str, str]] | list[InstallationToolRef]) -> list[str]:
    """The form values of ``refs`` (what was posted, or the agent's own): the boxes to check."""
    pairs = [(r["entry_id"], r["tool"]) if isinstance(r, dict) else (r.entry_id, r.tool) for r in refs]
    return [value_of(entry_id, tool) for entry_id, tool in pairs]


async def offered(uc: UseCases, actor: Principal, current: list[InstallationToolRef]) -> list[Offered]:
    """The tools the caller's installations report (none without tools:read), and the agent's current ones."""
    found: dict[tuple[str, str], bool] = {}
    if actor.has(Scope.TOOLS_READ):
        listed = await uc.installations.list(actor, PageRequest(limit=OFFERED_INSTALLATIONS))
        for installation in listed.items:
            if installation.tool_count:
                with contextlib.suppress(NotFound):  # removed meanwhile
                    reported = await uc.installations.list_tools(actor, installation.id)
                    found.update({(installation.tool_id, t.name): True for t in reported.tools})
    for ref in current:
        found.setdefault((ref.entry_id, ref.tool), False)
    return [
        Offered(entry_id=entry_id, tool=tool, value=value_of(entry_id, tool), installed=installed)
        for (entry_id, tool), installed in sorted(found.items())
    ]
