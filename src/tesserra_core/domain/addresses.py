"""Network addresses as URLs and Host headers write them: an IPv6 address in brackets
(``http://[fd00::5]:7500``, ``Host: [::1]:8000``), where ``host:port`` would be ambiguous."""

from __future__ import annotations

from urllib.parse import urlsplit


def authority(host: str, port: int) -> str:
    """``host:port``, an IPv6 ``host`` (any with a colon) bracketed unless it is already."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def http_host_port(url: str) -> tuple[str, int] | None:
    """The host and port of ``http://host:port`` (an IPv6 host in brackets, returned without them),
    or None for anything else: another scheme, no host or port, a path, query, fragment or user, or an
    IPv6 zone id (``[fe80::1%25eth0]``: it names an interface of the writer's machine, which another
    node's socket would take as its own, or as part of the address)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # an unclosed bracket, an address that is no IP in brackets, a port out of range
        return None
    host = parts.hostname
    if parts.scheme != "http" or not host or "%" in host or port is None or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username is not None or parts.password is not None:
        return None
    return host, port
