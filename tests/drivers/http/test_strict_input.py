"""What /openapi.json types is what the server takes: JSON bodies are decoded strictly (no ``"3600"``
for an integer, no ``0`` for a boolean), a query date-time is RFC 3339 (not a Unix time), and OPTIONS
lists every method of its path."""

from __future__ import annotations

import uuid

import httpx

from tesserra_core.domain.text import LINE_PATTERN, NAME_PATTERN, TEXT_PATTERN
from tests.drivers.http.conftest import Accounts, assert_error


async def test_a_string_for_an_integer_in_a_body_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    response = await client.post(
        "/api/dominios", json={"name": "strict.example.com", "default_ttl": "3600"}, headers=owner.bearer
    )
    body = assert_error(response, 400, "validation_failed")
    assert "default_ttl" in str(body["detail"]), body
    assert (await client.get("/api/dominios", headers=owner.bearer)).json()["total"] == 0


async def test_a_number_for_a_boolean_in_a_body_is_refused(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    created = await client.post(
        "/api/admin/planos", json={"code": f"strict-{uuid.uuid4().hex[:6]}", "name": "Strict"}, headers=admin.bearer
    )
    assert created.status_code == 201, created.text
    plan = created.json()
    response = await client.patch(f"/api/admin/planos/{plan['id']}", json={"active": 0}, headers=admin.bearer)
    body = assert_error(response, 400, "validation_failed")
    assert "active" in str(body["detail"]), body
    after = (await client.get(f"/api/admin/planos/{plan['id']}", headers=admin.bearer)).json()
    assert after["active"] == plan["active"]


async def test_a_unix_time_for_a_query_date_time_is_refused(client: httpx.AsyncClient, accounts: Accounts) -> None:
    admin = await accounts.admin()
    for path in ("/api/admin/financeiro/churn", "/api/admin/financeiro/receita"):
        response = await client.get(path, params={"until": "0.5"}, headers=admin.bearer)
        body = assert_error(response, 400, "validation_failed")
        assert "until" in str(body["detail"]), body
        fine = await client.get(path, params={"until": "2026-01-01T00:00:00Z"}, headers=admin.bearer)
        assert fine.status_code == 200, fine.text


async def test_options_lists_every_method_of_the_path(client: httpx.AsyncClient, accounts: Accounts) -> None:
    """GET and POST of these paths are registered by different handlers; Allow named only the first."""
    owner = await accounts.tenant_owner()
    for path in ("/api/dominios", "/api/admin/tenants", "/api/projetos"):
        response = await client.options(path, headers=owner.bearer)
        assert response.status_code == 204, response.text
        assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "OPTIONS", "POST"}, path


async def test_downloads_are_documented_with_their_real_content_types(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    download = paths["/api/projetos/{project_id}/arquivos/{file_id}"]["get"]["responses"]["200"]
    zone = paths["/api/dominios/{domain_id}/zonefile"]["get"]["responses"]["200"]["content"]
    assert "content" not in download  # the file's own type, whatever it is: never application/json
    assert "Content-Type it was uploaded with" in download["description"]
    assert list(zone) == ["text/dns"]


async def test_the_schema_states_the_rules_the_server_applies(client: httpx.AsyncClient) -> None:
    """Text rules, list items, free-form JSON and bounds are in /openapi.json, not only in the server."""
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    project = schemas["NewProject"]["properties"]
    assert (project["name"]["minLength"], project["name"]["maxLength"]) == (1, 100)
    assert project["name"]["pattern"] == NAME_PATTERN
    assert project["description"]["pattern"] == TEXT_PATTERN
    alias = schemas["NewEmailAlias"]["properties"]["destinations"]
    assert (alias["minItems"], alias["maxItems"]) == (1, 50)
    assert "@" in alias["items"]["pattern"]  # Litestar dropped the items' rules
    config = schemas["NewResource"]["properties"]["config"]
    assert config["propertyNames"] == {"pattern": LINE_PATTERN}
    assert config["additionalProperties"] == {"$ref": "#/components/schemas/JsonText"}
    assert {"type": "string", "pattern": TEXT_PATTERN} in schemas["JsonText"]["anyOf"]
    assert schemas["PlanLimits"]["additionalProperties"] is False
    assert schemas["NewPrice"]["properties"]["amount"]["maximum"] == 99_999_999_999
    scopes = schemas["NewApiKey"]["properties"]["scopes"]
    assert scopes["oneOf"][0]["items"] == {"$ref": "#/components/schemas/Scope"}
    assert "profile:read" in schemas["Scope"]["enum"]


async def test_an_integral_number_is_an_integer_as_json_schema_says(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    body = {"name": f"{uuid.uuid4().hex[:8]}.example.com", "default_ttl": 3600.0}
    created = await client.post("/api/dominios", json=body, headers=owner.bearer)
    assert created.status_code == 201, created.text
    assert created.json()["default_ttl"] == 3600
    fraction = await client.post(
        "/api/dominios", json={"name": "frac.example.com", "default_ttl": 3600.5}, headers=owner.bearer
    )
    assert_error(fraction, 400, "validation_failed")


async def test_every_post_that_honours_idempotency_key_documents_the_header(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    honoured = [
        (path, op)
        for path, item in paths.items()
        for method, op in item.items()
        if method == "post" and "Idempotency-Key" in op.get("description", "")
    ]
    assert len(honoured) >= 14
    for path, op in honoured:
        headers = [p for p in op.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(headers) == 1, path
        assert headers[0]["schema"]["maxLength"] == 255, path
        assert "pattern" in headers[0]["schema"], path
