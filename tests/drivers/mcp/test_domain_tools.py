"""Domain, mail and file tools over MCP: each returns what its REST twin returns, refuses what it
refuses (same message and code), and sees only the caller's tenant."""

from __future__ import annotations

import json
import uuid
from typing import Any

from mcp import ClientSession

from tesserra_core.domain.identity import Tier
from tests.dns_server import loopback_dns
from tests.drivers.mcp.helpers import DOMAIN_TOOLS, ERROR_FIELDS, Site, bearer, mcp_session, new_site, texts
from tests.unit.domain_support import REALISTIC_ZONE


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, (tool, result.content)
    assert json.loads(texts(result)[0]) == result.structured_content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refused(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, (tool, result.content)
    body = result.structured_content
    assert isinstance(body, dict)
    assert set(body) >= ERROR_FIELDS
    assert texts(result)[0] == body["detail"]
    return body


def zone_name() -> str:
    return f"mcp{uuid.uuid4().hex[:10]}.com"


async def test_domain_and_zone_tools_return_what_rest_returns(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session, site.http(site.owner_token) as http:
        domain = await call(session, "create_domain", name=zone_name())
        assert (await http.get(f"/api/dominios/{domain['id']}")).json() == domain
        assert await call(session, "get_domain", domain_id=domain["id"]) == domain
        assert await call(session, "list_domains") == (await http.get("/api/dominios")).json()

        imported = await call(
            session, "import_zone_file", domain_id=domain["id"], zone_file=REALISTIC_ZONE.format(zone=domain["name"])
        )
        assert imported["records"] == 17
        records = await call(session, "list_dns_records", domain_id=domain["id"], limite=500)
        assert records == (await http.get(f"/api/dominios/{domain['id']}/registros", params={"limite": 500})).json()
        exported = await call(session, "export_zone_file", domain_id=domain["id"])
        rest_zone = await http.get(f"/api/dominios/{domain['id']}/zonefile")
        assert exported["zone_file"] == rest_zone.text
        assert exported["serial"] == int(rest_zone.headers["x-zone-serial"])

        made = await call(
            session, "create_dns_record", domain_id=domain["id"], name="api", type="AAAA", data="2001:db8::1"
        )
        changed = await call(session, "update_dns_record", domain_id=domain["id"], record_id=made["id"], ttl=120)
        assert changed["ttl"] == 120
        assert await call(session, "delete_dns_record", domain_id=domain["id"], record_id=made["id"]) == {
            "deleted": made["id"]
        }
        retuned = await call(session, "update_domain", domain_id=domain["id"], default_ttl=600)
        assert retuned["default_ttl"] == 600
        assert retuned == (await http.get(f"/api/dominios/{domain['id']}")).json()


async def test_tool_errors_carry_the_rest_message_and_code(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session, site.http(site.owner_token) as http:
        domain = await call(session, "create_domain", name=zone_name())
        bad = {"name": "x.elsewhere.org.", "type": "A", "data": "192.0.2.1"}
        over_mcp = await refused(session, "create_dns_record", domain_id=domain["id"], **bad)
        over_rest = (await http.post(f"/api/dominios/{domain['id']}/registros", json=bad)).json()
        assert (
            (over_mcp["code"], over_mcp["detail"])
            == (over_rest["code"], over_rest["detail"])
            == (
                "name_outside_zone",
                over_rest["detail"],
            )
        )
        broken = await refused(session, "import_zone_file", domain_id=domain["id"], zone_file="a IN A 1\n")
        assert broken["code"] == "invalid_zone_file"
        assert "line 1" in broken["detail"]
        quota = await refused(session, "create_domain", name=zone_name())
        assert "domains" in quota["detail"]


async def test_verification_mailboxes_and_aliases_over_mcp(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session, site.http(site.owner_token) as http:
        domain = await call(session, "create_domain", name=zone_name())
        record = domain["verification_record"]
        loopback_dns().publish_txt(record["name"], record["value"])
        verified = await call(session, "verify_domain", domain_id=domain["id"])
        assert verified["verification_status"] == "verified"

        box = await call(session, "create_mailbox", address=f"ana@{domain['name']}", password="mailbox pass 1")
        assert not [k for k in box if "password" in k]
        assert (await http.get(f"/api/emails/{box['id']}")).json() == box
        assert (await call(session, "update_mailbox", mailbox_id=box["id"], quota_bytes=2 * 1024**2))[
            "quota_bytes"
        ] == (2 * 1024**2)
        await call(session, "reset_mailbox_password", mailbox_id=box["id"], password="another pass 2")
        generated = await call(session, "create_mailbox", address=f"gen@{domain['name']}")
        first = generated.pop("password")
        assert len(first) == 24  # none given: the use case generates one, shown once
        assert (await http.get(f"/api/emails/{generated['id']}")).json() == generated
        again = await call(session, "reset_mailbox_password", mailbox_id=generated["id"])
        assert again["password"] != first
        assert len(again["password"]) == 24
        await call(session, "delete_mailbox", mailbox_id=generated["id"])
        assert await call(session, "list_mailboxes") == (await http.get("/api/emails")).json()

        alias = await call(
            session, "create_email_alias", source=f"vendas@{domain['name']}", destinations=[box["address"]]
        )
        taken = await refused(session, "create_email_alias", source=box["address"], destinations=[alias["source"]])
        assert taken["code"] == "address_taken"
        assert await call(session, "list_email_aliases") == (await http.get("/api/emails/aliases")).json()
        await call(session, "delete_email_alias", alias_id=alias["id"])
        await call(session, "delete_mailbox", mailbox_id=box["id"])
        assert (await call(session, "list_mailboxes"))["total"] == 0
        await call(session, "delete_domain", domain_id=domain["id"])


async def test_project_file_tools_list_and_delete_what_rest_uploaded(site: Site) -> None:
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session, site.http(site.owner_token) as http:
        project = (await http.post("/api/projetos", json={"name": "files"})).json()["id"]
        up = await http.post(f"/api/projetos/{project}/arquivos", params={"filename": "a.txt"}, content=b"hello")
        assert up.status_code == 201, up.text
        listed = await call(session, "list_project_files", project_id=project)
        assert listed == (await http.get(f"/api/projetos/{project}/arquivos")).json()
        assert [f["sha256"] for f in listed["items"]] == [up.json()["sha256"]]
        await call(session, "delete_project_file", project_id=project, file_id=up.json()["id"])
        assert (await http.get(f"/api/projetos/{project}/arquivos/{up.json()['id']}")).status_code == 404


async def test_another_tenants_objects_are_not_found_over_mcp(site: Site) -> None:
    other = await new_site(site.server)
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as mine:
        domain = await call(mine, "create_domain", name=zone_name())
    async with mcp_session(site.mcp_url, bearer(other.owner_token)) as theirs:
        for tool, arguments in [
            ("get_domain", {"domain_id": domain["id"]}),
            ("delete_domain", {"domain_id": domain["id"]}),
            ("verify_domain", {"domain_id": domain["id"]}),
            ("list_dns_records", {"domain_id": domain["id"]}),
            ("export_zone_file", {"domain_id": domain["id"]}),
            ("import_zone_file", {"domain_id": domain["id"], "zone_file": ""}),
            ("list_project_files", {"project_id": "01NOSUCHPROJECT0000000000"}),
        ]:
            assert (await refused(theirs, tool, **arguments))["code"].endswith("not_found")
        assert (await call(theirs, "list_domains"))["total"] == 0


async def test_a_basic_key_with_domain_scopes_sees_only_the_read_tools(site: Site) -> None:
    basic = await site.key("domains:read", "domains:write", "projects:read", "projects:write", tier=Tier.BASIC)
    standard = await site.key("domains:read", "domains:write", "projects:read", "projects:write", tier=Tier.STANDARD)
    async with mcp_session(site.mcp_url, {"X-API-Key": basic.key}) as session:
        seen_basic = {t.name for t in (await session.list_tools()).tools} & DOMAIN_TOOLS
        assert (await session.call_tool("create_domain", {"name": zone_name()})).is_error
    async with mcp_session(site.mcp_url, {"X-API-Key": standard.key}) as session:
        seen_standard = {t.name for t in (await session.list_tools()).tools} & DOMAIN_TOOLS
    reads = {"list_domains", "get_domain", "list_dns_records", "export_zone_file", "list_mailboxes"}
    reads |= {"list_email_aliases", "list_project_files"}
    assert seen_basic == reads
    assert seen_standard == DOMAIN_TOOLS
