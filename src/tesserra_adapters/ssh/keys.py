"""OpenSSH keys read with asyncssh (imported on first use): the public half of a login key, a host key."""

from __future__ import annotations

from typing import Any

from tesserra_core.errors import ValidationFailed


def asyncssh_module() -> Any:
    """asyncssh, imported the first time SSH is used (a server that never uses it does not load it)."""
    import asyncssh

    return asyncssh


def private_key(data: bytes) -> Any:
    asyncssh = asyncssh_module()
    try:
        return asyncssh.import_private_key(data)
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise ValidationFailed(
            "private_key must be an unencrypted private key (OpenSSH or PKCS#8 PEM)", code="validation_failed"
        ) from None


def public_line(key: Any) -> str:
    """``<algorithm> <base64>``, without a comment."""
    algorithm, blob, *_ = key.export_public_key("openssh").decode().split()
    return f"{algorithm} {blob}"


def public_key_of(data: bytes) -> str:
    return public_line(private_key(data))


def host_key(line: str) -> Any:
    asyncssh = asyncssh_module()
    try:
        return asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise ValidationFailed(
            "host_key must be an OpenSSH public key line, e.g. 'ssh-ed25519 AAAA...'", code="validation_failed"
        ) from None


def normalized_host_key(line: str) -> str:
    return public_line(host_key(line))
