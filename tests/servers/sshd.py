"""Real OpenSSH servers on loopback ports for the SSH tests: ``/usr/sbin/sshd -D -e -f <config>`` with
generated host keys, a dedicated login user (made with useradd and unlocked with ``usermod -p '*'``)
and an authorized_keys file of generated user keys."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from tests.support import free_port, missing

SSHD = "/usr/sbin/sshd"
LOGIN = "tesserra-ssh"
HOW = "install openssh-server (apt-get install -y openssh-server) and run the tests as root"


@dataclass(frozen=True)
class KeyPair:
    private: bytes
    public: str

    @classmethod
    def generate(cls) -> KeyPair:
        key = asyncssh.generate_private_key("ssh-ed25519")
        return cls(key.export_private_key().decode().encode(), key.export_public_key().decode().strip())


@dataclass(frozen=True)
class Sshd:
    """One running sshd: where it listens, its host key, the login and a key it accepts, its log."""

    address: str
    port: int
    host_key: str
    login: str
    user_key: KeyPair
    log: Path


def ensure_login() -> None:
    """The login user exists and may log in with a key (its password stays unusable)."""
    if os.geteuid() != 0 or not Path(SSHD).exists():
        missing("sshd (OpenSSH server)", HOW)
    if subprocess.run(["id", "-u", LOGIN], capture_output=True, check=False).returncode != 0:
        subprocess.run(["useradd", "-M", "-d", "/tmp", "-s", "/bin/sh", LOGIN], check=True, capture_output=True)
    subprocess.run(["usermod", "-p", "*", LOGIN], check=True, capture_output=True)
    Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)


def _config(directory: Path, port: int, extra: Sequence[str] = ()) -> str:
    return "\n".join(
        [
            *extra,
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {directory / 'host_key'}",
            f"PidFile {directory / 'sshd.pid'}",
            f"AuthorizedKeysFile {directory / 'authorized_keys'}",
            f"AllowUsers {LOGIN}",
            "UsePAM no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            "StrictModes no",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "MaxStartups 200:30:400",
            "MaxSessions 100",
            "LogLevel VERBOSE",
            "",
        ]
    )


def _prepare(host_key: asyncssh.SSHKey, authorized: Sequence[KeyPair], port: int, extra: Sequence[str] = ()) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="tesserra-sshd-"))
    directory.chmod(0o755)  # the login reads authorized_keys as itself
    (directory / "host_key").write_bytes(host_key.export_private_key())
    (directory / "host_key").chmod(0o600)
    (directory / "authorized_keys").write_text("".join(f"{k.public}\n" for k in authorized))
    (directory / "authorized_keys").chmod(0o644)
    (directory / "sshd_config").write_text(_config(directory, port, extra))
    return directory


def _log(path: Path) -> str:
    return path.read_text(errors="replace")


@asynccontextmanager
async def sshd(
    host_key: asyncssh.SSHKey, authorized: Sequence[KeyPair], extra: Sequence[str] = ()
) -> AsyncIterator[Sshd]:
    """A running sshd with ``host_key``, accepting ``authorized`` keys for the login user; ``extra`` config
    lines come first (sshd keeps the first value of a keyword)."""
    port = free_port()
    directory = _prepare(host_key, authorized, port, extra)
    try:
        log = directory / "sshd.log"
        with open(log, "wb") as sink:  # noqa: ASYNC230 (a local file, once per server)
            process = await asyncio.create_subprocess_exec(
                SSHD, "-D", "-e", "-f", str(directory / "sshd_config"), stdout=sink, stderr=sink
            )
        try:
            await _listening(port, process, log)
            yield Sshd(
                address="127.0.0.1",
                port=port,
                host_key=host_key.export_public_key().decode().strip(),
                login=LOGIN,
                user_key=authorized[0],
                log=log,
            )
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def _listening(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    for _ in range(200):
        if process.returncode is not None:
            raise RuntimeError(f"sshd exited: {_log(log)}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"sshd did not listen on {port}: {_log(log)}")


@dataclass
class TcpEnd:
    """A TCP server on loopback that forwards may reach: it counts the connections it accepted."""

    port: int
    accepted: int = 0

    @property
    def destination(self) -> str:
        return f"127.0.0.1:{self.port}"


@asynccontextmanager
async def tcp_end(answer: bool) -> AsyncIterator[TcpEnd]:
    """An echo server (``answer``: every byte it reads goes back, until the client's end of file), or a
    tarpit (accepts and never answers nor closes)."""
    end = TcpEnd(0)
    held: set[asyncio.StreamWriter] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        end.accepted += 1
        held.add(writer)
        try:
            while data := await reader.read(65536):
                if answer:
                    writer.write(data)
                    await writer.drain()
        except OSError:
            pass
        finally:
            held.discard(writer)
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    end.port = server.sockets[0].getsockname()[1]
    try:
        yield end
    finally:
        server.close()
        for writer in list(held):
            writer.close()


@dataclass(frozen=True)
class SshLab:
    """The test hosts: three dev hosts with plain keys (forwarding off), an impostor listening with another
    host key (a client that pins ``dev``'s key must refuse it), a closed port, and a key no host accepts; and
    for forwards a prod host whose sshd permits local forwards only to ``echo`` and ``tarpit``
    (PermitOpen), an echo destination, a ``forbidden`` one (an echo server no forward may reach) and a
    tarpit (accepts, never answers)."""

    dev: Sshd
    dev2: Sshd
    dev3: Sshd
    impostor: Sshd
    closed_port: int
    stranger_key: KeyPair
    prod: Sshd
    echo: TcpEnd
    forbidden: TcpEnd
    tarpit: TcpEnd

    @property
    def hosts(self) -> tuple[Sshd, Sshd, Sshd]:
        return self.dev, self.dev2, self.dev3


@asynccontextmanager
async def ssh_lab() -> AsyncIterator[SshLab]:
    ensure_login()
    user_key = KeyPair.generate()
    async with (
        tcp_end(answer=True) as echo,
        tcp_end(answer=True) as forbidden,
        tcp_end(answer=False) as tarpit,
        sshd(asyncssh.generate_private_key("ssh-ed25519"), [user_key]) as dev,
        sshd(asyncssh.generate_private_key("ssh-ed25519"), [user_key]) as dev2,
        sshd(asyncssh.generate_private_key("ssh-ed25519"), [user_key]) as dev3,
        sshd(asyncssh.generate_private_key("ssh-ed25519"), [user_key]) as impostor,
        sshd(asyncssh.generate_private_key("ssh-ed25519"), [user_key], permit_open(echo, tarpit)) as prod,
    ):
        yield SshLab(dev, dev2, dev3, impostor, free_port(), KeyPair.generate(), prod, echo, forbidden, tarpit)


def permit_open(*ends: TcpEnd) -> list[str]:
    """sshd config lines: local forwards allowed, to these destinations only."""
    return ["AllowTcpForwarding local", "PermitOpen " + " ".join(end.destination for end in ends)]


def processes(pattern: str) -> list[str]:
    """The login user's processes on this machine whose command line matches ``pattern`` (pgrep -f)."""
    found = subprocess.run(["pgrep", "-u", LOGIN, "-a", "-f", pattern], capture_output=True, text=True, check=False)
    return found.stdout.splitlines()


@dataclass(frozen=True)
class CertifiedSshd:
    """A prod-like sshd that takes only certificates of one user CA (no authorized key works: its
    AuthorizedKeysFile is empty) and refuses those its KRL file lists."""

    server: Sshd
    trusted_ca: Path
    revoked_keys: Path


def _prepare_ca(ca_public_key: str, empty_krl: bytes) -> tuple[Path, Path, Path]:
    directory = Path(tempfile.mkdtemp(prefix="tesserra-ca-"))
    directory.chmod(0o755)
    trusted, revoked = directory / "user_ca.pub", directory / "revoked.krl"
    trusted.write_text(ca_public_key + "\n")
    revoked.write_bytes(empty_krl)
    for path in (trusted, revoked):
        path.chmod(0o644)
    return directory, trusted, revoked


@asynccontextmanager
async def certified_sshd(
    ca_public_key: str, empty_krl: bytes, more: Sequence[str] = ()
) -> AsyncIterator[CertifiedSshd]:
    """``ca_public_key`` goes to ``TrustedUserCAKeys``; ``empty_krl`` starts the ``RevokedKeys`` file (sshd
    refuses every key when that file cannot be read). sshd reads both files at each authentication. ``more``
    config lines come first (e.g. ``permit_open``)."""
    ensure_login()
    directory, trusted, revoked = _prepare_ca(ca_public_key, empty_krl)
    extra = [*more, f"TrustedUserCAKeys {trusted}", f"RevokedKeys {revoked}"]
    try:
        async with sshd(asyncssh.generate_private_key("ssh-ed25519"), [KeyPair.generate()], extra) as server:
            _no_authorized_keys(server)
            yield CertifiedSshd(server, trusted, revoked)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _no_authorized_keys(server: Sshd) -> None:
    (server.log.parent / "authorized_keys").write_text("")


def listening_ports() -> set[int]:
    """The TCP ports this test process listens on (its sockets, matched by inode in /proc/net/tcp{,6}), so
    other processes on the machine opening ports in the meantime do not count."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports
