"""The mail pages over a real socket: a mailbox on a verified domain, its password chosen by the console and
shown once on a no-store page out of htmx's history (gone on reload, never on the mailbox's page), a reset that
shows a new one, aliases; bad input is a 4xx page; a viewer sees no write controls and the server refuses the
writes anyway; another tenant's mailbox or alias is a 404 page; CSRF is required."""

from __future__ import annotations

import html
import re
import uuid

from tesserra_core.domain.domains import VerificationStatus
from tesserra_core.domain.identity import Role
from tesserra_core.usecases.mail import NewEmailAlias, NewMailbox
from tests.contract.domain_entities import domain as a_domain
from tests.contract.entities import T0
from tests.drivers.http.conftest import PASSWORD, Accounts
from tests.drivers.web.conftest import ConsoleClient
from tests.support import LiveServer

_SECRET = re.compile(r'<code id="secret">([^<]+)</code>')


async def verified_domain(server: LiveServer, tenant_id: str) -> str:
    """A verified domain of the tenant (as if its TXT challenge had been found): its name."""
    name = f"mail-{uuid.uuid4().hex[:10]}.example.com"
    async with server.uc.ports.uow() as uow:
        await uow.domains.add(
            a_domain(tenant_id, name=name, verification_status=VerificationStatus.VERIFIED, verified_at=T0)
        )
        await uow.commit()
    return name


async def _password_shown_once(console: ConsoleClient, location: str) -> str:
    shown = await console.get(location)
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert 'hx-history="false"' in shown.text
    found = _SECRET.search(shown.text)
    assert found, shown.text
    again = await console.get(location)
    assert "This password is gone" in again.text
    assert found.group(1) not in again.text
    return html.unescape(found.group(1))


async def test_a_mailbox_password_is_shown_once_and_reset_shows_a_new_one(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    name = await verified_domain(server, owner.tenant_id)
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/mailboxes")
    made = await console.post("/console/mailboxes", {"address": f"Ana@{name}", "quota_mib": "50"})
    assert made.status_code == 303, made.text
    location = made.headers["location"]
    assert re.fullmatch(r"/console/mailboxes/[^/]+/password", location)
    password = await _password_shown_once(console, location)
    assert len(password) >= 20
    mailbox_path = location.removesuffix("/password")
    page = await console.get(mailbox_path)
    assert f"ana@{name}" in page.text
    assert "50 MiB" in page.text
    assert password not in page.text
    listed = await console.get("/console/mailboxes")
    assert f'href="{mailbox_path}"' in listed.text
    assert password not in listed.text

    reset = await console.post(f"{mailbox_path}/password")
    assert reset.status_code == 303
    second = await _password_shown_once(console, reset.headers["location"])
    assert second != password
    deleted = await console.post(f"{mailbox_path}/delete")
    assert deleted.status_code == 303
    assert (await console.get(mailbox_path)).status_code == 404


async def test_mail_bad_input_is_a_4xx_page(console: ConsoleClient, accounts: Accounts, server: LiveServer) -> None:
    owner = await accounts.tenant_owner()
    name = await verified_domain(server, owner.tenant_id)
    pending = f"pending-{uuid.uuid4().hex[:8]}.example.com"
    async with server.uc.ports.uow() as uow:
        await uow.domains.add(a_domain(owner.tenant_id, name=pending))
        await uow.commit()
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/mailboxes")
    for form, status in (
        ({"address": "not-an-address"}, 400),
        ({"address": f"a@{name}", "quota_mib": "lots"}, 400),
        ({"address": f"a@{name}", "quota_mib": "0"}, 400),
        ({"address": "a@nowhere-of-mine.example.com"}, 404),
        ({"address": f"a@{pending}"}, 422),
    ):
        refused = await console.post("/console/mailboxes", form)
        assert refused.status_code == status, (form, refused.status_code)
        assert 'role="alert"' in refused.text
        assert f'value="{form["address"]}"' in refused.text
    for form, status in (
        ({"source": f"sales@{name}", "destinations": ""}, 400),
        ({"source": f"sales@{name}", "destinations": "nobody"}, 400),
        ({"source": "sales@elsewhere.example.com", "destinations": "x@example.org"}, 404),
    ):
        refused = await console.post("/console/aliases", form)
        assert refused.status_code == status, (form, refused.status_code)
        assert 'role="alert"' in refused.text
    made = await console.post(
        "/console/aliases", {"source": f"sales@{name}", "destinations": "a@x.org, b@y.org\nc@z.org"}
    )
    assert made.status_code == 303, made.text
    alias = await console.get(made.headers["location"])
    assert [f"<li>{d}</li>" in alias.text for d in ("a@x.org", "b@y.org", "c@z.org")] == [True, True, True]
    taken = await console.post("/console/aliases", {"source": f"sales@{name}", "destinations": "d@x.org"})
    assert taken.status_code == 409
    assert (await console.post(f"{made.headers['location']}/delete")).status_code == 303
    assert "No aliases yet" in (await console.get("/console/aliases")).text


async def test_a_viewer_sees_no_mail_write_controls_and_writes_are_refused(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    name = await verified_domain(server, owner.tenant_id)
    actor = await server.uc.authenticate(owner.access)
    mailbox = await server.uc.mail.create_mailbox(actor, NewMailbox(address=f"ana@{name}", password="long-enough-pw-1"))
    alias = await server.uc.mail.create_alias(actor, NewEmailAlias(source=f"sales@{name}", destinations=["a@x.org"]))
    viewer = await accounts.member(owner.tenant_id, Role.VIEWER)
    await console.sign_in(viewer.email, PASSWORD)
    for path, hidden in (
        ("/console/mailboxes", "Add a mailbox"),
        (f"/console/mailboxes/{mailbox.id}", "Choose a new password"),
        ("/console/aliases", "Add an alias"),
        (f"/console/aliases/{alias.id}", "Delete alias"),
    ):
        page = await console.get(path)
        assert page.status_code == 200, path
        assert hidden not in page.text, path
        assert 'method="post" action="/console/mailboxes' not in page.text
        assert 'method="post" action="/console/aliases' not in page.text
    for path, form in (
        ("/console/mailboxes", {"address": f"sneaky@{name}"}),
        (f"/console/mailboxes/{mailbox.id}/password", {}),
        (f"/console/mailboxes/{mailbox.id}/delete", {}),
        ("/console/aliases", {"source": f"sneaky@{name}", "destinations": "a@x.org"}),
        (f"/console/aliases/{alias.id}/delete", {}),
    ):
        refused = await console.post(path, form)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text
    assert "sneaky" not in (await console.get("/console/mailboxes")).text
    assert (await console.get(f"/console/mailboxes/{mailbox.id}")).status_code == 200


async def test_another_tenants_mailbox_and_alias_are_404_pages(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    mine, theirs = await accounts.tenant_owner(), await accounts.tenant_owner()
    name = await verified_domain(server, theirs.tenant_id)
    actor = await server.uc.authenticate(theirs.access)
    mailbox = await server.uc.mail.create_mailbox(actor, NewMailbox(address=f"ceo@{name}", password="long-enough-pw-1"))
    alias = await server.uc.mail.create_alias(actor, NewEmailAlias(source=f"all@{name}", destinations=["a@x.org"]))
    await console.sign_in(mine.email, PASSWORD)
    for path in (f"/console/mailboxes/{mailbox.id}", f"/console/aliases/{alias.id}"):
        page = await console.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text
        assert name not in page.text
    for path in (
        f"/console/mailboxes/{mailbox.id}/password",
        f"/console/mailboxes/{mailbox.id}/delete",
        f"/console/aliases/{alias.id}/delete",
    ):
        refused = await console.post(path)
        assert refused.status_code == 404, path
    shown = await console.get(f"/console/mailboxes/{mailbox.id}/password")
    assert "This password is gone" in shown.text
    refused = await console.post("/console/mailboxes", {"address": f"me@{name}"})  # their domain is not mine
    assert refused.status_code == 404
    assert (await server.uc.mail.get_mailbox(actor, mailbox.id)).address == f"ceo@{name}"


async def test_mail_writes_need_the_csrf_token_and_this_origin(
    console: ConsoleClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    name = await verified_domain(server, owner.tenant_id)
    await console.sign_in(owner.email, PASSWORD)
    await console.get("/console/mailboxes")
    for path, form in (
        ("/console/mailboxes", {"address": f"forged@{name}"}),
        ("/console/aliases", {"source": f"forged@{name}", "destinations": "a@x.org"}),
    ):
        assert (await console.post(path, form, csrf=None)).status_code == 403
        assert (await console.post(path, form, csrf="forged")).status_code == 403
        assert (await console.post(path, form, origin="https://evil.example")).status_code == 403
    assert "forged" not in (await console.get("/console/mailboxes")).text
    assert "forged" not in (await console.get("/console/aliases")).text
