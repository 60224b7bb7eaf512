"""Infra SSH test helpers on the in-memory adapters: an operator (an admin-tier key acting for a person)
in a tenant of its own, and a simulated host registered both in the fake SSH port and the inventory."""

from __future__ import annotations

import itertools

from tesserra_adapters.memory.ssh import FakeSshHost, MemorySshClient
from tesserra_core.domain.identity import Principal, Scope, Tier
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.infra_ssh_views import HostView, NewHost
from tesserra_core.usecases.operators import NewAdmin
from tests.servers.sshd import KeyPair
from tests.unit.helpers import PASSWORD, sign_in, unique_email

ALL_ACTIONS = [
    "echo",
    "uptime",
    "disk_usage",
    "path_exists",
    "wait",
    "service_status",
    "restart_service",
    "touch_file",
    "hold_maintenance",
]
_addresses = itertools.count(1)


async def operator_key(uc: UseCases, label: str = "ops", tier: Tier = Tier.ADMIN) -> str:
    """A key of ``tier`` minted by a new platform administrator in a tenant of their own."""
    email = unique_email(label)
    await uc.operators.create_admin(NewAdmin(email=email, password=PASSWORD, tenant_name=email.split("@")[0]))
    _, admin = await sign_in(uc, email)
    scopes = [Scope.TOOLS_READ, Scope.TOOLS_WRITE]
    return (await uc.api_keys.generate(admin, NewApiKey(name=label, scopes=scopes, tier=tier))).key


async def operator_keys(uc: UseCases, count: int, label: str = "ops") -> list[str]:
    """``count`` admin-tier keys of one tenant (one platform administrator mints them all)."""
    email = unique_email(label)
    await uc.operators.create_admin(NewAdmin(email=email, password=PASSWORD, tenant_name=email.split("@")[0]))
    _, admin = await sign_in(uc, email)
    scopes = [Scope.TOOLS_READ, Scope.TOOLS_WRITE]
    made = [
        await uc.api_keys.generate(admin, NewApiKey(name=f"{label}{i}", scopes=scopes, tier=Tier.ADMIN))
        for i in range(count)
    ]
    return [m.key for m in made]


async def operator(uc: UseCases, label: str = "ops", user: str = "alice@example.com") -> Principal:
    return await uc.authenticate(await operator_key(uc, label), user)


def fake(uc: UseCases) -> MemorySshClient:
    client = uc.ports.ssh
    assert isinstance(client, MemorySshClient)
    return client


async def simulated_host(
    uc: UseCases, actor: Principal, name: str = "web-1", actions: list[str] | None = None, **extra: object
) -> tuple[HostView, FakeSshHost]:
    """A host simulated by the fake SSH port, added to ``actor``'s inventory with its key pinned."""
    user_key, host_key = KeyPair.generate(), KeyPair.generate()
    address = f"10.9.0.{next(_addresses)}"
    host = FakeSshHost(host_key=host_key.public, login="ops", authorized={user_key.public})
    if isinstance(uc.ports.ssh, MemorySshClient):  # on the real port, the host is only in the inventory
        fake(uc).add_host(address, 22, host)
    new = NewHost(
        name=name,
        address=address,
        login="ops",
        host_key=host_key.public,
        private_key=user_key.private.decode(),
        actions=ALL_ACTIONS if actions is None else actions,
        **extra,  # type: ignore[arg-type]
    )
    return await uc.infra_ssh.add_host(actor, new), host
