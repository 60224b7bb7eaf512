"""One resolver for every credential form, and attacks on access tokens."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid

import httpx
import jwt
import pytest

from tests.drivers.http.conftest import JWT_KEY, Account, Accounts, KeyMinter, assert_error

ME = "/api/auth/me"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _unb64(part: str) -> dict[str, object]:
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _claims(account: Account, **changes: object) -> dict[str, object]:
    """The claim set JwtIssuer.issue writes, for ``account``'s live session."""
    real = jwt.decode(account.access, options={"verify_signature": False})
    now = int(time.time())
    claims = {**real, "jti": uuid.uuid4().hex, "iat": now, "exp": now + 600}
    claims.update(changes)
    return claims


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- every header form ---------------------------------------------------------------------------


async def test_bearer_jwt_authenticates(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    response = await client.get(ME, headers=owner.bearer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["auth_method"] == "jwt"
    assert body["user"]["id"] == owner.user_id
    assert body["tenant"]["id"] == owner.tenant_id


@pytest.mark.parametrize(
    ("header", "template"),
    [("Authorization", "Bearer {}"), ("X-Tesserra-Api-Key", "{}"), ("X-API-Key", "{}"), ("authorization", "bearer {}")],
    ids=["authorization-bearer", "x-tesserra-api-key", "x-api-key", "lowercase-bearer"],
)
async def test_api_key_authenticates_in_every_documented_header(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter, header: str, template: str
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    response = await client.get(ME, headers={header: template.format(key)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["auth_method"] == "api_key"
    assert body["user"]["id"] == owner.user_id


async def test_missing_credentials_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert_error(response, 401, "missing_credentials")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer\tabc", "Token abc", "Digest username=x", "bearer"],
)
async def test_authorization_header_that_is_not_bearer_is_401(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get(ME, headers={"Authorization": value})
    assert_error(response, 401, "bad_auth_header")
    assert "www-authenticate" in response.headers


async def test_basic_auth_with_valid_api_key_is_still_401(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    basic = base64.b64encode(f"{owner.email}:{key}".encode()).decode()
    response = await client.get(ME, headers={"Authorization": f"Basic {basic}"})
    assert_error(response, 401, "bad_auth_header")


@pytest.mark.parametrize("value", ["abc", "eyJ.eyJ.sig", "tessera_", "tessera_short_x", "null", "🔑" * 3])
async def test_garbage_bearer_values_are_401(client: httpx.AsyncClient, value: str) -> None:
    response = await client.get(ME, headers={b"Authorization": f"Bearer {value}".encode()})
    assert_error(response, 401)


# --- one credential per request ------------------------------------------------------------------

CREDENTIAL_HEADERS = ("Authorization", "X-Tesserra-Api-Key", "X-API-Key")


def _carrying(header: str, credential: str) -> tuple[str, str]:
    return (header, f"Bearer {credential}" if header == "Authorization" else credential)


@pytest.mark.parametrize("valid_first", [True, False], ids=["valid-first", "garbage-first"])
@pytest.mark.parametrize(
    ("valid_in", "garbage_in"),
    list(itertools.permutations(CREDENTIAL_HEADERS, 2)),
    ids=lambda header: str(header),
)
async def test_two_credential_headers_are_400_naming_both(
    client: httpx.AsyncClient,
    accounts: Accounts,
    mint_key: KeyMinter,
    valid_in: str,
    garbage_in: str,
    valid_first: bool,
) -> None:
    """Whichever header would win, a valid key next to garbage is neither accepted nor refused as
    garbage: the request is ambiguous, and the answer says which headers made it so."""
    owner = await accounts.tenant_owner()
    valid = _carrying(valid_in, await mint_key(owner))
    garbage = _carrying(garbage_in, "tessera_garbage_" + "x" * 40)
    headers = [valid, garbage] if valid_first else [garbage, valid]
    body = assert_error(await client.get(ME, headers=headers), 400, "ambiguous_credentials")
    assert valid_in in str(body["detail"])
    assert garbage_in in str(body["detail"])


async def test_a_jwt_and_an_api_key_together_are_400(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    response = await client.get(ME, headers={**owner.bearer, "X-API-Key": key})
    assert_error(response, 400, "ambiguous_credentials")


@pytest.mark.parametrize("header", CREDENTIAL_HEADERS)
@pytest.mark.parametrize("second", ["garbage", "same"])
async def test_the_same_credential_header_twice_is_400(
    client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter, header: str, second: str
) -> None:
    owner = await accounts.tenant_owner()
    key = await mint_key(owner)
    other = key if second == "same" else "tessera_garbage_" + "x" * 40
    response = await client.get(ME, headers=[_carrying(header, key), _carrying(header, other)])
    body = assert_error(response, 400, "ambiguous_credentials")
    assert header in str(body["detail"])


async def test_x_user_id_twice_is_400(client: httpx.AsyncClient, accounts: Accounts, mint_key: KeyMinter) -> None:
    admin = await accounts.admin()
    key = await mint_key(admin, tier="admin")
    headers = [("X-API-Key", key), ("X-User-Id", "alice@example.com"), ("X-User-Id", "mallory@example.com")]
    assert_error(await client.get(ME, headers=headers), 400, "ambiguous_user_id")
    once = await client.get(ME, headers=headers[:2])
    assert once.status_code == 200, once.text
    assert once.json()["acting_user_id"] == "alice@example.com"


async def test_a_blank_api_key_header_beside_a_credential_is_ignored(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    response = await client.get(ME, headers={**owner.bearer, "X-API-Key": ""})
    assert response.status_code == 200, response.text


# --- access-token attacks ------------------------------------------------------------------------


async def test_forged_token_with_the_real_key_is_accepted_so_the_attacks_below_are_meaningful(
    client: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()
    token = jwt.encode(_claims(owner), JWT_KEY, algorithm="HS256")
    response = await client.get(ME, headers=_bearer(token))
    assert response.status_code == 200, response.text


async def test_tampered_payload_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    header, payload, signature = owner.access.split(".")
    elevated = {**_unb64(payload), "role": "owner", "adm": True}
    response = await client.get(ME, headers=_bearer(f"{header}.{_b64(elevated)}.{signature}"))
    assert_error(response, 401, "invalid_token")


async def test_payload_with_one_flipped_character_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    header, payload, signature = owner.access.split(".")
    for i in (10, len(payload) // 2, len(payload) - 3):
        flipped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1 :]
        response = await client.get(ME, headers=_bearer(f"{header}.{flipped}.{signature}"))
        assert_error(response, 401)


async def test_token_signed_with_another_key_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    token = jwt.encode(_claims(owner), b"x" * 32, algorithm="HS256")
    response = await client.get(ME, headers=_bearer(token))
    assert_error(response, 401, "invalid_token")


async def test_alg_none_token_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    for alg in ("none", "None", "NONE"):
        token = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{_b64(_claims(owner))}."
        response = await client.get(ME, headers=_bearer(token))
        assert_error(response, 401, "invalid_token")


async def test_other_hmac_algorithm_with_the_real_key_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    token = jwt.encode(_claims(owner), JWT_KEY, algorithm="HS512")
    response = await client.get(ME, headers=_bearer(token))
    assert_error(response, 401, "invalid_token")


async def test_expired_token_signed_with_the_real_key_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    now = int(time.time())
    token = jwt.encode(_claims(owner, iat=now - 1000, exp=now - 60), JWT_KEY, algorithm="HS256")
    response = await client.get(ME, headers=_bearer(token))
    assert_error(response, 401, "token_expired")


@pytest.mark.parametrize(
    ("change", "remove"),
    [({"typ": "refresh"}, None), ({"iss": "someone-else"}, None), ({}, "sid"), ({}, "exp"), ({}, "tid")],
    ids=["typ-refresh", "foreign-issuer", "no-sid", "no-exp", "no-tid"],
)
async def test_token_with_wrong_or_missing_claims_signed_with_the_real_key_is_401(
    client: httpx.AsyncClient, accounts: Accounts, change: dict[str, object], remove: str | None
) -> None:
    owner = await accounts.tenant_owner()
    claims = _claims(owner, **change)
    if remove:
        del claims[remove]
    response = await client.get(ME, headers=_bearer(jwt.encode(claims, JWT_KEY, algorithm="HS256")))
    assert_error(response, 401, "invalid_token")


async def test_token_naming_another_user_in_my_session_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    admin = await accounts.admin()
    claims = _claims(owner, sub=admin.user_id, tid=admin.tenant_id)
    response = await client.get(ME, headers=_bearer(jwt.encode(claims, JWT_KEY, algorithm="HS256")))
    assert_error(response, 401, "session_revoked")


async def test_token_of_a_revoked_session_is_401(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    assert (await client.get(ME, headers=owner.bearer)).status_code == 200
    await accounts.uc.sessions.logout(await accounts.uc.authenticate(owner.access))
    response = await client.get(ME, headers=owner.bearer)
    assert_error(response, 401, "session_revoked")
