"""The mail port over SMTP (the standard library's smtplib, in a worker thread): TESSERRA_SMTP_URL names
the server as ``smtp://[user:password@]host[:port]`` (plain, port 25), ``smtp+starttls://...`` (STARTTLS,
port 587) or ``smtps://...`` (TLS from the start, port 465); TESSERRA_MAIL_FROM the sender."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from tesserra_core.errors import Unavailable
from tesserra_core.ports.mailer import OutgoingEmail

_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TIMEOUT = 10.0
"""Seconds to connect and for each exchange with the mail server: a send never hangs a request longer."""


class SmtpMailer:
    configured = True

    def __init__(self, url: str, sender: str, *, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in _PORTS or not parts.hostname:
            raise ValueError("smtp_url: smtp://, smtp+starttls:// or smtps:// followed by a host")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or _PORTS[parts.scheme]
        self.login = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        self.sender = sender
        self.tls = tls or ssl.create_default_context()

    async def send(self, email: OutgoingEmail) -> None:
        message = EmailMessage()  # refuses a header holding CR or LF
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip("> ") or None)
        message.set_content(email.text)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(
                f"the mail server did not take the message: {_reason(exc)}", code="mail_unavailable"
            ) from None

    def _deliver(self, message: EmailMessage) -> None:
        if self.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT, context=self.tls)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=self.tls)
            if self.login is not None:
                client.login(*self.login)
            client.send_message(message)


def _reason(exc: BaseException) -> str:
    """What went wrong, without the server's whole answer (it may echo the message's addresses)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"it answered {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "it refused the recipient"
    return type(exc).__name__
