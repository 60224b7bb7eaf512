"""The client address the per-IP login limit counts, behind proxies and without them, on the live
server: forwarding headers count only when the TCP peer is a trusted proxy (TESSERRA_TRUSTED_PROXIES).

The proxied servers store nothing the test depends on (the per-IP counters are in process), so they
run on SQLite only.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tesserra_http.client_address import ClientAddress
from tests.drivers.http.conftest import assert_error, fresh_address, unique_email
from tests.support import LiveServer, database_url, live_server
from tests.support import test_settings as settings_for

LOGIN = "/api/auth/login"
PROXY = "127.0.0.1"
"""The address the tests' "load balancer" connects from; the ordinary test clients never use it."""
TRUSTED = ("127.0.0.1/32", "10.0.0.0/8")

_clients = (f"198.18.{n >> 8}.{n & 255}" for n in itertools.count(1))
_clients6 = (f"2001:db8::{n:x}" for n in itertools.count(1))


def client_ip() -> str:
    """An address of the benchmarking range that no other test of this run sends."""
    return next(_clients)


async def _guess(client: httpx.AsyncClient, headers: dict[str, str] | None = None) -> httpx.Response:
    """A failed login on a fresh unknown email: only the per-IP limit can refuse it."""
    return await client.post(LOGIN, json={"email": unique_email("guess"), "password": "x"}, headers=headers)


async def _spend_five(client: httpx.AsyncClient, headers: list[dict[str, str]]) -> None:
    assert len(headers) == 5
    for h in headers:
        assert_error(await _guess(client, h), 401, "invalid_login")


@pytest.fixture(scope="module")
async def proxied(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("proxied")
    async with database_url("sqlite", tmp) as url, live_server(settings_for(tmp, url, trusted_proxies=TRUSTED)) as srv:
        yield srv


@pytest.fixture(scope="module")
async def proxied_rfc7239(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("proxied-forwarded")
    async with database_url("sqlite", tmp) as url:
        settings = settings_for(tmp, url, trusted_proxies=TRUSTED, proxy_header="forwarded")
        async with live_server(settings) as srv:
            yield srv


def _client(server: LiveServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=20.0)


async def test_without_trusted_proxies_a_spoofed_forwarding_header_does_not_dodge_the_login_limit(
    server: LiveServer,
) -> None:
    async with _client(server, fresh_address()) as client:
        await _spend_five(client, [{"X-Forwarded-For": client_ip()} for _ in range(4)] + [{"Forwarded": "for=1.2.3.4"}])
        for spoof in ({"X-Forwarded-For": client_ip()}, {"Forwarded": f"for={client_ip()}"}):
            assert_error(await _guess(client, spoof), 429, "rate_limited")


async def test_two_clients_behind_a_trusted_proxy_get_separate_buckets(proxied: LiveServer) -> None:
    first, second = client_ip(), client_ip()
    async with _client(proxied, PROXY) as balancer:
        await _spend_five(balancer, [{"X-Forwarded-For": first}] * 5)
        assert_error(await _guess(balancer, {"X-Forwarded-For": first}), 429, "rate_limited")

        assert_error(await _guess(balancer, {"X-Forwarded-For": second}), 401, "invalid_login")


async def test_what_the_client_wrote_left_of_the_proxy_hop_is_not_believed(proxied: LiveServer) -> None:
    """The client sends its own X-Forwarded-For; the proxy appends the address it saw. Varying the
    forged part changes nothing; trusted inner hops (10.0.0.0/8) are skipped."""
    real, other = client_ip(), client_ip()
    async with _client(proxied, PROXY) as balancer:
        forged = [{"X-Forwarded-For": f"{client_ip()}, {real}"} for _ in range(3)]
        via_inner = [{"X-Forwarded-For": f"{client_ip()}, {real}, 10.0.{i}.1"} for i in range(2)]
        await _spend_five(balancer, forged + via_inner)
        assert_error(await _guess(balancer, {"X-Forwarded-For": f"{client_ip()},{real}"}), 429, "rate_limited")
        assert_error(await _guess(balancer, {"X-Forwarded-For": f"{real}, {other}"}), 401, "invalid_login")


async def test_an_untrusted_peer_forwarding_headers_are_ignored(proxied: LiveServer) -> None:
    """A client connecting directly (not from the proxy) cannot pose as a proxy, not even by naming
    a trusted hop in its chain."""
    async with _client(proxied, fresh_address()) as direct:
        await _spend_five(
            direct,
            [{"X-Forwarded-For": f"{client_ip()}, 10.0.0.{i}"} for i in range(4)] + [{"X-Forwarded-For": PROXY}],
        )
        assert_error(await _guess(direct, {"X-Forwarded-For": client_ip()}), 429, "rate_limited")


MALFORMED: list[list[tuple[bytes, bytes]]] = [
    [(b"x-forwarded-for", b"")],
    [(b"x-forwarded-for", b",, ,,")],
    [(b"x-forwarded-for", b"unknown")],
    [(b"x-forwarded-for", b"not-an-address, also not")],
    [(b"x-forwarded-for", b"[::1")],
    [(b"x-forwarded-for", b"1.2.3.4:99999:1")],
    [(b"x-forwarded-for", b"300.1.1.1")],
    [(b"x-forwarded-for", b"fe80::1%eth0")],
    [(b"x-forwarded-for", "\u00ff\u00fe".encode("latin-1"))],
    [(b"x-forwarded-for", b",".join([b"10.0.0.1"] * 2000))],
    [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"garbage")],
    [(b"forwarded", b'for="[2001:db8::1'), (b"x-forwarded-for", b"2001:db8::zz")],
]


@pytest.mark.parametrize("headers", MALFORMED, ids=range(len(MALFORMED)))
async def test_malformed_forwarding_headers_answer_the_documented_error_not_500(
    proxied: LiveServer, headers: list[tuple[bytes, bytes]]
) -> None:
    async with _client(proxied, PROXY) as balancer:
        response = await balancer.post(
            LOGIN, json={"email": unique_email("guess"), "password": "x"}, headers=httpx.Headers(headers)
        )
    assert response.status_code in (401, 429), response.text
    assert_error(response, response.status_code)


async def test_rfc7239_forwarded_behind_a_trusted_proxy(proxied_rfc7239: LiveServer) -> None:
    """With TESSERRA_PROXY_HEADER=forwarded: ``for=`` nodes (quoted, bracketed IPv6, ports) name the
    client, X-Forwarded-For is ignored, and the same chain rules hold."""
    v6 = next(_clients6)
    async with _client(proxied_rfc7239, PROXY) as balancer:
        await _spend_five(
            balancer,
            [
                {"Forwarded": f'for="[{v6}]:4711";proto=https'},
                {"Forwarded": f'for={client_ip()}, for="[{v6}]"'},
                {"Forwarded": f'for="[{v6}]", for=10.1.1.1;by=10.2.2.2', "X-Forwarded-For": client_ip()},
                {"Forwarded": f'for=_hidden, for="[{v6}]:1"'},
                {"Forwarded": f'For="[{v6.upper()}]"'},
            ],
        )
        assert_error(await _guess(balancer, {"Forwarded": f'for="[{v6}]"'}), 429, "rate_limited")
        assert_error(await _guess(balancer, {"Forwarded": f"for={client_ip()}"}), 401, "invalid_login")


def _scope(peer: str, headers: list[tuple[bytes, bytes]]) -> Any:
    return {"type": "http", "client": (peer, 50000), "headers": headers}


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.5", "198.51.100.1", "203.0.113.5"),  # an untrusted peer: its header is ignored
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "6.6.6.6, 198.51.100.1, 10.9.9.9", "198.51.100.1"),
        ("127.0.0.1", "10.1.1.1, 10.2.2.2", "10.1.1.1"),  # all trusted: the farthest hop
        ("127.0.0.1", "6.6.6.6, unknown, 10.2.2.2", "10.2.2.2"),  # stops at the last trusted hop
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "198.51.100.1:8080", "198.51.100.1"),
        ("127.0.0.1", "[2001:DB8::0001]:443", "2001:db8::1"),
        ("127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        ("::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
    ],
)
def test_the_chain_is_walked_from_the_right(peer: str, xff: str, expected: str) -> None:
    resolve = ClientAddress(TRUSTED)

    assert resolve(_scope(peer, [(b"x-forwarded-for", xff.encode())])) == expected


def test_no_trusted_proxies_means_the_peer_always() -> None:
    assert ClientAddress()(_scope("127.0.0.1", [(b"x-forwarded-for", b"198.51.100.1")])) == "127.0.0.1"
