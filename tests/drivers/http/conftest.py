"""Fixtures for the HTTP driver tests: one live server per backend, loopback clients, accounts.

Rate limits are real and counted in-process per server, so every client gets its own source
address in 127.0.0.0/8 (per-IP login limit) and every account logs in afresh (per-token limits).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tesserra_adapters.bootstrap import subkey
from tesserra_core.domain.identity import Membership, Principal, Role, User
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sessions import Credentials
from tesserra_core.usecases.tenants import NewTenant
from tests.support import LiveServer, database_url, live_server, test_settings

# The server's secret comes from test_settings; the JWT and digest keys are derived from it as the
# container derives them, so tests can forge tokens with the real key (e.g. already expired ones).
SECRET = test_settings(Path("."), "sqlite+aiosqlite://").secret()
JWT_KEY = subkey(SECRET, "jwt")
DIGEST_KEY = subkey(SECRET, "digest")

ADMIN_EMAIL = "root@tesserra.test"
ADMIN_PASSWORD = "root-password-1"
PASSWORD = "correct horse battery"

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

ERROR_FIELDS = {"detail", "success", "error", "code", "request_id"}


_hosts = (n for n in itertools.count(2) if 0 < n & 255 < 255)


def fresh_address() -> str:
    """A loopback source address no other client of this run has used (127.0.0.2, 127.0.0.3, ...)."""
    n = next(_hosts)
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


async def login_burst(url: str, attempts: list[dict[str, str]], after: float = 0.0) -> list[httpx.Response]:
    """Every login attempt at once (``after`` seconds from now), each from its own source address and
    connection, so the per-IP limit is never what stops one."""

    async def attempt(credentials: dict[str, str]) -> httpx.Response:
        await asyncio.sleep(after)
        transport = httpx.AsyncHTTPTransport(local_address=fresh_address())
        async with httpx.AsyncClient(base_url=url, transport=transport, timeout=60.0) as client:
            return await client.post("/api/auth/login", json=credentials)

    return list(await asyncio.gather(*(attempt(c) for c in attempts)))


@pytest.fixture(scope="session", params=BACKENDS)
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp(f"http-{request.param}")
    async with database_url(request.param, tmp) as url, live_server(test_settings(tmp, url)) as srv:
        assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield srv


ClientFactory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def clients(server: LiveServer) -> AsyncIterator[ClientFactory]:
    """``clients()`` opens an AsyncClient from a fresh loopback address (or ``clients(address)``)."""
    opened: list[httpx.AsyncClient] = []

    def make(address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address or fresh_address())
        client = httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20.0)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.aclose()


@pytest.fixture
async def client(clients: ClientFactory) -> httpx.AsyncClient:
    return clients()


@dataclass
class Account:
    email: str
    password: str
    user_id: str
    tenant_id: str
    access: str
    refresh: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


async def sign_in(uc: UseCases, email: str, password: str, tenant_id: str | None = None) -> Account:
    """Log in through the use case (not the rate-limited endpoint): a fresh session, fresh counters."""
    pair = await uc.sessions.login(Credentials(email=email, password=password, tenant_id=tenant_id))
    principal = await uc.authenticate(pair.access_token)
    return Account(email, password, principal.user_id, principal.tenant_id, pair.access_token, pair.refresh_token)


class Accounts:
    """Creates tenants and users directly through the use cases, and signs them in."""

    def __init__(self, uc: UseCases) -> None:
        self.uc = uc
        self._admin_principal: Principal | None = None

    async def admin(self) -> Account:
        """The platform administrator (owner of the first tenant), in a session of its own."""
        return await sign_in(self.uc, ADMIN_EMAIL, ADMIN_PASSWORD)

    async def admin_principal(self) -> Principal:
        """The administrator as the use cases see them (one session, kept for this server's life)."""
        if self._admin_principal is None:
            self._admin_principal = await self.uc.authenticate((await self.admin()).access)
        return self._admin_principal

    async def tenant_owner(self, name: str = "Acme") -> Account:
        """A new tenant, owned by a new (non-admin) user, signed in."""
        email = unique_email("owner")
        await self.uc.tenants.create(
            await self.admin_principal(),
            NewTenant(name=f"{name} {uuid.uuid4().hex[:6]}", owner_email=email, owner_password=PASSWORD),
        )
        return await sign_in(self.uc, email, PASSWORD)

    async def member(self, tenant_id: str, role: Role) -> Account:
        """A new user holding ``role`` in ``tenant_id`` only, signed in."""
        ports = self.uc.ports
        now = datetime.now(UTC)
        email = unique_email(role.value)
        user = User(
            id=ports.ids.new(),
            email=email,
            name=role.value,
            password_hash=await ports.hasher.hash(PASSWORD),
            is_platform_admin=False,
            active=True,
            failed_logins=0,
            locked_until=None,
            created_at=now,
        )
        async with ports.uow() as uow:
            await uow.users.add(user)
            await uow.memberships.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role, created_at=now))
            await uow.commit()
        return await sign_in(self.uc, email, PASSWORD)


@pytest.fixture(scope="session")
def accounts(server: LiveServer) -> Accounts:
    return Accounts(server.uc)


KeyMinter = Callable[..., Awaitable[str]]


@pytest.fixture
def mint_key(client: httpx.AsyncClient) -> KeyMinter:
    """``await mint_key(account, **fields)`` -> the plaintext key, minted over HTTP (201 asserted)."""

    async def mint(account: Account, **fields: object) -> str:
        body = {"name": f"key-{uuid.uuid4().hex[:6]}", **fields}
        response = await client.post("/api/auth/keys/generate", json=body, headers=account.bearer)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    return mint


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    """``response`` failed with ``status`` and the documented error body (and ``code`` if given)."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, object] = response.json()
    assert set(body) >= ERROR_FIELDS, body
    assert body["success"] is False
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert body["error"] == body["detail"]
    assert isinstance(body["request_id"], str), body
    assert body["request_id"], body
    assert body["request_id"] == response.headers.get("x-request-id"), (body, dict(response.headers))
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture(scope="session")
async def shared_owner(accounts: Accounts) -> Account:
    """One tenant owner for tests that only send requests that fail validation or create nothing
    rate-limited; tests that count, revoke or lock anything make their own accounts."""
    return await accounts.tenant_owner("Shared")
