"""The client's address, which per-IP rate limits count: the TCP peer's, or, when the peer is a
trusted proxy (TESSERRA_TRUSTED_PROXIES), the one the proxies forwarded.

The forwarded chain (``X-Forwarded-For``, or ``Forwarded`` per RFC 7239, whichever the proxies
write: TESSERRA_PROXY_HEADER) is walked from the right, the end the nearest proxy appended to,
skipping trusted hops: the first untrusted one is the client. Whatever lies left of it was written
by the client and is never believed. An untrusted peer's headers are ignored entirely; an entry
that is not an address (``unknown``, an obfuscated name, garbage) stops the walk at the last
trusted hop, so a malformed header can only make requests count against the proxy, never
against an address of the sender's choosing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from litestar.types import Scope

Address = IPv4Address | IPv6Address

PROXY_HEADERS = ("x-forwarded-for", "forwarded")


def parse_networks(cidrs: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """``10.0.0.0/8``, ``::1/128`` or a bare address (a single host). Raises ValueError."""
    return tuple(ip_network(cidr.strip(), strict=False) for cidr in cidrs)


class ClientAddress:
    def __init__(self, trusted_proxies: Iterable[str] = (), header: str = "x-forwarded-for") -> None:
        if header not in PROXY_HEADERS:
            raise ValueError(f"the proxy header must be one of {', '.join(PROXY_HEADERS)}, not {header!r}")
        self._trusted = parse_networks(trusted_proxies)
        self._header = header.encode()
        self._hops: Callable[[str], list[Address | None]] = _forwarded if header == "forwarded" else _x_forwarded_for

    def __call__(self, scope: Scope) -> str:
        client = scope.get("client")
        if not client:
            return "?"
        peer, text = _peer(client[0])
        if peer is None:
            return text
        if not self._trusted or not self._trusts(peer):
            return text
        chain = ",".join(value.decode("latin-1") for name, value in scope["headers"] if name == self._header)
        address = peer
        for hop in reversed(self._hops(chain)):
            if hop is None:
                break
            address = hop
            if not self._trusts(hop):
                break
        return str(address)

    def _trusts(self, address: Address) -> bool:
        return any(address in network for network in self._trusted)


@functools.lru_cache(maxsize=4096)
def _peer(host: str) -> tuple[Address | None, str]:
    """The TCP peer's address and its text, parsed once per peer (a proxied request is ~50 µs of
    CPU all told; parsing an address each time was two of them)."""
    address = _address(host)
    return address, str(host) if address is None else str(address)


def _address(text: str) -> Address | None:
    """An address, with or without a port (``1.2.3.4:80``, ``[::1]:80``); IPv4-mapped IPv6 as IPv4."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _x_forwarded_for(chain: str) -> list[Address | None]:
    return [_address(entry) for entry in chain.split(",")] if chain.strip() else []


def _forwarded(chain: str) -> list[Address | None]:
    """The ``for=`` node of each element of an RFC 7239 ``Forwarded`` header (None where absent or
    not an address)."""
    hops: list[Address | None] = []
    for element in chain.split(",") if chain.strip() else ():
        node: Address | None = None
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "for":
                node = _address(value.strip().strip('"'))
        hops.append(node)
    return hops
