"""The SSH port's contract, on the in-memory fake and on the asyncssh adapter against real OpenSSH servers:
argument vectors arrive word for word, the time limit ends the process on the host, a cancelled call
leaves nothing running, output is capped and hashed, and each failure has its kind."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tesserra_adapters.memory.ssh import FakeSshHost, MemorySshClient
from tesserra_adapters.ssh.client import AsyncsshClient
from tesserra_core.errors import RemoteFailed, ValidationFailed
from tesserra_core.ports.ssh import SshClient, SshCommand, SshTarget
from tests.servers.sshd import KeyPair, SshLab, processes

_unique = itertools.count(4101)


@dataclass
class Env:
    client: SshClient
    dev: SshTarget
    key: bytes
    impostor: SshTarget
    closed: SshTarget
    stranger: bytes
    processes: Callable[[str], list[str]]


def _target(address: str, port: int, login: str, host_key: str) -> SshTarget:
    return SshTarget(address=address, port=port, login=login, host_key=host_key)


def _fake_env() -> Env:
    user, host_key, other = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
    client = MemorySshClient()
    dev = client.add_host("10.0.0.1", 22, FakeSshHost(host_key=host_key.public, login="ops", authorized={user.public}))
    client.add_host("10.0.0.2", 22, FakeSshHost(host_key=other.public, login="ops", authorized={user.public}))
    return Env(
        client=client,
        dev=_target("10.0.0.1", 22, "ops", host_key.public),
        key=user.private,
        impostor=_target("10.0.0.2", 22, "ops", host_key.public),
        closed=_target("10.0.0.3", 22, "ops", host_key.public),
        stranger=KeyPair.generate().private,
        processes=dev.processes,
    )


def _real_env(lab: SshLab) -> Env:
    d = lab.dev
    return Env(
        client=AsyncsshClient(),
        dev=_target(d.address, d.port, d.login, d.host_key),
        key=d.user_key.private,
        impostor=_target(d.address, lab.impostor.port, d.login, d.host_key),
        closed=_target(d.address, lab.closed_port, d.login, d.host_key),
        stranger=lab.stranger_key.private,
        processes=processes,
    )


@pytest.fixture(params=["memory", "asyncssh"])
def env(request: pytest.FixtureRequest) -> Env:
    if request.param == "memory":
        return _fake_env()
    return _real_env(request.getfixturevalue("ssh_lab"))


def _cmd(*argv: str, limit: int = 10, cap: int = 4096) -> SshCommand:
    return SshCommand(argv=argv, time_limit_seconds=limit, output_cap_bytes=cap)


async def _until(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


INJECTIONS = [
    "; rm -rf /",
    "$(id)",
    "`id`",
    "a\nb",
    "it's",
    '"quoted"',
    "two  spaces ",
    " ",
    "*",
    "$HOME ${PATH}",
    "a|b&&c||d>e<f",
    "\\",
    "x" * 4000,
    "-n",
    "é ü 中",
]


@pytest.mark.parametrize("word", INJECTIONS, ids=range(len(INJECTIONS)))
async def test_each_word_arrives_as_exactly_one_argument(env: Env, word: str) -> None:
    result = await env.client.run(env.dev, env.key, _cmd("printf", "[%s]\n", word, "after"))
    if isinstance(env.client, MemorySshClient):  # the fake has no printf: it shows what reached the host
        assert env.client.hosts[("10.0.0.1", 22)].received[-1] == ("printf", "[%s]\n", word, "after")
        return
    assert result.failure is None
    assert result.stdout.head.decode() == f"[{word}]\n[after]\n"


async def test_echo_result_is_hashed_and_counted(env: Env) -> None:
    result = await env.client.run(env.dev, env.key, _cmd("echo", "hello world"))
    assert result.exit_status == 0
    assert result.signal is None
    assert not result.timed_out
    assert result.failure is None
    assert result.stdout.head == b"hello world\n"
    assert result.stdout.size == 12
    assert result.stdout.sha256 == hashlib.sha256(b"hello world\n").hexdigest()
    assert result.stderr.size == 0


async def test_output_beyond_the_cap_is_counted_and_hashed_not_kept(env: Env) -> None:
    result = await env.client.run(env.dev, env.key, _cmd("head", "-c", "300000", "/dev/zero", cap=1000))
    assert result.stdout.head == bytes(1000)
    assert result.stdout.truncated
    assert result.stdout.size == 300000
    assert result.stdout.sha256 == hashlib.sha256(bytes(300000)).hexdigest()


async def test_nonzero_exit(env: Env) -> None:
    result = await env.client.run(env.dev, env.key, _cmd("false"))
    assert result.exit_status == 1
    assert result.failure == "exit_nonzero"


async def test_killed_by_a_signal(env: Env) -> None:
    result = await env.client.run(env.dev, env.key, _cmd("sh", "-c", "kill -KILL $$"))
    assert result.signal == "KILL"
    assert result.failure == "signal"


async def test_time_limit_ends_the_process_on_the_host(env: Env) -> None:
    marker = str(next(_unique))
    started = time.monotonic()
    result = await env.client.run(env.dev, env.key, _cmd("sleep", marker, limit=1))
    assert result.timed_out
    assert result.failure == "timeout"
    assert time.monotonic() - started < 30
    assert await _until(lambda: not env.processes(f"sleep {marker}"))


async def test_cancelling_the_call_ends_the_process_on_the_host(env: Env) -> None:
    marker = str(next(_unique))
    task = asyncio.ensure_future(env.client.run(env.dev, env.key, _cmd("sleep", marker, limit=120)))
    assert await _until(lambda: bool(env.processes(f"sleep {marker}")))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _until(lambda: not env.processes(f"sleep {marker}"))


async def test_an_unpinned_host_key_is_refused(env: Env) -> None:
    with pytest.raises(RemoteFailed) as caught:
        await env.client.run(env.impostor, env.key, _cmd("true"))
    assert caught.value.kind == "host_key_mismatch"
    assert caught.value.status == 502


async def test_a_key_the_host_does_not_accept(env: Env) -> None:
    with pytest.raises(RemoteFailed) as caught:
        await env.client.run(env.dev, env.stranger, _cmd("true"))
    assert caught.value.kind == "auth_failed"


async def test_a_closed_port_is_unreachable(env: Env) -> None:
    with pytest.raises(RemoteFailed) as caught:
        await env.client.run(env.closed, env.key, _cmd("true"))
    assert caught.value.kind == "unreachable"


async def test_a_nul_never_reaches_the_host(env: Env) -> None:
    with pytest.raises(ValidationFailed):
        await env.client.run(env.dev, env.key, _cmd("echo", "a\x00b"))


def test_keys_are_read_and_bad_ones_refused(env: Env) -> None:
    pair = KeyPair.generate()
    assert env.client.public_key_of(pair.private) == pair.public
    assert env.client.normalized_host_key(pair.public + " comment") == pair.public
    with pytest.raises(ValidationFailed):
        env.client.public_key_of(b"not a key")
    with pytest.raises(ValidationFailed):
        env.client.normalized_host_key("ssh-ed25519 AAAAnot")
