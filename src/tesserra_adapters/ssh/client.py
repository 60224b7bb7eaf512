"""The SSH port over asyncssh.

The command line sent is ``exec timeout -k 2 -- <limit> <argv...>``, each word quoted for the login's
POSIX shell (``shlex.quote``), so each reaches the program as exactly one argument and the time limit
is enforced on the host by coreutils' timeout(1), which signals the whole process group. A cancelled
call sends SIGTERM over the channel (OpenSSH delivers it to timeout, which passes it on and kills the
group 2 s later). Host keys are pinned: asyncssh checks the server's key against the one given before
offering any credential. Vendor errors leave as ``RemoteFailed`` with their kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from typing import Any

from tesserra_adapters.ssh import keys
from tesserra_adapters.ssh.forwards import LoopbackForward
from tesserra_adapters.ssh.streams import CappedStream
from tesserra_core.domain.infra_ssh import RemoteKind
from tesserra_core.errors import RemoteFailed, ValidationFailed
from tesserra_core.ports.ssh import KILL_AFTER_SECONDS, SshCommand, SshResult, SshTarget

TIMED_OUT = (124, 128 + 9)
"""timeout(1)'s exit status when the limit passed: 124, or 137 when the command needed SIGKILL."""
BACKSTOP_SECONDS = 10.0
"""Past the limit and the kill delay, the client gives up waiting on a host that does not answer."""


def remote_command(command: SshCommand) -> str:
    words = ["exec", "timeout", "-k", str(KILL_AFTER_SECONDS), "--", str(command.time_limit_seconds)]
    return " ".join(shlex.quote(word) for word in (*words, *command.argv))


class AsyncsshClient:
    def __init__(self, *, connect_timeout: float = 10.0) -> None:
        self._connect_timeout = connect_timeout

    def command_line(self, command: SshCommand) -> str:
        return remote_command(command)

    def public_key_of(self, private_key: bytes) -> str:
        return keys.public_key_of(private_key)

    def normalized_host_key(self, line: str) -> str:
        return keys.normalized_host_key(line)

    async def run(
        self, target: SshTarget, private_key: bytes, command: SshCommand, certificate: str | None = None
    ) -> SshResult:
        if any("\x00" in word for word in command.argv):
            raise ValidationFailed("an argument cannot contain NUL", code="validation_failed")
        started = time.monotonic()
        conn = await self._connect(target, private_key, certificate)
        async with conn:
            process = await conn.create_process(remote_command(command), encoding=None)
            process.stdin.write_eof()
            return await self._collect(process, command, started)

    async def forward(
        self, target: SshTarget, private_key: bytes, destination: tuple[str, int], certificate: str | None = None
    ) -> LoopbackForward:
        asyncssh = keys.asyncssh_module()
        host, port = destination
        conn = await self._connect(target, private_key, certificate)
        try:
            _, probe = await conn.open_connection(host, port)
            probe.close()
        except asyncssh.ChannelOpenError as exc:
            conn.close()
            where = f"{target.address}:{target.port}"
            message = f"{where} refused to open a channel to {host}:{port} ({exc.reason})"
            raise RemoteFailed(message, kind=RemoteKind.FORWARD_REFUSED.value) from None
        except BaseException:
            conn.close()
            raise

        async def release() -> None:
            conn.close()
            await conn.wait_closed()

        forward = LoopbackForward(lambda: conn.open_connection(host, port), release)
        try:
            await forward.listen()
        except BaseException:
            conn.close()
            raise
        watcher = asyncio.create_task(conn.wait_closed(), name=f"ssh-forward-{forward.local_port}")
        watcher.add_done_callback(lambda _: forward.ended())
        _WATCHERS.add(watcher)
        watcher.add_done_callback(_WATCHERS.discard)
        return forward

    async def _connect(self, target: SshTarget, private_key: bytes, certificate: str | None) -> Any:
        asyncssh = keys.asyncssh_module()
        try:
            login_key = keys.private_key(private_key)
        except ValidationFailed:
            raise RemoteFailed("the host's login key cannot be read", kind=RemoteKind.AUTH_FAILED.value) from None
        where = f"{target.address}:{target.port}"
        try:
            return await asyncssh.connect(
                target.address,
                port=target.port,
                username=target.login,
                client_keys=[login_key if certificate is None else (login_key, certificate.encode())],
                known_hosts=([keys.host_key(target.host_key)], [], []),
                config=None,
                agent_path=None,
                password_auth=False,
                kbdint_auth=False,
                host_based_auth=False,
                gss_auth=False,
                connect_timeout=self._connect_timeout,
                login_timeout=self._connect_timeout,
            )
        except asyncssh.HostKeyNotVerifiable:
            kind, message = RemoteKind.HOST_KEY_MISMATCH, f"{where} did not present the pinned host key"
        except asyncssh.PermissionDenied:
            kind, message = RemoteKind.AUTH_FAILED, f"{where} refused the login key for {target.login}"
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            kind, message = RemoteKind.UNREACHABLE, f"{where} cannot be reached ({type(exc).__name__})"
        raise RemoteFailed(message, kind=kind.value)

    async def _collect(self, process: Any, command: SshCommand, started: float) -> SshResult:
        out, err = CappedStream(command.output_cap_bytes), CappedStream(command.output_cap_bytes)
        backstop = command.time_limit_seconds + KILL_AFTER_SECONDS + BACKSTOP_SECONDS
        gave_up = False
        try:
            async with asyncio.timeout(backstop):
                await asyncio.gather(out.drain(process.stdout.read), err.drain(process.stderr.read))
                await process.wait_closed()
        except TimeoutError:
            gave_up = True
            _signal(process, "KILL")
        except asyncio.CancelledError:
            _signal(process, "TERM")
            raise
        elapsed = time.monotonic() - started
        status, signal = process.exit_status, None
        if process.exit_signal is not None:
            signal, status = process.exit_signal[0], None
        timed_out = gave_up or (status in TIMED_OUT and elapsed >= command.time_limit_seconds)
        return SshResult(
            exit_status=None if gave_up else status,
            signal=signal,
            timed_out=timed_out,
            stdout=out.result(),
            stderr=err.result(),
            duration_ms=int(elapsed * 1000),
        )


_WATCHERS: set[asyncio.Task[None]] = set()
"""The tasks that tell a forward its SSH connection ended (kept referenced while they run)."""


def _signal(process: Any, name: str) -> None:
    with contextlib.suppress(OSError):  # the channel is already closed: the command has ended
        process.send_signal(name)
