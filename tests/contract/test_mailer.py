"""The mail port's contract, on the memory outbox and on SMTP against a real server on loopback (plain,
STARTTLS with a login, TLS checked against the server's certificate); what SMTP does when the server
refuses, lies about its certificate or is not there at all."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest

from tesserra_adapters.memory.mailer import MemoryMailer
from tesserra_adapters.smtp import SmtpMailer
from tesserra_core.errors import Unavailable
from tesserra_core.ports.mailer import Mailer, NoMailer, OutgoingEmail
from tests.servers.smtp import SmtpServer, smtp_server

SENDER = "Tesserra <no-reply@tesserra.test>"
LETTER = OutgoingEmail(to="ana@example.com", subject="Hello Ana — ünïcode", text="Line one\nhttps://x.test/a?b=c\n")

Sent = Callable[[], list[tuple[str, str, str]]]
"""(to, subject, body) of each message the mailer handed over, in order."""


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture(params=["memory", "smtp", "smtp+starttls-login"])
def mailer(request: pytest.FixtureRequest, smtp: SmtpServer) -> tuple[Mailer, Sent]:
    if request.param == "memory":
        memory = MemoryMailer()
        return memory, lambda: [(m.to, m.subject, m.text) for m in memory.outbox]
    smtp.inbox.messages.clear()
    url = smtp.url() if request.param == "smtp" else smtp.url("smtp+starttls", login=True)
    return SmtpMailer(url, SENDER, tls=smtp.client_tls), lambda: [
        (str(m["To"]), str(m["Subject"]), str(m.get_content())) for m in smtp.inbox.messages
    ]


async def test_a_message_arrives_whole(mailer: tuple[Mailer, Sent]) -> None:
    port, sent = mailer
    assert port.configured
    await port.send(LETTER)
    await port.send(OutgoingEmail(to="bo@example.com", subject="Second", text="two"))
    assert [(to, subject) for to, subject, _ in sent()] == [
        ("ana@example.com", LETTER.subject),
        ("bo@example.com", "Second"),
    ]
    assert sent()[0][2].replace("\r\n", "\n") == LETTER.text


async def test_no_mailer_refuses_with_a_clear_code() -> None:
    none = NoMailer()
    assert not none.configured
    with pytest.raises(Unavailable) as refused:
        await none.send(LETTER)
    assert refused.value.code == "mail_not_configured"


async def test_smtp_sets_the_sender_and_a_message_id(smtp: SmtpServer) -> None:
    smtp.inbox.messages.clear()
    smtp.inbox.envelopes.clear()
    await SmtpMailer(smtp.url(), SENDER).send(LETTER)
    message = smtp.inbox.messages[-1]
    assert message["From"] == SENDER
    assert str(message["Message-ID"]).endswith("@tesserra.test>")
    assert smtp.inbox.envelopes[-1] == ("no-reply@tesserra.test", ["ana@example.com"])


async def test_smtp_failures_are_unavailable_and_never_hang(smtp: SmtpServer) -> None:
    smtp.inbox.refuse.add("gone@example.com")
    try:
        with pytest.raises(Unavailable) as refused:
            await SmtpMailer(smtp.url(), SENDER).send(OutgoingEmail(to="gone@example.com", subject="x", text="x"))
        assert refused.value.code == "mail_unavailable"
        assert "gone@example.com" not in refused.value.message  # the server's answer is not echoed
    finally:
        smtp.inbox.refuse.clear()
    with pytest.raises(Unavailable):  # a certificate this client does not trust: no message, no password
        await SmtpMailer(smtp.url("smtp+starttls", login=True), SENDER, tls=ssl.create_default_context()).send(LETTER)
    with pytest.raises(Unavailable):  # a wrong password
        await SmtpMailer(
            smtp.url("smtp+starttls", login=False).replace("://", "://tesserra:wrong@"), SENDER, tls=smtp.client_tls
        ).send(LETTER)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await SmtpMailer(f"smtp://127.0.0.1:{port}", SENDER).send(LETTER)
    assert time.monotonic() - started < 5


async def test_a_header_cannot_be_smuggled_in(smtp: SmtpServer) -> None:
    smtp.inbox.messages.clear()
    evil = OutgoingEmail(to="ana@example.com", subject="Hi\r\nBcc: everyone@example.com", text="x")
    with pytest.raises((Unavailable, ValueError)):
        await SmtpMailer(smtp.url(), SENDER).send(evil)
    assert smtp.inbox.messages == []


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtps:///x", "mail.example.com:25"])
def test_a_malformed_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="smtp_url"):
        SmtpMailer(url, SENDER)


async def test_concurrent_sends_all_arrive(smtp: SmtpServer) -> None:
    smtp.inbox.messages.clear()
    mailer = SmtpMailer(smtp.url(), SENDER)
    await asyncio.gather(
        *(mailer.send(OutgoingEmail(to=f"u{i}@example.com", subject=f"n{i}", text="x")) for i in range(8))
    )
    assert sorted(str(m["Subject"]) for m in smtp.inbox.messages) == sorted(f"n{i}" for i in range(8))
