"""Addresses as URLs write them (``tesserra_core.domain.addresses``): an IPv6 host in brackets, and
the host and port of a node's advertised ``http://host:port`` read back without them."""

from __future__ import annotations

import pytest

from tesserra_adapters.settings import Settings
from tesserra_core.domain.addresses import authority, http_host_port
from tesserra_http.serving import console_url


@pytest.mark.parametrize(
    ("host", "port", "written"),
    [
        ("10.0.0.5", 7500, "10.0.0.5:7500"),
        ("node-a.internal", 80, "node-a.internal:80"),
        ("::1", 8000, "[::1]:8000"),
        ("fd00::5", 7500, "[fd00::5]:7500"),
        ("[fd00::5]", 7500, "[fd00::5]:7500"),  # bracketed already: not twice
    ],
)
def test_an_ipv6_host_is_written_in_brackets(host: str, port: int, written: str) -> None:
    assert authority(host, port) == written


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://10.0.0.5:7500", ("10.0.0.5", 7500)),
        ("http://node-a.internal:80/", ("node-a.internal", 80)),
        ("http://[::1]:8000", ("::1", 8000)),
        ("http://[fd00::5]:7500/", ("fd00::5", 7500)),
        ("http://[FD00::5]:7500", ("fd00::5", 7500)),
    ],
)
def test_a_node_url_gives_its_host_and_port(url: str, where: tuple[str, int]) -> None:
    assert http_host_port(url) == where


@pytest.mark.parametrize(
    "url",
    [
        "http://fd00::5:7500",  # unbracketed: which colon starts the port?
        "http://::1:8000",
        "http://[::1:8000",  # unclosed
        "http://[node-a]:80",  # brackets hold an IP address only
        "http://[::1]",  # no port
        "http://10.0.0.5:99999",
        "https://[::1]:8000",
        "http://[::1]:8000/api",
        "http://[::1]:8000?x=1",
        "http://u:p@[::1]:8000",
        "http://@10.0.0.5:7500",
        "[::1]:8000",
        "http://:80",
        "http://[fe80::1%25eth0]:7500",  # a zone id names an interface of one machine only
        "http://[fe80::1%eth0]:7500",
    ],
)
def test_anything_else_is_no_node_url(url: str) -> None:
    assert http_host_port(url) is None


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:7500/console/"),
        ("0.0.0.0", "http://127.0.0.1:7500/console/"),  # a wildcard bind, reached on loopback
        ("::", "http://[::1]:7500/console/"),
        ("fd00::5", "http://[fd00::5]:7500/console/"),
    ],
)
def test_the_console_url_shown_at_start_brackets_an_ipv6_host(host: str, url: str) -> None:
    assert console_url(Settings(host=host)) == url
