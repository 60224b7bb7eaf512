"""Mailboxes and aliases on the memory adapters: verified domains only, hashed passwords, quota,
duplicates and loops refused, tenants kept apart."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Conflict, NotFound, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.domains import NewDomain
from tesserra_core.usecases.mail import (
    EmailAliasChanges,
    MailboxChanges,
    MailboxPassword,
    NewEmailAlias,
    NewMailbox,
)
from tests.unit.conftest import make_team
from tests.unit.helpers import Team, store

PASSWORD = "mailbox password 1"


async def verified_domain(uc: UseCases, actor: Principal) -> str:
    view = await uc.domains.create(actor, NewDomain(name=f"m{uuid.uuid4().hex[:10]}.com"))
    resolver = uc.ports.resolver
    assert isinstance(resolver, MemoryResolver)
    resolver.publish_txt(view.verification_record.name, view.verification_record.value)
    assert (await uc.domains.verify(actor, view.id)).verification_status == "verified"
    return view.name


async def test_a_mailbox_on_a_verified_domain_stores_only_an_argon2id_hash(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    view = await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"Ana@{domain.upper()}", password=PASSWORD))
    assert view.address == f"ana@{domain}"
    assert "password" not in msgspec.to_builtins(view)
    assert "password_hash" not in msgspec.to_builtins(view)
    stored = store(uc).mailboxes[view.id]
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert await uc.ports.hasher.verify(stored.password_hash, PASSWORD)


async def test_a_mailbox_given_no_password_gets_a_strong_one_shown_once(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    made = await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"gen@{domain}"))
    assert made.password is not None
    assert len(made.password) == 24  # 144 random bits, URL-safe
    assert await uc.ports.hasher.verify(store(uc).mailboxes[made.id].password_hash, made.password)
    assert "password" not in msgspec.to_builtins(await uc.mail.get_mailbox(team.owner, made.id))
    reset = await uc.mail.reset_password(team.owner, made.id, MailboxPassword())
    assert reset.password is not None
    assert reset.password != made.password
    stored = store(uc).mailboxes[made.id].password_hash
    assert await uc.ports.hasher.verify(stored, reset.password)
    assert not await uc.ports.hasher.verify(stored, made.password)
    chosen = await uc.mail.reset_password(team.owner, made.id, MailboxPassword(password=PASSWORD))
    assert chosen.password is None
    assert "password" not in msgspec.to_builtins(chosen)


async def test_mailboxes_need_a_verified_domain_of_the_tenant(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    pending = await uc.domains.create(team.owner, NewDomain(name=f"p{uuid.uuid4().hex[:10]}.com"))
    with pytest.raises(Unprocessable) as caught:
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"ana@{pending.name}", password=PASSWORD))
    assert caught.value.code == "domain_not_verified"
    theirs = await verified_domain(uc, other.owner)
    with pytest.raises(NotFound):
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"ana@{theirs}", password=PASSWORD))
    with pytest.raises(NotFound):
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=f"x@{theirs}", destinations=["a@b.com"]))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"address": "no-at-sign", "password": PASSWORD}, "invalid_address"),
        ({"address": "a b@x.com", "password": PASSWORD}, "invalid_address"),
        ({"address": "ana@x.com", "password": "short"}, "weak_password"),
        ({"address": "ana@x.com", "password": PASSWORD, "quota_bytes": 10}, "invalid_quota"),
    ],
)
async def test_bad_mailboxes_are_400(uc: UseCases, team: Team, fields: dict[str, object], code: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.mail.create_mailbox(team.owner, NewMailbox(**fields))  # type: ignore[arg-type]
    assert caught.value.code == code


async def test_mailbox_lifecycle_and_quota(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    views = [
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"user{i}@{domain}", password=PASSWORD))
        for i in range(5)
    ]
    with pytest.raises(PaymentRequired) as caught:
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"user9@{domain}", password=PASSWORD))
    assert "mailboxes" in caught.value.message
    await uc.mail.delete_mailbox(team.owner, views[0].id)
    with pytest.raises(Conflict):
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=views[1].address, password=PASSWORD))
    page = await uc.mail.list_mailboxes(team.owner, PageRequest(2, 1))
    assert page.total == 4
    assert [m.address for m in page.items] == sorted(v.address for v in views[1:])[1:3]
    bigger = await uc.mail.update_mailbox(team.owner, views[1].id, MailboxChanges(quota_bytes=5 * 1024**3))
    assert bigger.quota_bytes == 5 * 1024**3
    old_hash = store(uc).mailboxes[views[1].id].password_hash
    await uc.mail.reset_password(team.owner, views[1].id, MailboxPassword(password="a brand new password"))
    new_hash = store(uc).mailboxes[views[1].id].password_hash
    assert new_hash != old_hash
    assert await uc.ports.hasher.verify(new_hash, "a brand new password")
    assert (await uc.mail.get_mailbox(team.owner, views[1].id)).quota_bytes == 5 * 1024**3


async def test_another_tenants_mailboxes_and_aliases_are_404(uc: UseCases, team: Team, admin: Principal) -> None:
    other = await make_team(uc, admin)
    domain = await verified_domain(uc, team.owner)
    box = await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"ana@{domain}", password=PASSWORD))
    alias = await uc.mail.create_alias(team.owner, NewEmailAlias(source=f"a@{domain}", destinations=["x@y.com"]))
    for call in (
        uc.mail.get_mailbox(other.owner, box.id),
        uc.mail.update_mailbox(other.owner, box.id, MailboxChanges(quota_bytes=2 * 1024**2)),
        uc.mail.reset_password(other.owner, box.id, MailboxPassword(password=PASSWORD)),
        uc.mail.delete_mailbox(other.owner, box.id),
        uc.mail.get_alias(other.owner, alias.id),
        uc.mail.update_alias(other.owner, alias.id, EmailAliasChanges(destinations=["z@y.com"])),
        uc.mail.delete_alias(other.owner, alias.id),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await uc.mail.list_mailboxes(other.owner, PageRequest())).total == 0
    assert (await uc.mail.list_aliases(other.owner, PageRequest())).total == 0
    assert (await uc.mail.get_mailbox(team.owner, box.id)).quota_bytes == box.quota_bytes


async def test_aliases_count_duplicates_once_and_refuse_mailbox_addresses(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    made = await uc.mail.create_alias(
        team.owner, NewEmailAlias(source=f"Vendas@{domain}", destinations=["Ana@Gmail.com", f"bruno@{domain}"])
    )
    assert made.source == f"vendas@{domain}"
    assert made.destinations == ["ana@gmail.com", f"bruno@{domain}"]
    with pytest.raises(Conflict) as caught:
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=f"vendas@{domain}", destinations=["x@y.com"]))
    assert caught.value.code == "alias_exists"
    await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"caixa@{domain}", password=PASSWORD))
    with pytest.raises(Conflict):
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=f"caixa@{domain}", destinations=["x@y.com"]))
    with pytest.raises(Conflict):
        await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"vendas@{domain}", password=PASSWORD))
    twice = await uc.mail.create_alias(
        team.owner, NewEmailAlias(source=f"d@{domain}", destinations=["a@b.com", "A@b.com"])
    )
    assert twice.destinations == ["a@b.com"]  # an address listed twice counts once
    with pytest.raises(ValidationFailed):
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=f"d@{domain}", destinations=[]))


async def test_alias_loops_are_refused_however_long(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    a, b, c, d = (f"{n}@{domain}" for n in "abcd")
    with pytest.raises(Conflict) as caught:
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=a, destinations=[a]))
    assert caught.value.code == "alias_loop"
    await uc.mail.create_alias(team.owner, NewEmailAlias(source=a, destinations=[b, "out@x.com"]))
    await uc.mail.create_alias(team.owner, NewEmailAlias(source=b, destinations=[c]))
    with pytest.raises(Conflict) as caught:
        await uc.mail.create_alias(team.owner, NewEmailAlias(source=c, destinations=["keep@x.com", a]))
    assert caught.value.code == "alias_loop"
    last = await uc.mail.create_alias(team.owner, NewEmailAlias(source=c, destinations=[d]))
    with pytest.raises(Conflict):  # an update can close a loop too
        await uc.mail.update_alias(team.owner, last.id, EmailAliasChanges(destinations=[d, a]))
    fine = await uc.mail.update_alias(team.owner, last.id, EmailAliasChanges(destinations=[d, "e@x.com"]))
    assert fine.destinations == [d, "e@x.com"]
    assert (await uc.mail.list_aliases(team.owner, PageRequest())).total == 3
    await uc.mail.delete_alias(team.owner, last.id)
    with pytest.raises(NotFound):
        await uc.mail.get_alias(team.owner, last.id)


async def test_a_domain_with_mailboxes_cannot_be_deleted(uc: UseCases, team: Team) -> None:
    domain = await verified_domain(uc, team.owner)
    box = await uc.mail.create_mailbox(team.owner, NewMailbox(address=f"ana@{domain}", password=PASSWORD))
    with pytest.raises(Conflict) as caught:
        await uc.domains.delete(team.owner, box.domain_id)
    assert caught.value.code == "domain_in_use"
    await uc.mail.delete_mailbox(team.owner, box.id)
    await uc.domains.delete(team.owner, box.domain_id)
