"""Three `tesserra serve` nodes behind HAProxy (tests/servers/cluster.py), shared by the tests of a
module that leaves them running; clients from fresh loopback addresses (HAProxy tells the nodes
each client's address, which the per-address limits count), and tenants made through the API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.servers.cluster import ADMIN_EMAIL, ADMIN_PASSWORD, NODE_HEADER, Cluster, cluster
from tests.servers.launchers import CATALOG, time_server, write_launchers  # noqa: F401 (time_server: a fixture)

pytestmark = pytest.mark.postgres

_hosts = (n for n in itertools.count(1) if 0 < n & 255 < 255)


def fresh_address() -> str:
    """A loopback source address (127.9.x.y) no other client of this run used."""
    n = next(_hosts)
    return f"127.9.{(n >> 8) & 255}.{n & 255}"


def client(url: str, *, address: str | None = None, fresh_connections: bool = False) -> httpx.AsyncClient:
    """A client from ``address`` (default: a fresh one); ``fresh_connections``: one connection per request."""
    transport = httpx.AsyncHTTPTransport(
        local_address=address or fresh_address(),
        limits=httpx.Limits(max_keepalive_connections=0) if fresh_connections else httpx.Limits(),
    )
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=60.0)


def node_of(response: httpx.Response) -> str:
    return response.headers[NODE_HEADER]


@dataclass
class Owner:
    email: str
    password: str
    tenant_id: str
    access: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


async def login(http: httpx.AsyncClient, email: str, password: str) -> str:
    answer = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def new_owner(url: str, plan: str = "free") -> Owner:
    """A new tenant with its owner, made by the platform admin through the balancer; the owner logged in."""
    email = f"owner-{uuid.uuid4().hex[:10]}@cluster.tesserra.test"
    password = "owner-password-" + uuid.uuid4().hex[:8]
    async with client(url) as http:
        admin = {"Authorization": f"Bearer {await login(http, ADMIN_EMAIL, ADMIN_PASSWORD)}"}
        made = await http.post(
            "/api/admin/tenants",
            json={"name": f"T {uuid.uuid4().hex[:8]}", "plan": plan, "owner_email": email, "owner_password": password},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        access = await login(http, email, password)
    return Owner(email, password, made.json()["id"], access)


@pytest.fixture(scope="module")
async def nodes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    scripts = ",".join(write_launchers(tmp / "bin"))
    async with cluster(tmp, TESSERRA_CATALOG_SOURCE=str(CATALOG), TESSERRA_TOOL_SCRIPT_DIRS=scripts) as made:
        yield made
