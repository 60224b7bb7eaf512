"""DnsResolver contract: the in-memory resolver and dnspython's async resolver asking a real
(small, authoritative, in-process) DNS server over UDP on loopback."""

from __future__ import annotations

import socket
import uuid

import pytest

from tesserra_adapters.dns import DnspythonResolver
from tesserra_adapters.memory.dns import MemoryResolver
from tesserra_core.errors import Unavailable
from tesserra_core.ports.dns import DnsResolver
from tests.dns_server import loopback_dns


class World:
    """Publishes records where the resolver under test will find them, and breaks it on demand."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.memory = MemoryResolver()

    def resolver(self) -> DnsResolver:
        if self.kind == "memory":
            return self.memory
        return DnspythonResolver([loopback_dns().address], timeout=0.5)

    def broken(self) -> DnsResolver:
        if self.kind == "memory":
            self.memory.down = True
            return self.memory
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a port where nobody answers
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        return DnspythonResolver([f"127.0.0.1:{port}"], timeout=0.3)

    def publish_txt(self, name: str, *values: str) -> None:
        if self.kind == "memory":
            self.memory.publish_txt(name, *values)
        else:
            loopback_dns().publish_txt(name, *values)

    def publish_address(self, name: str, address: str) -> None:
        if self.kind == "memory":
            self.memory.publish_address(name, address)
        else:
            loopback_dns().publish(name, "AAAA" if ":" in address else "A", address)


@pytest.fixture(params=["memory", "dnspython"])
def world(request: pytest.FixtureRequest) -> World:
    return World(request.param)


def a_name() -> str:
    return f"n{uuid.uuid4().hex[:10]}.example.com"


async def test_txt_records_come_back_as_text(world: World) -> None:
    name = f"_tesserra-challenge.{a_name()}"
    world.publish_txt(name, "token with spaces", "another")
    assert sorted(await world.resolver().txt(name)) == ["another", "token with spaces"]
    assert sorted(await world.resolver().txt(name.upper() + ".")) == ["another", "token with spaces"]


async def test_unknown_names_and_types_are_empty(world: World) -> None:
    name = a_name()
    world.publish_address(name, "192.0.2.7")
    assert await world.resolver().txt(a_name()) == []
    assert await world.resolver().txt(name) == []
    assert await world.resolver().addresses(a_name()) == []


async def test_addresses_gathers_a_and_aaaa(world: World) -> None:
    name = a_name()
    world.publish_address(name, "192.0.2.7")
    world.publish_address(name, "2001:db8::7")
    assert sorted(await world.resolver().addresses(name)) == ["192.0.2.7", "2001:db8::7"]


async def test_a_resolver_that_cannot_answer_raises_unavailable(world: World) -> None:
    broken = world.broken()
    with pytest.raises(Unavailable):
        await broken.txt(a_name())
    with pytest.raises(Unavailable):
        await broken.addresses(a_name())


async def test_a_server_that_never_answers_is_unavailable_within_the_timeout() -> None:
    import time

    resolver = DnspythonResolver([loopback_dns().address], timeout=0.3)
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await resolver.txt("x.blackhole")
    assert time.monotonic() - started < 1.5
