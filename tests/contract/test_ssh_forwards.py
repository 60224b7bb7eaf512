"""The SSH port's forwards, on the in-memory fake and on the asyncssh adapter against real OpenSSH (the lab's
prod sshd, PermitOpen to its echo server and tarpit): bytes both ways, counted; closing ends the local
client's connection and the listener; a destination the host will not open is forward_refused, and a host
that cannot be logged in to fails with its kind, both before any port listens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import pytest

from tesserra_adapters.memory.ssh import FakeSshHost, MemorySshClient
from tesserra_adapters.ssh.client import AsyncsshClient
from tesserra_core.errors import RemoteFailed
from tesserra_core.ports.ssh import SshClient, SshTarget
from tests.servers.sshd import KeyPair, SshLab, TcpEnd, listening_ports, tcp_end


@dataclass
class Env:
    client: SshClient
    host: SshTarget
    key: bytes
    impostor: SshTarget
    echo: TcpEnd
    forbidden: TcpEnd


def _where(end: TcpEnd) -> tuple[str, int]:
    return ("127.0.0.1", end.port)


@pytest.fixture(params=["memory", "asyncssh"])
def lab(request: pytest.FixtureRequest) -> SshLab | None:
    """The real sshd lab for the asyncssh adapter; None for the in-memory fake."""
    return None if request.param == "memory" else request.getfixturevalue("ssh_lab")


@pytest.fixture
async def env(lab: SshLab | None) -> AsyncIterator[Env]:
    if lab is not None:
        p = lab.prod
        host = SshTarget(address=p.address, port=p.port, login=p.login, host_key=p.host_key)
        impostor = SshTarget(address=p.address, port=lab.impostor.port, login=p.login, host_key=p.host_key)
        yield Env(AsyncsshClient(), host, p.user_key.private, impostor, lab.echo, lab.forbidden)
        return
    async with AsyncExitStack() as stack:
        echo = await stack.enter_async_context(tcp_end(answer=True))
        forbidden = await stack.enter_async_context(tcp_end(answer=True))
        user, host_key, other = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
        client = MemorySshClient()
        fake = FakeSshHost(host_key=host_key.public, login="ops", authorized={user.public})
        fake.permit_open.add(echo.destination)
        client.add_host("10.0.1.1", 22, fake)
        client.add_host("10.0.1.2", 22, FakeSshHost(host_key=other.public, login="ops", authorized={user.public}))
        host = SshTarget(address="10.0.1.1", port=22, login="ops", host_key=host_key.public)
        impostor = SshTarget(address="10.0.1.2", port=22, login="ops", host_key=host_key.public)
        yield Env(client, host, user.private, impostor, echo, forbidden)


async def test_a_forward_carries_bytes_both_ways_and_closing_ends_its_connections(env: Env) -> None:
    forward = await env.client.forward(env.host, env.key, _where(env.echo))
    try:
        assert forward.local_port in listening_ports()
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.local_port)
        writer.write(b"x" * 100_000)
        assert await asyncio.wait_for(reader.readexactly(100_000), 20) == b"x" * 100_000
        assert (forward.bytes_sent, forward.bytes_received, forward.connections) == (100_000, 100_000, 1)
    finally:
        await forward.close()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    assert forward.local_port not in listening_ports()
    await asyncio.wait_for(forward.wait_closed(), 2)


async def test_refusals_have_their_kind_and_listen_on_no_port(env: Env) -> None:
    reached = env.forbidden.accepted
    for target, destination, kind in [
        (env.host, _where(env.forbidden), "forward_refused"),
        (env.impostor, _where(env.echo), "host_key_mismatch"),
    ]:
        before = listening_ports()
        with pytest.raises(RemoteFailed) as refused:
            await env.client.forward(target, env.key, destination)
        assert refused.value.kind == kind
        assert listening_ports() <= before
    assert env.forbidden.accepted == reached
