"""Infra SSH from the web console, on the in-memory adapters: a platform administrator signed in to the
console acts for themselves (as an admin key acts for its X-User-Id), approves another's lease there
(Via.CONSOLE, recorded), and nobody else gets in: not a tenant owner in the console, not a console person
acting for someone else, not a plain login. Leases list by person and by state as of now."""

from __future__ import annotations

import msgspec
import pytest

from tesserra_core.domain.identity import Membership, Principal, Role, User
from tesserra_core.domain.infra_ssh_audit import Via
from tesserra_core.domain.infra_ssh_leases import LeaseState
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Forbidden
from tesserra_core.facade import UseCases
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_lease_views import LeaseQuery, NewLease
from tesserra_core.usecases.operators import NewAdmin
from tests.unit.helpers import PASSWORD, FakeClock, add_user, sign_in, unique_email
from tests.unit.infra_ssh_support import simulated_host

PAGE = PageRequest(100, 0)


async def _in_console(uc: UseCases, email: str) -> Principal:
    """``email`` signed in to the console, as its pages see them (acting for themselves)."""
    _, actor = await sign_in(uc, email)
    _, anonymous = await uc.console_sessions.open("test")
    _, session = await uc.console_sessions.sign_in(anonymous, actor, "test")
    person = await uc.console_sessions.principal(session)
    assert person.console
    return msgspec.structs.replace(person, acting_user_id=person.user_id)


async def _platform_admin_in(uc: UseCases, tenant_id: str) -> str:
    now, email = uc.ports.clock.now(), unique_email("approver")
    user = User(
        id=uc.ports.ids.new(),
        email=email,
        name="Approver",
        password_hash=await uc.ports.hasher.hash(PASSWORD),
        is_platform_admin=True,
        active=True,
        failed_logins=0,
        locked_until=None,
        created_at=now,
    )
    async with uc.ports.uow() as uow:
        await uow.users.add(user)
        await uow.memberships.add(Membership(tenant_id=tenant_id, user_id=user.id, role=Role.ADMIN, created_at=now))
        await uow.commit()
    return email


async def _tenant(uc: UseCases) -> tuple[str, str]:
    email = unique_email("asker")
    tenant = await uc.operators.create_admin(NewAdmin(email=email, password=PASSWORD, tenant_name=email[:20]))
    return tenant.id, email


def _ask(host_id: str, **more: object) -> NewLease:
    return msgspec.convert({"host_ids": [host_id], "actions": ["touch_file"], "reason": "deploy"} | more, NewLease)


async def test_a_platform_administrator_in_the_console_asks_and_another_approves(uc: UseCases) -> None:
    tenant_id, asker_email = await _tenant(uc)
    asker = await _in_console(uc, asker_email)
    approver = await _in_console(uc, await _platform_admin_in(uc, tenant_id))
    host, _ = await simulated_host(uc, asker)
    lease = await uc.infra_ssh.request_lease(asker, _ask(host.id), Via.CONSOLE)
    assert lease.user_id == asker.user_id
    with pytest.raises(Forbidden) as own:
        await uc.infra_ssh.approve_lease(asker, lease.id, Via.CONSOLE)
    assert own.value.code == "denied"
    with pytest.raises(Forbidden) as over_mcp:
        await uc.infra_ssh.approve_lease(approver, lease.id, Via.MCP)
    assert over_mcp.value.code == "denied"
    active = await uc.infra_ssh.approve_lease(approver, lease.id, Via.CONSOLE)
    assert active.state is LeaseState.ACTIVE
    assert [a.user_id for a in active.approvals] == [approver.user_id]
    records = (await uc.infra_ssh.query_audit(asker, AuditQuery(lease_id=lease.id), PAGE)).items
    assert [(r.event.value, r.outcome.value, r.via, r.user_id) for r in reversed(records)] == [
        ("lease_requested", "ok", Via.CONSOLE, asker.user_id),
        ("lease_approved", "denied", Via.CONSOLE, asker.user_id),
        ("lease_approved", "denied", Via.MCP, approver.user_id),
        ("lease_approved", "ok", Via.CONSOLE, approver.user_id),
    ]
    assert (await uc.infra_ssh.verify_audit(approver)).ok


async def test_nobody_else_gets_in_from_a_login(uc: UseCases) -> None:
    tenant_id, asker_email = await _tenant(uc)
    asker = await _in_console(uc, asker_email)
    owner = await _in_console(uc, await add_user(uc, tenant_id, Role.OWNER))
    _, plain_login = await sign_in(uc, asker_email)
    as_someone_else = msgspec.structs.replace(asker, acting_user_id="someone-else@example.com")
    plain_acting = msgspec.structs.replace(plain_login, acting_user_id=plain_login.user_id)
    unnamed = msgspec.structs.replace(asker, acting_user_id=None)
    for refused in (owner, as_someone_else, plain_login, plain_acting, unnamed):
        with pytest.raises(Forbidden) as caught:
            await uc.infra_ssh.list_hosts(refused, PAGE)
        assert caught.value.code == "admin_key_required"
    assert (await uc.infra_ssh.list_hosts(asker, PAGE)).total == 0


async def test_leases_list_by_person_and_by_state_as_of_now(uc: UseCases, clock: FakeClock) -> None:
    tenant_id, asker_email = await _tenant(uc)
    asker = await _in_console(uc, asker_email)
    other = await _in_console(uc, await _platform_admin_in(uc, tenant_id))
    host, _ = await simulated_host(uc, asker)
    short = await uc.infra_ssh.request_lease(asker, _ask(host.id, duration_seconds=60), Via.CONSOLE)
    pending = await uc.infra_ssh.request_lease(asker, _ask(host.id), Via.CONSOLE)
    theirs = await uc.infra_ssh.request_lease(other, _ask(host.id), Via.CONSOLE)
    await uc.infra_ssh.approve_lease(other, short.id, Via.CONSOLE)
    await uc.infra_ssh.approve_lease(asker, theirs.id, Via.CONSOLE)

    async def listed(**query: object) -> list[str]:
        page = await uc.infra_ssh.list_leases(asker, PAGE, msgspec.convert(query, LeaseQuery))
        return [lease.id for lease in page.items]

    assert await listed() == [theirs.id, pending.id, short.id]
    assert await listed(mine=True) == [pending.id, short.id]
    assert await listed(state="active") == [theirs.id, short.id]
    assert await listed(state="pending", mine=True) == [pending.id]
    clock.advance(61)  # the short lease is past its end: expired, before anything writes it so
    assert await listed(state="active") == [theirs.id]
    assert await listed(state="expired") == [short.id]
    assert await listed(state="expired", mine=True) == [short.id]
    page = await uc.infra_ssh.list_leases(asker, PageRequest(1, 0), LeaseQuery(state=LeaseState.PENDING))
    assert (page.total, [x.id for x in page.items]) == (1, [pending.id])
