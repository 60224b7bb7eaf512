"""Invitations emailed through a real SMTP server on loopback (STARTTLS with a login, its certificate
checked against TESSERRA_SMTP_CA_FILE): an owner invites from the console, the invitee finds the link in
their mail and joins with it, and the page says it was emailed. A mail server that refuses leaves the
invitation standing and the page says why. REST answers the same fields."""

from __future__ import annotations

import re
import ssl
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Accounts, unique_email
from tests.drivers.web.conftest import ConsoleClient
from tests.servers.smtp import SmtpServer, smtp_server
from tests.support import LiveServer, database_url, live_server
from tests.support import test_settings as settings_for

PUBLIC = "https://console.example.test"
_MAILED_LINK = re.compile(r"(https://console\.example\.test/console/invitations/accept\?token=[\w.-]+)")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with smtp_server(require_login=True) as server:
        yield server


@pytest.fixture(scope="module")
async def mail_server(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("console-invitation-mail")
    cafile = tmp / "smtp-ca.pem"
    cafile.write_text("".join(ssl.DER_cert_to_PEM_cert(c) for c in smtp.client_tls.get_ca_certs(binary_form=True)))
    async with database_url("sqlite", tmp) as url:
        settings = settings_for(
            tmp,
            url,
            smtp_url=smtp.url("smtp+starttls", login=True),
            smtp_ca_file=cafile,
            mail_from="Tesserra <invites@console.example.test>",
            public_url=PUBLIC,
        )
        async with live_server(settings) as srv:
            assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
            yield srv


@pytest.fixture
async def http(mail_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mail_server.url, timeout=30.0) as client:
        yield client


async def test_the_invitee_joins_with_the_link_in_their_mail(
    http: httpx.AsyncClient, mail_server: LiveServer, smtp: SmtpServer
) -> None:
    accounts = Accounts(mail_server.uc)
    owner = await accounts.tenant_owner("Mailed")
    console = ConsoleClient(http)
    await console.sign_in(owner.email, PASSWORD)
    invitee = unique_email("mailed")
    await console.get("/console/invitations")
    created = await console.post("/console/invitations", {"email": invitee, "role": "member"})
    assert created.status_code == 303, created.text
    shown = await console.get(created.headers["location"])
    assert f"Emailed this link to {invitee}" in shown.text
    assert 'id="not-emailed"' not in shown.text

    [letter] = [m for m in smtp.inbox.messages if m["To"] == invitee]
    assert letter["From"] == "Tesserra <invites@console.example.test>"
    assert "Mailed" in str(letter["Subject"])
    found = _MAILED_LINK.search(letter.get_content())
    assert found, letter.get_content()
    path = found.group(1).removeprefix(PUBLIC)
    newcomer = ConsoleClient(http)
    page = await newcomer.get(path)
    assert page.status_code == 200
    assert "Create my account and join" in page.text
    token = path.split("token=", 1)[1]
    joined = await newcomer.post("/console/invitations/sign-up", {"token": token, "password": "newcomer-pass-1"})
    assert joined.status_code == 303
    assert invitee in (await console.get("/console/members")).text


async def test_a_refusing_mail_server_leaves_the_invitation_and_says_why(
    http: httpx.AsyncClient, mail_server: LiveServer, smtp: SmtpServer
) -> None:
    accounts = Accounts(mail_server.uc)
    owner = await accounts.tenant_owner("Refused")
    invitee = unique_email("refused")
    smtp.inbox.refuse.add(invitee)
    try:
        answer = await http.post(
            "/api/tenants/atual/convites", json={"email": invitee, "role": "viewer"}, headers=owner.bearer
        )
    finally:
        smtp.inbox.refuse.discard(invitee)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["emailed"] is False
    assert "did not take the message" in body["email_error"]
    assert invitee not in body["email_error"]
    assert body["accept_url"].startswith(f"{PUBLIC}/console/invitations/accept?token=")
    listed = await http.get("/api/tenants/atual/convites", headers=owner.bearer)
    assert invitee in listed.text

    console = ConsoleClient(http)
    await console.sign_in(owner.email, PASSWORD)
    smtp.inbox.refuse.add(invitee.replace("refused", "again"))
    try:
        await console.get("/console/invitations")
        created = await console.post("/console/invitations", {"email": invitee.replace("refused", "again")})
    finally:
        smtp.inbox.refuse.clear()
    shown = await console.get(created.headers["location"])
    assert 'id="not-emailed"' in shown.text
    assert "did not take the message" in shown.text
    assert 'id="invite-link"' in shown.text  # the link to hand over by hand
