"""An in-memory SSH port: simulated hosts, each with a pinned host key, a login and its authorized keys,
and a few programs (echo, true, false, sleep, head -c N /dev/zero, sh -c 'kill -SIG $$', uptime, df,
test -e, systemctl), and local forwards to the destinations a host permits (``permit_open``, as sshd's
PermitOpen; the channels are plain TCP connections from this process). Time limits run on the event loop's
clock; a process is listed in its host's ``running`` while it runs and gone once its limit passes or its call
is cancelled. It passes the same contract suite as the asyncssh adapter against real sshd."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tesserra_adapters.ssh import keys
from tesserra_adapters.ssh.client import TIMED_OUT, remote_command
from tesserra_adapters.ssh.forwards import LoopbackForward
from tesserra_adapters.ssh.streams import CappedStream
from tesserra_core.domain.infra_ssh import RemoteKind
from tesserra_core.errors import RemoteFailed, ValidationFailed
from tesserra_core.ports.ssh import SshCommand, SshResult, SshTarget

_KILL_SELF = re.compile(r"kill -([A-Z]+) \$\$")


@dataclass
class Outcome:
    status: int | None = 0
    signal: str | None = None
    stdout: bytes = b""
    stderr: bytes = b""
    sleep: float = 0.0


@dataclass
class FakeSshHost:
    host_key: str
    login: str
    authorized: set[str]
    files: set[str] = field(default_factory=lambda: {"/etc/hostname"})
    running: list[tuple[str, ...]] = field(default_factory=list)
    received: list[tuple[str, ...]] = field(default_factory=list)
    permit_open: set[str] = field(default_factory=set)
    """``host:port`` destinations this host opens channels to (none: forwarding is off)."""

    def processes(self, pattern: str) -> list[str]:
        return [line for argv in self.running if pattern in (line := " ".join(argv))]


def _touched(host: FakeSshHost, path: str) -> Outcome:
    host.files.add(path)
    return Outcome()


def _program(host: FakeSshHost, argv: tuple[str, ...]) -> Outcome:
    name, args = argv[0], argv[1:]
    df = f"Filesystem Size Used Avail Use% Mounted on\nfake 10G 1G 9G 10% {args[-1] if args else '/'}\n"
    simple: dict[str, Callable[[], Outcome]] = {
        "echo": lambda: Outcome(stdout=(" ".join(args) + "\n").encode()),
        "true": lambda: Outcome(),
        "false": lambda: Outcome(status=1),
        "uptime": lambda: Outcome(stdout=b" 12:00:00 up 1 day,  0:00,  0 users,  load average: 0.00, 0.00, 0.00\n"),
        "df": lambda: Outcome(stdout=df.encode()),
        "test": lambda: Outcome(status=0 if args[-1] in host.files else 1),
        "touch": lambda: _touched(host, args[-1]),
        "systemctl": lambda: Outcome(status=4, stderr=f"Unit {args[-1]}.service could not be found.\n".encode()),
    }
    if name in simple:
        return simple[name]()
    if name == "sleep" and len(args) == 1 and args[0].isdigit():
        return Outcome(sleep=float(args[0]))
    if name == "head" and args[:1] == ("-c",) and len(args) == 3 and args[2] == "/dev/zero":
        return Outcome(stdout=bytes(int(args[1])))
    if name == "sh" and len(args) == 2 and args[0] == "-c" and (kill := _KILL_SELF.fullmatch(args[1])):
        return Outcome(status=None, signal=kill.group(1))
    return Outcome(status=127, stderr=f"sh: 1: {name}: not found\n".encode())


class MemorySshClient:
    def __init__(self) -> None:
        self.hosts: dict[tuple[str, int], FakeSshHost] = {}

    def add_host(self, address: str, port: int, host: FakeSshHost) -> FakeSshHost:
        self.hosts[(address, port)] = host
        return host

    def command_line(self, command: SshCommand) -> str:
        return remote_command(command)

    def public_key_of(self, private_key: bytes) -> str:
        return keys.public_key_of(private_key)

    def normalized_host_key(self, line: str) -> str:
        return keys.normalized_host_key(line)

    async def forward(
        self, target: SshTarget, private_key: bytes, destination: tuple[str, int], certificate: str | None = None
    ) -> LoopbackForward:
        if certificate is not None:  # simulated hosts trust no user CA
            raise RemoteFailed("the host refused the certificate", kind=RemoteKind.AUTH_FAILED.value)
        host = self._login(target, private_key)
        address, port = destination
        if f"{address}:{port}" not in host.permit_open:
            message = f"{target.address}:{target.port} refused to open a channel to {address}:{port}"
            raise RemoteFailed(message, kind=RemoteKind.FORWARD_REFUSED.value)

        async def release() -> None:
            return None

        forward = LoopbackForward(lambda: asyncio.open_connection(address, port), release)
        await forward.listen()
        return forward

    async def run(
        self, target: SshTarget, private_key: bytes, command: SshCommand, certificate: str | None = None
    ) -> SshResult:
        if any("\x00" in word for word in command.argv):
            raise ValidationFailed("an argument cannot contain NUL", code="validation_failed")
        if certificate is not None:  # simulated hosts trust no user CA
            raise RemoteFailed("the host refused the certificate", kind=RemoteKind.AUTH_FAILED.value)
        started = time.monotonic()
        host = self._login(target, private_key)
        argv = command.argv
        host.received.append(argv)
        outcome = _program(host, argv)
        limit = command.time_limit_seconds
        timed_out = outcome.sleep > limit
        host.running.append(argv)
        try:
            await asyncio.sleep(min(outcome.sleep, limit))
        finally:
            host.running.remove(argv)
        out, err = CappedStream(command.output_cap_bytes), CappedStream(command.output_cap_bytes)
        out.feed(outcome.stdout)
        err.feed(outcome.stderr)
        return SshResult(
            exit_status=TIMED_OUT[0] if timed_out else outcome.status,
            signal=None if timed_out else outcome.signal,
            timed_out=timed_out,
            stdout=out.result(),
            stderr=err.result(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    def _login(self, target: SshTarget, private_key: bytes) -> FakeSshHost:
        where = f"{target.address}:{target.port}"
        host = self.hosts.get((target.address, target.port))
        if host is None:
            raise RemoteFailed(f"{where} cannot be reached (ConnectionRefusedError)", kind=RemoteKind.UNREACHABLE.value)
        if keys.normalized_host_key(host.host_key) != keys.normalized_host_key(target.host_key):
            raise RemoteFailed(f"{where} did not present the pinned host key", kind=RemoteKind.HOST_KEY_MISMATCH.value)
        try:
            offered = keys.public_key_of(private_key)
        except ValidationFailed:
            offered = ""
        if target.login != host.login or offered not in host.authorized:
            raise RemoteFailed(f"{where} refused the login key for {target.login}", kind=RemoteKind.AUTH_FAILED.value)
        return host
