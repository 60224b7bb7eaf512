"""OpenSSH user certificates with asyncssh, and KRLs with ``ssh-keygen -k`` (asyncssh reads KRLs but does
not write them); KRLs shipped as files (the operator syncs each file to the host's ``RevokedKeys`` path)."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

from tesserra_adapters.ssh import keys
from tesserra_core.domain.infra_ssh import Host
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.ssh_certificates import CertificateRequest, UserCa, UserCertificate

SSH_KEYGEN = "ssh-keygen"
SKEW_ALLOWANCE = "-1m"


class AsyncsshCertificateAuthority:
    def new_ca(self) -> UserCa:
        ca = keys.asyncssh_module().generate_private_key("ssh-ed25519")
        return UserCa(private_key=ca.export_private_key(), public_key=keys.public_line(ca))

    def issue(self, ca: UserCa, request: CertificateRequest) -> UserCertificate:
        asyncssh = keys.asyncssh_module()
        signer = asyncssh.import_private_key(ca.private_key)
        user_key = asyncssh.generate_private_key("ssh-ed25519")
        certificate = signer.generate_user_certificate(
            user_key,
            request.key_id,
            principals=[request.principal],
            valid_after=SKEW_ALLOWANCE,
            valid_before=int(request.valid_before.timestamp()),
            force_command=request.force_command,
            permit_port_forwarding=request.permit_port_forwarding,
            permit_x11_forwarding=False,
            permit_agent_forwarding=False,
            permit_pty=False,
            permit_user_rc=False,
            touch_required=False,
        )
        return UserCertificate(
            private_key=user_key.export_private_key(),
            certificate=certificate.export_certificate().decode().strip(),
            key_id=request.key_id,
        )

    async def revocation_list(self, ca: UserCa, key_ids: Sequence[str]) -> bytes:
        with tempfile.TemporaryDirectory(prefix="tesserra-krl-") as work:
            directory = Path(work)
            (directory / "ca.pub").write_text(ca.public_key + "\n")
            (directory / "spec").write_text("".join(f"id: {key_id}\n" for key_id in key_ids))
            krl = directory / "krl"
            process = await asyncio.create_subprocess_exec(
                SSH_KEYGEN,
                "-k",
                "-f",
                str(krl),
                "-s",
                str(directory / "ca.pub"),
                str(directory / "spec"),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
            _, errors = await process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"ssh-keygen -k failed: {errors.decode(errors='replace').strip()}")
            return krl.read_bytes()


class KrlFiles:
    """Writes each host's KRL to a file (``path_of(host)``), atomically: sshd never reads half a list."""

    def __init__(self, path_of: Callable[[Host], Path]) -> None:
        self.path_of = path_of

    @classmethod
    def under(cls, root: Path) -> KrlFiles:
        """``<root>/<tenant id>/<host id>.krl``."""
        return cls(lambda host: root / host.tenant_id / f"{host.id}.krl")

    async def publish(self, host: Host, krl: bytes) -> None:
        await asyncio.to_thread(_write_atomically, self.path_of(host), krl)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as sink:
            sink.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


CA_CONTEXT = "infra_ssh:user_ca"


class SealedCaFile:
    """The server's user CA in one file, sealed by the secret box; made on first use. Two workers making it
    at once: the first to create the file wins and the other reads it."""

    def __init__(self, path: Path, box: SecretBox, authority: AsyncsshCertificateAuthority) -> None:
        self._path, self._box, self._authority = path, box, authority
        self._ca: UserCa | None = None

    async def load(self) -> UserCa:
        if self._ca is None:
            self._ca = await asyncio.to_thread(self._load_or_make)
        return self._ca

    def _load_or_make(self) -> UserCa:
        if not self._path.exists():
            made = self._authority.new_ca()
            self._path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as sink:
                    sink.write(self._box.seal(msgspec.json.encode(made), context=CA_CONTEXT).encode())
                return made
        return msgspec.json.decode(self._box.open(self._path.read_text(), context=CA_CONTEXT), type=UserCa)
