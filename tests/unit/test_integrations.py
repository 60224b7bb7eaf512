"""Client configuration and sync use cases on the memory adapters."""

from __future__ import annotations

import json

import msgspec
import pytest

from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.ports.shared_tools import SiteConfig
from tesserra_core.usecases.integrations import KEY_PLACEHOLDER, ClientConfiguration, ClientSyncRequest
from tests.unit.helpers import FakeClock, Team


async def test_a_configured_public_url_wins_over_the_requests(uc: UseCases, team: Team) -> None:
    configured = ClientConfiguration(uc.ports.uow, SiteConfig(public_url="https://tesserra.example.com/"))
    view = await configured(team.member, None, "http://evil.example")
    assert view.mcp_url == "https://tesserra.example.com/mcp"
    assert "evil" not in json.dumps(view.snippets)


async def test_snippets_carry_only_the_placeholder(uc: UseCases, team: Team) -> None:
    view = await uc.integrations.client_configuration(team.member, "laptop", "http://127.0.0.1:7500")
    text = json.dumps(view.snippets)
    assert KEY_PLACEHOLDER in text
    assert team.member.credential_id not in text
    assert view.server_name == "tesserra-laptop"


async def test_syncs_newest_first_and_per_tenant(uc: UseCases, team: Team, clock: FakeClock) -> None:
    first = await uc.integrations.record_client_sync(
        team.member, ClientSyncRequest(client="cursor", instance_id="desk")
    )
    clock.advance(5)
    second = await uc.integrations.record_client_sync(
        team.owner, ClientSyncRequest(client="vscode", instance_id="desk")
    )
    view = await uc.integrations.client_configuration(team.member, "desk", "http://x")
    assert view.last_sync == second
    assert view.sync_count == 2
    async with uc.ports.uow(read_only=True) as uow:
        items, _ = await uow.client_syncs.list(team.tenant_id, "desk", PageRequest())
    assert [s.id for s in items] == [second.id, first.id]


async def test_fixed_instance_ignores_the_body(uc: UseCases, team: Team) -> None:
    sync = await uc.integrations.record_client_sync(
        team.member, ClientSyncRequest(client="tessaract", instance_id="other"), fixed_instance="tessaract"
    )
    assert sync.instance_id == "tessaract"


async def test_bad_input_and_missing_scope(uc: UseCases, team: Team) -> None:
    with pytest.raises(ValidationFailed):
        await uc.integrations.client_configuration(team.member, "no/slashes", "http://x")
    with pytest.raises(ValidationFailed):
        await uc.integrations.record_client_sync(team.member, ClientSyncRequest(client="x", client_version=""))
    narrow = msgspec.structs.replace(team.member, scopes=frozenset())
    with pytest.raises(Forbidden):
        await uc.integrations.client_configuration(narrow, None, "http://x")
