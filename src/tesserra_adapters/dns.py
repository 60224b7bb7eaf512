"""DNS with dnspython: the zone codec (names, record data, zone files) and an async resolver.

dnspython's errors never leave this module: they become ``ValidationFailed`` (naming the field or
the zone file's line) or ``Unavailable``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.resolver
import dns.rrset
import dns.tokenizer
import dns.zone
import dns.zonefile

from tesserra_core.domain.domains import APEX, RecordData, RecordType
from tesserra_core.errors import Unavailable, Unprocessable, ValidationFailed
from tesserra_core.ports.dns import Soa

_IN = dns.rdataclass.IN
_MAX_TXT_STRING = 255


def _origin(origin: str) -> dns.name.Name:
    return dns.name.from_text(origin, dns.name.root)


def _quote_txt(value: str) -> str:
    """Free text as TXT presentation: quoted, escaped, split into strings of at most 255 bytes."""
    raw = value.encode()
    parts = [raw[i : i + _MAX_TXT_STRING] for i in range(0, len(raw), _MAX_TXT_STRING)] or [b""]
    out = []
    for part in parts:
        text = "".join(
            f"\\{b:03d}" if b < 0x20 or b > 0x7E else ("\\" + chr(b) if chr(b) in '"\\' else chr(b)) for b in part
        )
        out.append(f'"{text}"')
    return " ".join(out)


class DnspythonZoneCodec:
    def record(self, origin: str, name: str, rtype: RecordType, ttl: int, data: str) -> RecordData:
        zone = _origin(origin)
        relative = self._name(zone, name)
        text = data.strip()
        if rtype is RecordType.TXT and not text.startswith('"'):
            text = _quote_txt(text)
        if not text or "\n" in text or "\r" in text:
            raise Unprocessable(f"data: not a valid {rtype} record", code="invalid_record_data")
        try:
            rdata = dns.rdata.from_text(_IN, rtype.value, text, origin=zone, relativize=False)
        except (dns.exception.DNSException, ValueError, TypeError) as exc:
            raise Unprocessable(f"data: not a valid {rtype} record: {exc}", code="invalid_record_data") from None
        return RecordData(relative, rtype, ttl, self._data(rdata, zone))

    @staticmethod
    def _name(zone: dns.name.Name, name: str) -> str:
        value = name.strip()
        bare_zone = zone.to_text(omit_final_dot=True).lower()
        if not value.endswith(".") and (value.lower() == bare_zone or value.lower().endswith(f".{bare_zone}")):
            value += "."  # "www.example.com" in zone example.com means the absolute name, as people expect
        try:
            absolute = zone if value in ("", APEX) else dns.name.from_text(value, zone)
        except (dns.exception.DNSException, ValueError) as exc:
            # Well formed (the schema's pattern) but not a name in this zone (too long with it): semantic.
            raise Unprocessable(f"name: not a valid DNS name: {exc}", code="invalid_record_name") from None
        if not absolute.is_subdomain(zone):
            raise Unprocessable(
                f"name: {absolute.to_text()} is outside the zone {zone.to_text()}", code="name_outside_zone"
            )
        return absolute.relativize(zone).to_text().lower()

    @staticmethod
    def _data(rdata: dns.rdata.Rdata, zone: dns.name.Name) -> str:
        return str(rdata.to_text(origin=zone, relativize=False))

    def parse(self, origin: str, text: str, default_ttl: int) -> list[RecordData]:
        zone_name = _origin(origin)
        body = f"$ORIGIN {zone_name.to_text()}\n{text}"  # the zone's own origin, stated first
        if not body.endswith("\n"):
            body += "\n"
        try:
            rrsets = _read(zone_name, body, default_ttl)
        except dns.exception.DNSException as exc:
            raise _syntax_error(zone_name, body, exc, default_ttl) from None
        except (ValueError, TypeError, UnicodeError) as exc:
            raise ValidationFailed(f"zone file: {exc}", code="invalid_zone_file") from None
        found: list[RecordData] = []
        for rrset in rrsets:
            if rrset.rdtype == dns.rdatatype.SOA:
                continue
            relative = rrset.name.relativize(zone_name).to_text().lower()
            type_text = dns.rdatatype.to_text(rrset.rdtype)
            try:
                rtype = RecordType(type_text)
            except ValueError:
                known = ", ".join(t.value for t in RecordType)
                raise ValidationFailed(
                    f"zone file: {relative} {type_text}: only {known} records are supported",
                    code="unsupported_record_type",
                ) from None
            found.extend(RecordData(relative, rtype, int(rrset.ttl), self._data(rdata, zone_name)) for rdata in rrset)
        return found

    def render(self, origin: str, soa: Soa, default_ttl: int, records: list[RecordData]) -> str:
        zone_name = _origin(origin)
        zone = dns.zone.Zone(zone_name, relativize=True)
        soa_text = f"{soa.mname} {soa.rname} {soa.serial} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum}"
        self._add(zone, dns.name.empty, default_ttl, "SOA", soa_text, zone_name)
        for r in records:
            name = dns.name.empty if r.name == APEX else dns.name.from_text(r.name, None)
            self._add(zone, name, r.ttl, r.type.value, r.data, zone_name)
        out = io.StringIO()
        out.write(f"$ORIGIN {zone_name.to_text()}\n$TTL {default_ttl}\n")
        zone.to_file(out, sorted=True, relativize=True, want_origin=False)
        return out.getvalue()

    @staticmethod
    def _add(zone: dns.zone.Zone, name: dns.name.Name, ttl: int, rtype: str, data: str, origin: dns.name.Name) -> None:
        rdata = dns.rdata.from_text(_IN, rtype, data, origin=origin, relativize=False)
        node = zone.find_node(name, create=True)
        rdataset = node.find_rdataset(_IN, rdata.rdtype, create=True)
        rdataset.add(rdata, ttl)


class _StrictReader(dns.zonefile.Reader):
    """dnspython's reader skips a record whose name is outside the zone without a word: refuse it."""

    def _eat_line(self) -> None:
        name = self.last_name.to_text() if self.last_name is not None else "a name"
        raise dns.exception.SyntaxError(f"{name} is outside the zone {self.zone_origin}")  # type: ignore[no-untyped-call]


class _IndexedTransaction(dns.zonefile.RRsetsReaderTransaction):
    """dnspython's transaction finds a name's rdatasets by scanning every one read so far, on every
    record (the CNAME-and-other-data check): n records cost O(n^2), so a 20,000-line zone file, well
    under the size limit, held the event loop for minutes. The same transaction, indexed by name."""

    def __init__(self, manager: dns.zonefile.RRSetsReaderManager, replacement: bool, read_only: bool) -> None:
        super().__init__(manager, replacement, read_only)  # type: ignore[no-untyped-call]
        self._by_name: dict[dns.name.Name, dict[tuple[int, int], dns.rdataset.Rdataset]] = {}

    def _get_node(self, name: dns.name.Name) -> dns.node.Node | None:
        rdatasets = self._by_name.get(name)
        if not rdatasets:
            return None
        node = dns.node.Node()  # type: ignore[no-untyped-call]
        node.rdatasets = list(rdatasets.values())
        return node

    def _name_exists(self, name: dns.name.Name) -> bool:
        return bool(self._by_name.get(name))

    def _put_rdataset(self, name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> None:
        super()._put_rdataset(name, rdataset)  # type: ignore[no-untyped-call]
        self._by_name.setdefault(name, {})[(rdataset.rdtype, rdataset.covers)] = rdataset

    def _delete_name(self, name: dns.name.Name) -> None:
        for rdtype, covers in self._by_name.pop(name, {}):
            self.rdatasets.pop((name, rdtype, covers), None)

    def _delete_rdataset(self, name: dns.name.Name, rdtype: int, covers: int) -> None:
        super()._delete_rdataset(name, rdtype, covers)  # type: ignore[no-untyped-call]
        self._by_name.get(name, {}).pop((rdtype, covers), None)


class _IndexedManager(dns.zonefile.RRSetsReaderManager):
    def writer(self, replacement: bool = False) -> _IndexedTransaction:
        return _IndexedTransaction(self, True, False)


def _read(zone_name: dns.name.Name, body: str, default_ttl: int) -> list[dns.rrset.RRset]:
    """The zone file's RRsets, absolute; only the $ORIGIN and $TTL directives ($INCLUDE would read
    the server's files, $GENERATE would multiply records)."""
    manager = _IndexedManager(zone_name, False, _IN)
    with manager.writer(True) as txn:
        tokens = dns.tokenizer.Tokenizer(body, "<zone>")
        reader = _StrictReader(
            tokens, _IN, txn, allow_include=False, allow_directives={"$ORIGIN", "$TTL"}, default_ttl=default_ttl
        )
        reader.read()
    return list(manager.rrsets)


def _syntax_error(
    zone_name: dns.name.Name, body: str, exc: dns.exception.DNSException, default_ttl: int
) -> ValidationFailed:
    """The error with the line of the user's text where it is (the first line of ``body`` is ours).

    dnspython reports the line its tokenizer stands on, which is the next one when a record's data
    fails after its end of line was read: reading only the lines before tells which."""
    line, message = _where(exc)
    if line is None:
        return ValidationFailed(f"zone file: {message}", code="invalid_zone_file")
    if line > 2:
        before = "".join(body.splitlines(keepends=True)[: line - 1])
        try:
            _read(zone_name, before, default_ttl)
        except dns.exception.DNSException as earlier:
            if _where(earlier)[0] == line:
                line -= 1
        except Exception:  # noqa: S110 - only a finer line number was at stake
            pass
    return ValidationFailed(f"zone file line {line - 1}: {message}", code="invalid_zone_file")


def _where(exc: Exception) -> tuple[int | None, str]:
    """dnspython's ``<string>:LINE: message`` split into the line and the message."""
    text = str(exc)
    prefix, sep, rest = text.partition(": ")
    _source, colon, line = prefix.rpartition(":")
    if sep and colon and line.isdigit():
        return int(line), rest
    return None, text


class DnspythonResolver:
    """dnspython's async stub resolver, with a short overall lifetime per query."""

    def __init__(self, nameservers: Sequence[str] = (), timeout: float = 2.0) -> None:
        try:
            self._resolver = dns.asyncresolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration:  # no resolv.conf: every lookup answers Unavailable
            self._resolver = dns.asyncresolver.Resolver(configure=False)
        if nameservers:
            hosts, ports = zip(*(_host_port(n) for n in nameservers), strict=True)
            self._resolver.nameservers = list(hosts)
            self._resolver.port = ports[0]
        self._resolver.lifetime = timeout
        self._resolver.timeout = timeout

    async def _answer(self, name: str, rtype: str) -> list[dns.rdata.Rdata]:
        try:
            answer = await self._resolver.resolve(name, rtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
            raise Unavailable(f"the DNS resolver could not answer for {name}", code="dns_unavailable") from exc
        except dns.exception.DNSException as exc:
            raise Unavailable(f"DNS lookup of {name} failed: {exc}", code="dns_unavailable") from exc
        return list(answer.rrset or [])

    async def txt(self, name: str) -> list[str]:
        records = await self._answer(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]  # type: ignore[attr-defined]

    async def addresses(self, name: str) -> list[str]:
        found = []
        for rtype in ("A", "AAAA"):
            found += [r.to_text() for r in await self._answer(name, rtype)]
        return found


def _host_port(value: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port``."""
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
        return host, int(port or 53)
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port)
    return value, 53
