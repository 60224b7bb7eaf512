"""AES-256-GCM secret box (``cryptography``): keys derived from the server secret by HKDF, one per version.

A sealed token reads ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``. The key id names the key
that sealed it, so a server given its new secret plus the old ones (rotation) still opens old tokens
and seals new ones under the newest key. The context is authenticated as associated data together
with the format version and key id.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tesserra_core.errors import SecretUnreadable

FORMAT = "v1"
_NONCE = 12
_INFO = b"tesserra/secrets-at-rest/aes-256-gcm/v1"


def derive_key(secret: bytes) -> bytes:
    """A 256-bit key for sealing, independent of every other key taken from the same server secret."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)


def key_id(key: bytes) -> str:
    """A short public name for a key (not a secret: a hash of a hash of it)."""
    return hashlib.sha256(b"tesserra/key-id/" + hashlib.sha256(key).digest()).hexdigest()[:12]


class AesGcmSecretBox:
    """Seals with the first key; opens with any key it holds."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys or any(len(k) != 32 for k in keys):
            raise ValueError("the secret box needs at least one 32-byte key")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self._current = key_id(keys[0])

    @classmethod
    def from_secrets(cls, current: bytes, *previous: bytes) -> AesGcmSecretBox:
        return cls([derive_key(s) for s in (current, *previous)])

    def seal(self, plaintext: bytes, *, context: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, _aad(self._current, context))
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()
        return f"{FORMAT}.{self._current}.{body}"

    def open(self, token: str, *, context: str) -> bytes:
        version, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if version != FORMAT or not body:
            raise SecretUnreadable("not a sealed secret")
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretUnreadable("sealed under a key this server does not hold", code="unknown_key")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise SecretUnreadable("not a sealed secret") from None
        if len(raw) < _NONCE + 16:
            raise SecretUnreadable("not a sealed secret")
        try:
            return aead.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(kid, context))
        except InvalidTag:
            raise SecretUnreadable("the sealed secret does not open in this context") from None


def _aad(kid: str, context: str) -> bytes:
    return f"tesserra/{FORMAT}/{kid}\x00{context}".encode()
