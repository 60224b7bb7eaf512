"""Email the platform sends on its own behalf (today: invitations), through the operator's mail server."""

from __future__ import annotations

from typing import Protocol

import msgspec

from tesserra_core.errors import Unavailable


class OutgoingEmail(msgspec.Struct, frozen=True, kw_only=True):
    """A plain-text message to one address. ``to`` is a checked email address; ``subject`` one line."""

    to: str
    subject: str
    text: str


class Mailer(Protocol):
    @property
    def configured(self) -> bool:
        """False when there is no mail server to send through."""
        ...

    async def send(self, email: OutgoingEmail) -> None:
        """Hand the message to the mail server. Raises ``Unavailable`` (``mail_not_configured``,
        ``mail_unavailable``) when there is none, it cannot be reached, or it refuses the message."""
        ...


class NoMailer:
    """No mail server configured: nothing can be sent (an invitation's link is then handed over by hand)."""

    configured = False

    async def send(self, email: OutgoingEmail) -> None:
        raise Unavailable("no mail server is configured (TESSERRA_SMTP_URL)", code="mail_not_configured")
