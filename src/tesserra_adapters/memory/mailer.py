"""The mail port in memory: messages kept in an outbox (for tests and library users without a mail server)."""

from __future__ import annotations

from tesserra_core.ports.mailer import OutgoingEmail


class MemoryMailer:
    configured = True

    def __init__(self) -> None:
        self.outbox: list[OutgoingEmail] = []

    async def send(self, email: OutgoingEmail) -> None:
        self.outbox.append(email)
