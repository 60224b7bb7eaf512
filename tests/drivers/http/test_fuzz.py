"""A bounded, seeded fuzz of the body and headers of login and key generation: never a 5xx, and every
failure carries the documented error body."""

from __future__ import annotations

import json
import random
import string

import httpx

from tests.drivers.http.conftest import Account, ClientFactory, assert_error

SEED = 20_240_601
FIELDS = ["email", "password", "tenant_id", "name", "scopes", "tier", "expires_at", "refresh_token", "", "__proto__"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/msgpack",
    "",
]
TEXTS = [
    "",
    " ",
    "a@b.co",
    "\ud83d",
    "x\udc00y",
    "admin",
    "tessera_x_y",
    "' OR 1=1 --",
    "%00",
    "\u0000",
    "ü" * 40,
    "🔑",
    "x" * 2000,
]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TEXTS)
    return "".join(rng.choice(string.printable + "éß中\u202e") for _ in range(rng.randint(0, 80)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randint(0, 9 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30])
    if kind == 3:
        return rng.choice([0.5, -1e308, 1e-310, 3.0])
    if kind in (4, 5):
        return _text(rng)
    if kind in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(FIELDS): _value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    if roll < 0.2:
        return json.dumps(_value(rng)).encode()[: rng.randint(0, 40)]  # truncated JSON
    if roll < 0.3:
        return b"[" * rng.randint(100, 3000)
    fields = {rng.choice(FIELDS): _value(rng) for _ in range(rng.randint(0, 5))}
    if rng.random() < 0.5:  # near-valid: the right field names, odd values
        fields = {"email": _value(rng), "password": _value(rng), "name": _value(rng), **fields}
    return json.dumps(fields, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def _headers(rng: random.Random, auth: dict[str, str] | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    content_type = rng.choice(CONTENT_TYPES)
    if content_type:
        headers["content-type"] = content_type
    printable = string.ascii_letters + string.digits + string.punctuation
    if rng.random() < 0.4:
        headers["Idempotency-Key"] = "".join(rng.choice(printable) for _ in range(rng.randint(1, 300)))
    if rng.random() < 0.3:
        headers["X-Request-Id"] = "".join(rng.choice(printable) for _ in range(rng.randint(1, 200)))
    if rng.random() < 0.2:
        headers["X-User-Id"] = "".join(rng.choice(printable) for _ in range(rng.randint(1, 200)))
    if auth is not None and rng.random() < 0.8:
        headers.update(auth)
    elif rng.random() < 0.5:
        name = rng.choice(["Authorization", "X-API-Key", "X-Tesserra-Api-Key"])
        scheme = rng.choice(["Bearer ", "Basic ", "", "bearer  "])
        headers[name] = scheme + "".join(rng.choice(printable) for _ in range(rng.randint(1, 120)))
    return headers


def _assert_handled(response: httpx.Response, sent: bytes, headers: dict[str, str]) -> None:
    assert response.status_code < 500, (response.status_code, response.text, sent[:200], headers)
    if response.status_code >= 400:
        assert_error(response, response.status_code)


async def test_fuzzed_logins_never_answer_5xx(clients: ClientFactory) -> None:
    rng = random.Random(SEED)
    client = clients()
    for i in range(100):
        if i % 4 == 0:  # stay under the per-address login limit, so bodies are really parsed
            client = clients()
        body, headers = _body(rng), _headers(rng, None)
        response = await client.post("/api/auth/login", content=body, headers=headers)
        _assert_handled(response, body, headers)
        assert response.status_code != 200, "no fuzzed body may log in"


async def test_fuzzed_key_generation_never_answers_5xx(client: httpx.AsyncClient, shared_owner: Account) -> None:
    rng = random.Random(SEED + 1)
    for _ in range(100):
        body, headers = _body(rng), _headers(rng, shared_owner.bearer)
        response = await client.post("/api/auth/keys/generate", content=body, headers=headers)
        _assert_handled(response, body, headers)
        if response.status_code == 201:
            assert response.json()["api_key"]["created_by"] == shared_owner.user_id
