"""Text input answers alike on every backend: a control character (NUL, ESC, DEL) in any text field is a
400 validation_failed naming the field, on SQLite as on PostgreSQL (NUL was stored by SQLite and refused
by PostgreSQL), nothing is stored, and an MCP tool or a library call gets the same code."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.projects import NewProject
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.drivers.mcp.helpers import bearer, mcp_session
from tests.support import LiveServer

BAD = {"nul": "\x00", "escape": "\x1b[31m", "delete": "\x7f"}


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _refused(response: httpx.Response, field: str) -> None:
    body = assert_error(response, 400, "validation_failed")
    assert field in str(body["detail"]), body


async def _listed(client: httpx.AsyncClient, path: str, account: Account) -> str:
    response = await client.get(path, headers=account.bearer, params={"limite": 500})
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
async def test_a_control_character_in_a_tenant_name_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, accounts: Accounts, bad: str
) -> None:
    admin = await accounts.admin()
    name = f"Evil{bad}{_tag()}"
    response = await client.post("/api/admin/tenants", json={"name": name}, headers=admin.bearer)
    await _refused(response, "name")
    assert f"Evil{bad}" not in (await client.get("/api/admin/tenants", headers=admin.bearer)).json().__repr__()


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
async def test_a_control_character_in_a_project_name_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, accounts: Accounts, bad: str
) -> None:
    owner = await accounts.tenant_owner()
    response = await client.post("/api/projetos", json={"name": f"site{bad}"}, headers=owner.bearer)
    await _refused(response, "name")
    assert (await client.get("/api/projetos", headers=owner.bearer)).json()["total"] == 0


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
async def test_a_control_character_in_a_description_is_refused_but_line_breaks_are_text(
    client: httpx.AsyncClient, accounts: Accounts, bad: str
) -> None:
    owner = await accounts.tenant_owner()
    response = await client.post(
        "/api/projetos", json={"name": "site", "description": f"a{bad}b"}, headers=owner.bearer
    )
    await _refused(response, "description")
    multiline = await client.post(
        "/api/projetos", json={"name": "site", "description": "line one\r\n\tline two"}, headers=owner.bearer
    )
    assert multiline.status_code == 201, multiline.text
    assert multiline.json()["description"] == "line one\r\n\tline two"


async def test_a_line_break_in_a_name_is_refused(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """A name is one line: a trailing line feed (which a regex's ``$`` lets through) is refused too."""
    owner = await accounts.tenant_owner()
    for name in ("site\n", "si\nte", "si\tte"):
        response = await client.post("/api/projetos", json={"name": name}, headers=owner.bearer)
        await _refused(response, "name")
    assert (await client.get("/api/projetos", headers=owner.bearer)).json()["total"] == 0


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
async def test_a_control_character_in_a_domain_mailbox_or_alias_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, accounts: Accounts, bad: str
) -> None:
    owner = await accounts.tenant_owner()
    domain = await client.post("/api/dominios", json={"name": f"ex{bad}ample.com"}, headers=owner.bearer)
    await _refused(domain, "name")
    mailbox = await client.post(
        "/api/emails", json={"address": f"ana{bad}@example.com", "password": "long enough"}, headers=owner.bearer
    )
    await _refused(mailbox, "address")
    alias = await client.post(
        "/api/emails/aliases",
        json={"source": "vendas@example.com", "destinations": [f"ana{bad}@example.com"]},
        headers=owner.bearer,
    )
    await _refused(alias, "destinations")
    assert (await client.get("/api/dominios", headers=owner.bearer)).json()["total"] == 0
    assert (await client.get("/api/emails", headers=owner.bearer)).json()["total"] == 0
    assert (await client.get("/api/emails/aliases", headers=owner.bearer)).json()["total"] == 0


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
@pytest.mark.parametrize(
    ("config", "field"),
    [
        (lambda bad: {"command": ["/bin/echo", f"hi{bad}"]}, "config.command[1]"),
        (lambda bad: {"env": {f"K{bad}EY": "v"}}, "config.env"),
        (lambda bad: {f"com{bad}mand": ["/bin/true"]}, "config (a key)"),
    ],
    ids=["string", "nested-key", "key"],
)
async def test_a_control_character_in_a_resource_config_string_or_key_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, accounts: Accounts, bad: str, config: Any, field: str
) -> None:
    owner = await accounts.tenant_owner()
    project = await client.post("/api/projetos", json={"name": "site"}, headers=owner.bearer)
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    response = await client.post(
        f"/api/projetos/{project_id}/recursos",
        json={"type": "web_app", "name": "app", "config": config(bad)},
        headers=owner.bearer,
    )
    await _refused(response, field)
    assert (await client.get(f"/api/projetos/{project_id}/recursos", headers=owner.bearer)).json()["total"] == 0


async def test_the_refusal_is_the_same_body_on_every_backend(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """The body is fixed by the core, not by the database: on each backend, exactly this one."""
    owner = await accounts.tenant_owner()
    response = await client.post("/api/projetos", json={"name": "a\x00b"}, headers=owner.bearer)
    body = assert_error(response, 400, "validation_failed")
    del body["request_id"]
    expected = "Expected a name: one line without control characters, not only white space"
    message = f"invalid request: name: {expected}"
    assert body == {
        "detail": message,
        "success": False,
        "error": message,
        "code": "validation_failed",
        "errors": [{"message": expected, "key": "name", "source": "body"}],
    }


async def test_an_mcp_tool_call_with_a_nul_is_the_same_error_code_and_stores_nothing(
    server: LiveServer, accounts: Accounts, client: httpx.AsyncClient
) -> None:
    owner = await accounts.tenant_owner()
    async with mcp_session(f"{server.url}/mcp", bearer(owner.access)) as session:
        result = await session.call_tool("create_project", {"name": "site\x00"})
    assert result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["code"] == "validation_failed"
    assert "name" in result.structured_content["detail"]
    assert (await client.get("/api/projetos", headers=owner.bearer)).json()["total"] == 0


@pytest.mark.parametrize("bad", [*BAD.values(), "\ud800", "two\nlines"])
def test_a_library_caller_building_an_input_gets_the_same_refusal(bad: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        NewProject(name=f"site{bad}")
    assert refused.value.code == "validation_failed"
    assert "name" in refused.value.message
