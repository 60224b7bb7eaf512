"""DNS: the zone-file codec (text syntax of names, record data and zone files) and a resolver."""

from __future__ import annotations

from typing import Protocol

import msgspec

from tesserra_core.domain.domains import RecordData, RecordType


class Soa(msgspec.Struct, frozen=True):
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int


class ZoneCodec(Protocol):
    """Everything that depends on DNS presentation syntax. Raises ``ValidationFailed`` naming the
    field (``name``, ``data``) for a bad record, and the line number for a bad zone file."""

    def record(self, origin: str, name: str, rtype: RecordType, ttl: int, data: str) -> RecordData:
        """The record canonicalized: ``name`` lowercased and relative to ``origin`` (``@`` at the apex;
        names outside the zone refused), ``data`` in presentation form with absolute names."""
        ...

    def parse(self, origin: str, text: str, default_ttl: int) -> list[RecordData]:
        """The records of a zone file (its SOA left out: the platform owns it), canonicalized as by
        ``record``. ``$ORIGIN`` and ``$TTL`` are honoured; ``default_ttl`` applies when neither
        a ``$TTL`` nor a record's own TTL gives one."""
        ...

    def render(self, origin: str, soa: Soa, default_ttl: int, records: list[RecordData]) -> str:
        """An RFC 1035 zone file: ``$ORIGIN``, ``$TTL``, the SOA, then the records."""
        ...


class DnsResolver(Protocol):
    """Answers from the public DNS. Raises ``Unavailable`` when no answer came in time (timeout,
    SERVFAIL, no server); a name or type that does not exist is an empty list."""

    async def txt(self, name: str) -> list[str]:
        """Each TXT record's strings joined, as text."""
        ...

    async def addresses(self, name: str) -> list[str]:
        """The A and AAAA addresses of ``name``."""
        ...
