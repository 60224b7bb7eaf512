"""A tool and its REST twin call the same use case and return the same data."""

from __future__ import annotations

import json

import pytest

from tests.drivers.mcp.helpers import Site, bearer, mcp_session, texts


@pytest.mark.parametrize("caller", ["api_key", "jwt"])
async def test_whoami_returns_what_get_me_returns(site: Site, caller: str) -> None:
    credential = (await site.key("profile:read", "keys:read")).key if caller == "api_key" else site.owner_token
    async with mcp_session(site.mcp_url, bearer(credential)) as session:
        result = await session.call_tool("whoami", {})
    async with site.http(credential) as http:
        response = await http.get("/api/auth/me")
    assert response.status_code == 200
    assert not result.is_error
    assert result.structured_content == response.json()
    assert json.loads(texts(result)[0]) == response.json()
    assert result.structured_content["auth_method"] == caller
    assert result.structured_content["tenant"]["id"] == site.tenant.id


@pytest.mark.parametrize(("limite", "offset"), [(None, None), (2, 1), (500, 3)])
async def test_list_api_keys_returns_what_get_keys_returns(site: Site, limite: int | None, offset: int | None) -> None:
    minted = [await site.key("profile:read", name=f"key-{i}") for i in range(4)]
    await site.uc.api_keys.revoke(site.owner, minted[1].api_key.id)
    arguments = {k: v for k, v in (("limite", limite), ("offset", offset)) if v is not None}
    # The owner's JWT: unlike a key, a session is not written back as `last_used_at` between the calls.
    async with mcp_session(site.mcp_url, bearer(site.owner_token)) as session:
        result = await session.call_tool("list_api_keys", arguments)
    async with site.http(site.owner_token) as http:
        response = await http.get("/api/auth/keys", params=arguments)
    assert response.status_code == 200
    assert not result.is_error
    assert result.structured_content == response.json()
    assert json.loads(texts(result)[0]) == response.json()
    page = result.structured_content
    assert page["total"] == 4
    assert page["limite"] == (limite or 50)
    assert page["offset"] == (offset or 0)
    newest_first = sorted((m.api_key.id for m in minted), reverse=True)  # ULIDs: by creation time
    expected = newest_first[offset or 0 :][: limite or 50]
    assert [item["id"] for item in page["items"]] == expected
    assert all("key" not in item and "secret_hash" not in item for item in page["items"])


@pytest.mark.parametrize(("limite", "offset"), [(None, None), (1, 0)])
async def test_list_shared_tools_returns_what_get_shared_tools_returns(
    site: Site, limite: int | None, offset: int | None
) -> None:
    (site.server.settings.shared_tools_path).write_text(
        json.dumps(
            {
                "providers": [
                    {
                        "id": "idp",
                        "name": "IdP",
                        "authorize_url": "https://idp.example.com/authorize",
                        "token_url": "https://idp.example.com/token",
                        "client_id": "c",
                    }
                ],
                "tools": [{"id": "drive", "name": "Drive", "provider_id": "idp"}, {"id": "clock", "name": "Clock"}],
            }
        )
    )
    credential = (await site.key("tools:read")).key
    arguments = {k: v for k, v in (("limite", limite), ("offset", offset)) if v is not None}
    async with mcp_session(site.mcp_url, bearer(credential)) as session:
        result = await session.call_tool("list_shared_tools", arguments)
    async with site.http(credential) as http:
        response = await http.get("/api/shared-tools", params=arguments)
    assert response.status_code == 200, response.text
    assert not result.is_error
    assert result.structured_content == response.json()
    page = result.structured_content
    assert page["total"] == 2
    assert [item["id"] for item in page["items"]] == ["clock", "drive"][: limite or 50]
    assert page["items"][0]["linked"] is False
