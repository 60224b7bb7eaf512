"""A server with no model provider configured: posting a message answers 503 with a message naming the
setting, and the user's message is stored all the same."""

from __future__ import annotations

import httpx

from tests.drivers.http.conftest import Accounts, assert_error


async def test_posting_without_a_provider_is_503_and_the_message_is_stored(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    started = await client.post("/api/conversas", json={"agent_id": "helpdesk"}, headers=owner.bearer)
    assert started.status_code == 201, started.text
    url = f"/api/conversas/{started.json()['id']}/mensagens"

    body = assert_error(await client.post(url, json={"content": "alguém aí?"}, headers=owner.bearer), 503)

    assert body["code"] == "model_unavailable"
    assert "TESSERRA_MODEL_BASE_URL" in str(body["detail"])
    items = (await client.get(url, headers=owner.bearer)).json()["items"]
    assert [(m["role"], m["content"], m["status"]) for m in items] == [
        ("user", "alguém aí?", "complete"),
        ("assistant", "", "failed"),
    ]
