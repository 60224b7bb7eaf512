"""Secrets at rest: values the server must read back (OAuth tokens, installation secrets), sealed."""

from __future__ import annotations

from typing import Protocol


class SecretBox(Protocol):
    """Authenticated encryption bound to a context.

    ``context`` names where a sealed value belongs (e.g. ``oauth:<tenant>:<user>:<tool>:access``) and is
    authenticated with it: a token copied to another row, user or tenant does not open there.
    """

    def seal(self, plaintext: bytes, *, context: str) -> str:
        """An opaque ASCII token carrying the key version, a nonce and the ciphertext."""
        ...

    def open(self, token: str, *, context: str) -> bytes:
        """The plaintext; raises ``SecretUnreadable`` for a wrong context, a tampered token or an unknown key."""
        ...
