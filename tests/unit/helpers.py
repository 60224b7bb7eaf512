"""Small helpers for use-case tests: a controllable clock, signing in, adding users to the store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec

from tesserra_adapters.memory.unit_of_work import MemoryStore, MemoryUnitOfWorkFactory
from tesserra_core.domain.identity import Membership, Principal, Role, User
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sessions import Credentials, TokenPair

ADMIN_EMAIL = "admin@tesserra.test"
PASSWORD = "correct horse battery staple"


class FakeClock:
    """Wall and monotonic time that move together, only when told. Starts at the real time,
    because access tokens are checked against it."""

    def __init__(self) -> None:
        self.wall = datetime.now(UTC)
        self.mono = 1_000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass(frozen=True)
class Team:
    tenant_id: str
    owner: Principal
    member: Principal
    owner_email: str
    member_email: str


def unique_email(label: str = "user") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


def store(uc: UseCases) -> MemoryStore:
    uow = uc.ports.uow
    assert isinstance(uow, MemoryUnitOfWorkFactory)
    return uow.store


async def sign_in(
    uc: UseCases, email: str, password: str = PASSWORD, tenant_id: str | None = None
) -> tuple[TokenPair, Principal]:
    pair = await uc.sessions.login(Credentials(email=email, password=password, tenant_id=tenant_id))
    return pair, await uc.authenticate(pair.access_token)


async def add_user(uc: UseCases, tenant_id: str, role: Role, *, email: str | None = None, active: bool = True) -> str:
    """A user with ``PASSWORD`` and a membership of ``role`` in the tenant; returns the email."""
    email = email or unique_email(role.value)
    now = uc.ports.clock.now()
    user = User(
        id=uc.ports.ids.new(),
        email=email,
        name=role.value.title(),
        password_hash=await uc.ports.hasher.hash(PASSWORD),
        is_platform_admin=False,
        active=active,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    async with uc.ports.uow() as uow:
        await uow.users.add(user)
        await uow.memberships.add(Membership(tenant_id=tenant_id, user_id=user.id, role=role, created_at=now))
        await uow.commit()
    return email


async def stored_user(uc: UseCases, email: str) -> User:
    async with uc.ports.uow(read_only=True) as uow:
        user = await uow.users.get_by_email(email)
    assert user is not None
    return user


def set_role(uc: UseCases, tenant_id: str, user_id: str, role: Role) -> None:
    """Change a membership in the store (no use case does it yet)."""
    memberships = store(uc).memberships
    memberships[(tenant_id, user_id)] = msgspec.structs.replace(memberships[(tenant_id, user_id)], role=role)
