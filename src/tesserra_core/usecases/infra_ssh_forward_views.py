"""What the Infra SSH forward use cases take and give."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import msgspec

from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.text import LINE_PATTERN, Input
from tesserra_core.errors import ValidationFailed

_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
ForwardDestination = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=262, pattern=rf"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):{_PORT}$"),
]
"""``host:port`` (an IPv6 address in brackets), the port from 1 to 65535."""


Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=LINE_PATTERN)]


class NewForward(Input, frozen=True, forbid_unknown_fields=True):
    host_id: Id
    destination: ForwardDestination
    """``host:port`` as the host sees it: one of the host's forward destinations and of the lease's."""
    lease_id: Id | None = None
    """The approval lease to use (default: the caller's oldest active lease that covers the forward)."""


class ForwardState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ForwardView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    host_id: str
    host_name: str
    destination: str
    local_address: str
    """Where to connect on the Tesserra server: 127.0.0.1 and ``local_port``."""
    local_port: int
    lease_id: str
    state: ForwardState
    bytes_sent: int
    """From local clients to the destination."""
    bytes_received: int
    """From the destination to local clients."""
    connections: int
    opened_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    """Who or what closed it: a person (X-User-Id), lease expiry, a revocation, the SSH connection ending or
    the server stopping."""
    audit_id: str | None
    """The audit record of its opening."""


def split_destination(destination: str) -> tuple[str, int]:
    """(host, port) of ``host:port`` (an IPv6 host in brackets loses them); validation_failed otherwise."""
    host, _, port = destination.rpartition(":")
    number = int(port) if port.isdigit() else 0
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or not 1 <= number <= 65535 or "[" in host or "]" in host:
        raise ValidationFailed(
            f"destination must be host:port with a port from 1 to 65535, not {destination!r}",
            code=Outcome.VALIDATION_FAILED.value,
        )
    return host, number
