"""POST /api/auth/login: the token pair, uniform failures, and malformed input that is 400, never 500."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.drivers.http.conftest import PASSWORD, Accounts, ClientFactory, assert_error, unique_email


async def test_login_returns_bearer_access_token_for_900s_and_a_refresh_token(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    response = await client.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert isinstance(body["refresh_token"], str)
    assert len(body["refresh_token"]) >= 32
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 900
    assert claims["sub"] == owner.user_id
    assert claims["tid"] == owner.tenant_id
    me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["email"] == owner.email


async def test_login_email_is_case_and_space_insensitive(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    response = await client.post("/api/auth/login", json={"email": f"  {owner.email.upper()} ", "password": PASSWORD})
    assert response.status_code == 200, response.text


async def test_wrong_password_and_unknown_email_answer_the_same_401(clients: ClientFactory, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    wrong = await clients().post("/api/auth/login", json={"email": owner.email, "password": "not the password"})
    unknown = await clients().post("/api/auth/login", json={"email": unique_email("ghost"), "password": PASSWORD})
    wrong_body = assert_error(wrong, 401, "invalid_login")
    unknown_body = assert_error(unknown, 401, "invalid_login")
    assert "access_token" not in wrong.text
    for field in ("detail", "error", "code", "success"):
        assert wrong_body[field] == unknown_body[field]
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"]


MALFORMED: list[tuple[str, bytes | None, dict[str, str]]] = [
    ("not json", b"{not json", {"content-type": "application/json"}),
    ("empty body", b"", {"content-type": "application/json"}),
    ("json null", b"null", {"content-type": "application/json"}),
    ("json array", b'["a@example.com", "password"]', {"content-type": "application/json"}),
    ("json string", b'"a@example.com"', {"content-type": "application/json"}),
    ("missing password", b'{"email": "a@example.com"}', {"content-type": "application/json"}),
    ("missing email", b'{"password": "password123"}', {"content-type": "application/json"}),
    ("email is a number", b'{"email": 42, "password": "password123"}', {"content-type": "application/json"}),
    ("password is a list", b'{"email": "a@example.com", "password": ["x"]}', {"content-type": "application/json"}),
    ("password is null", b'{"email": "a@example.com", "password": null}', {"content-type": "application/json"}),
    (
        "unknown field",
        b'{"email": "a@example.com", "password": "password123", "is_admin": true}',
        {"content-type": "application/json"},
    ),
    ("invalid email", b'{"email": "not-an-email", "password": "password123"}', {"content-type": "application/json"}),
    ("empty password", b'{"email": "a@example.com", "password": ""}', {"content-type": "application/json"}),
    ("truncated utf-8", b'{"email": "a@example.com", "password": "\xc3"}', {"content-type": "application/json"}),
    ("nested 5000 deep", b'{"email":' + b"[" * 5000 + b"]" * 5000 + b"}", {"content-type": "application/json"}),
    ("lone surrogate", b'{"email": "\\ud800@x.io", "password": "p"}', {"content-type": "application/json"}),
    ("number out of range", b'{"email": 1e400, "password": "p"}', {"content-type": "application/json"}),
]


@pytest.mark.parametrize(("case", "body", "headers"), MALFORMED, ids=[m[0] for m in MALFORMED])
async def test_malformed_login_is_400_with_error_body(
    clients: ClientFactory, case: str, body: bytes, headers: dict[str, str]
) -> None:
    response = await clients().post("/api/auth/login", content=body, headers=headers)
    assert_error(response, 400)


async def test_form_encoded_login_is_415(clients: ClientFactory) -> None:
    body = b"email=a%40example.com&password=password123"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = await clients().post("/api/auth/login", content=body, headers=headers)
    assert_error(response, 415, "unsupported_media_type")


async def test_overlong_password_is_400_without_hashing_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 5000})
    assert_error(response, 400, "validation_failed")  # the schema states the bound (maxLength 1024)


async def test_login_into_a_tenant_the_user_does_not_belong_to_is_403(
    clients: ClientFactory, accounts: Accounts
) -> None:
    a = await accounts.tenant_owner()
    b = await accounts.tenant_owner()
    response = await clients().post(
        "/api/auth/login", json={"email": a.email, "password": PASSWORD, "tenant_id": b.tenant_id}
    )
    assert_error(response, 403, "no_membership")
