"""A tiny authoritative DNS server on 127.0.0.1 (UDP, dnspython), for the real resolver adapter.

It answers what tests publish, NXDOMAIN for names it does not know, and never answers names under
``blackhole.`` (a resolver then times out). It runs in a daemon thread, one per test process.
"""

from __future__ import annotations

import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class LoopbackDns:
    def __init__(self) -> None:
        self._records: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._serve, name="test-dns", daemon=True).start()

    def publish(self, name: str, rtype: str, *values: str) -> None:
        """``values`` in presentation form (a TXT value quoted: '"token"')."""
        with self._lock:
            self._records.setdefault((_key(name), rtype.upper()), []).extend(values)

    def publish_txt(self, name: str, *texts: str) -> None:
        self.publish(name, "TXT", *(f'"{t}"' for t in texts))

    def forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._records if k[0] == _key(name)]:
                del self._records[key]

    def _serve(self) -> None:
        while True:
            try:
                wire, peer = self._sock.recvfrom(4096)
                query = dns.message.from_wire(wire)
            except Exception:
                continue
            question = query.question[0]
            name = _key(question.name.to_text())
            if name.endswith("blackhole"):
                continue
            response = dns.message.make_response(query)
            response.flags |= dns.flags.AA
            rtype = dns.rdatatype.to_text(question.rdtype)
            with self._lock:
                values = list(self._records.get((name, rtype), []))
                known = any(k[0] == name for k in self._records)
            if values:
                response.answer.append(
                    dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, question.rdtype, values)
                )
            elif not known:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self._sock.sendto(response.to_wire(), peer)


def _key(name: str) -> str:
    return name.lower().rstrip(".")


_server: LoopbackDns | None = None


def loopback_dns() -> LoopbackDns:
    """The process's test DNS server, started on first use."""
    global _server
    if _server is None:
        _server = LoopbackDns()
    return _server
