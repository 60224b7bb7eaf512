"""A private agent's installation tools from the console, over a real socket on a server with the test
catalog and a real MCP server installed: the agent form offers the tools the tenant's installation reports,
a checked box is stored as the REST body's ``installation_tools`` and shown checked again, unchecking all
clears them, a tool whose installation is gone stays offered (and kept) until unchecked; another tenant's
form never lists them; a member without the role is refused (403), CSRF is required, and a forged box is a
4xx naming the field, never stored."""

from __future__ import annotations

import asyncio
import html
import re

from tesserra_core.domain.agents import InstallationToolRef
from tesserra_core.domain.identity import Role
from tesserra_core.usecases.installations import InstallRequest
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.http.tools.conftest import PROBE
from tests.drivers.web.conftest import ConsoleClient
from tests.drivers.web.test_console_tools import team_accounts, tools_server, web  # noqa: F401  (fixtures)
from tests.support import LiveServer

_AGENT = re.compile(r"^/console/agents/([^/?]+)$")
FORM = {"name": "With tools", "vertical": "support", "instructions": "Use the probe.", "tools": ""}


def _box(entry_id: str, tool: str) -> str:
    return f'["{entry_id}","{tool}"]'


def _offered(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="installation_tools" value="([^"]*)"', page)]


def _checked(page: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'name="installation_tools" value="([^"]*)" checked', page)]


async def _probe_installed(server: LiveServer, access: str) -> str:
    actor = await server.uc.authenticate(access)
    installed = await server.uc.installations.install(actor, PROBE, InstallRequest(config={"PROBE_TOKEN": "t"}))
    for _ in range(600):
        if (await server.uc.installations.list_tools(actor, installed.id)).tools:
            return installed.id
        await asyncio.sleep(0.05)
    raise AssertionError("the probe reported no tools")


async def test_installation_tools_are_offered_stored_and_cleared(
    web: ConsoleClient,  # noqa: F811
    tools_server: LiveServer,  # noqa: F811
    team_accounts: Accounts,  # noqa: F811
) -> None:
    owner = await team_accounts.tenant_owner()
    installation = await _probe_installed(tools_server, owner.access)
    await web.sign_in(owner.email, PASSWORD)
    listed = await web.get("/console/agents")
    assert 'id="agent-installation-tools"' in listed.text
    assert _box(PROBE, "echo") in _offered(listed.text)
    assert _checked(listed.text) == []

    created = await web.post("/console/agents", FORM | {"installation_tools": [_box(PROBE, "echo")]})
    assert created.status_code == 303, created.text
    path = str(created.headers["location"])
    found = _AGENT.match(path)
    assert found, path
    actor = await tools_server.uc.authenticate(owner.access)
    stored = await tools_server.uc.agents.get_private(actor, found.group(1))
    assert stored.installation_tools == [InstallationToolRef(entry_id=PROBE, tool="echo")]
    assert _checked((await web.get(path)).text) == [_box(PROBE, "echo")]

    both = [_box(PROBE, "echo"), _box(PROBE, "keep")]
    assert (await web.post(path, FORM | {"installation_tools": both})).status_code == 303
    assert sorted(_checked((await web.get(path)).text)) == sorted(both)

    await tools_server.uc.installations.remove(actor, installation)
    gone = await web.get(path)
    assert "(not installed now)" in gone.text  # still offered and checked: a save keeps it unless unchecked
    assert sorted(_checked(gone.text)) == sorted(both)
    assert (await web.post(path, FORM)).status_code == 303  # no box checked: none kept
    assert (await tools_server.uc.agents.get_private(actor, found.group(1))).installation_tools == []
    assert 'id="agent-installation-tools"' in (await web.get(path)).text
    assert _checked((await web.get(path)).text) == []


async def test_refusals_other_tenants_and_forged_boxes(
    web: ConsoleClient,  # noqa: F811
    tools_server: LiveServer,  # noqa: F811
    team_accounts: Accounts,  # noqa: F811
) -> None:
    owner = await team_accounts.tenant_owner()
    await _probe_installed(tools_server, owner.access)
    await web.sign_in(owner.email, PASSWORD)
    await web.get("/console/agents")
    created = await web.post("/console/agents", FORM | {"installation_tools": [_box(PROBE, "echo")]})
    assert created.status_code == 303, created.text
    path = str(created.headers["location"])

    for forged, status, message in (
        ("not json", 400, "installation_tools: each must be"),
        ('["only one"]', 400, "installation_tools: each must be"),
        ("[" + '"x",' * 300 + '"y"]', 400, "installation_tools: each must be"),
        (_box(PROBE, "x" * 129), 400, "Expected `str` of length &lt;= 128"),
        (_box(PROBE, "<script>alert(1)</script>"), 303, ""),  # any name is the use case's to keep, escaped
    ):
        await web.get(path)
        answer = await web.post(path, FORM | {"installation_tools": [forged]})
        assert answer.status_code == status, (forged, answer.text[-800:])
        assert message in answer.text, forged
        assert "<script>alert(1)</script>" not in (await web.get(path)).text

    member = await team_accounts.member(owner.tenant_id, Role.MEMBER)
    other = ConsoleClient(web.http)
    await other.sign_in(member.email, PASSWORD)
    await other.get("/console/agents")
    refused = await other.post(path, FORM | {"installation_tools": [_box(PROBE, "echo")]})
    assert refused.status_code == 403
    stranger = ConsoleClient(web.http)
    await stranger.sign_in((await team_accounts.tenant_owner()).email, PASSWORD)
    theirs = await stranger.get("/console/agents")
    assert 'id="agent-installation-tools"' in theirs.text
    assert PROBE not in theirs.text  # another tenant's installation is not offered
    assert (await stranger.post(path, FORM | {"installation_tools": [_box(PROBE, "echo")]})).status_code == 404

    await web.get(path)
    assert (await web.post(path, FORM | {"installation_tools": []}, csrf=None)).status_code == 403
    actor = await tools_server.uc.authenticate(owner.access)
    kept = await tools_server.uc.agents.get_private(actor, path.rsplit("/", 1)[1])
    assert [r.tool for r in kept.installation_tools] == ["<script>alert(1)</script>"]
