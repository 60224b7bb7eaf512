"""A real SMTP server on loopback for the tests (aiosmtpd, in a thread of its own): it keeps every message
it accepts, can refuse recipients, and speaks STARTTLS (a certificate made here for 127.0.0.1) and AUTH."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "tesserra", "smtp-pass-123"


@dataclass
class Inbox:
    """What the server accepted, and what it refuses."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            message_from_bytes(
                envelope.original_content or envelope.content, _class=EmailMessage, policy=policy.default
            )
        )
        return "250 Message accepted"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    inbox: Inbox
    client_tls: ssl.SSLContext
    """Trusts the server's certificate, and only it."""

    def url(self, scheme: str = "smtp", *, login: bool = False) -> str:
        auth = f"{USER}:{PASSWORD}@" if login else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(*, require_login: bool = False) -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 offering STARTTLS and AUTH (required after STARTTLS with ``require_login``)."""
    with tempfile.TemporaryDirectory(prefix="tesserra-smtp-") as tmp:
        cert, key = _certificate(Path(tmp))
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(cert, key)
        client_tls = ssl.create_default_context(cafile=str(cert))
        inbox = Inbox()
        controller = Controller(
            inbox,
            hostname="127.0.0.1",
            port=_free_port(),
            tls_context=server_tls,
            auth_required=require_login,
            authenticator=_check_login,
            auth_require_tls=True,
        )
        controller.start()
        try:
            yield SmtpServer("127.0.0.1", controller.port, inbox, client_tls)
        finally:
            controller.stop()
