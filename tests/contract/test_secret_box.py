"""SecretBox contract: what is sealed opens only in its own context, untouched, under a key the box holds."""

from __future__ import annotations

import base64
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import memory_ports
from tesserra_adapters.secret_box import AesGcmSecretBox
from tesserra_adapters.settings import Settings
from tesserra_core.errors import SecretUnreadable
from tesserra_core.ports.secrets_at_rest import SecretBox

SECRET = b"a-server-secret-of-at-least-32-characters!"
OTHER = b"another-server-secret-of-32-characters-or-more"


@pytest.fixture(params=["aes-gcm", "aes-gcm-rotated"])
def box(request: pytest.FixtureRequest) -> SecretBox:
    if request.param == "aes-gcm":
        return AesGcmSecretBox.from_secrets(SECRET)
    return AesGcmSecretBox.from_secrets(OTHER, SECRET)  # the current key first, a former one after it


@pytest.mark.parametrize("plaintext", [b"", b"gho_access-token", bytes(range(256)) * 40])
def test_round_trip(box: SecretBox, plaintext: bytes) -> None:
    token = box.seal(plaintext, context="oauth:t1:u1:github:access")
    assert token.isascii()
    assert plaintext == b"" or plaintext not in token.encode()
    assert box.open(token, context="oauth:t1:u1:github:access") == plaintext


def test_sealing_twice_gives_different_tokens(box: SecretBox) -> None:
    assert box.seal(b"same", context="c") != box.seal(b"same", context="c")


@pytest.mark.parametrize(
    "other", ["oauth:t1:u2:github:access", "oauth:t2:u1:github:access", "oauth:t1:u1:github:refresh", ""]
)
def test_wrong_context_fails(box: SecretBox, other: str) -> None:
    token = box.seal(b"secret", context="oauth:t1:u1:github:access")
    with pytest.raises(SecretUnreadable):
        box.open(token, context=other)


def test_tampered_fails(box: SecretBox) -> None:
    token = box.seal(b"secret value", context="c")
    head, _, body = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for index in (0, 13, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 1
        forged = f"{head}.{base64.urlsafe_b64encode(bytes(flipped)).rstrip(b'=').decode()}"
        with pytest.raises(SecretUnreadable):
            box.open(forged, context="c")
    with pytest.raises(SecretUnreadable):
        box.open(f"{head}.{body[:-4]}", context="c")  # truncated


@pytest.mark.parametrize("garbage", ["", "v1", "v1..", "v2.abc.def", "v1.nokey.AAAA", "v1.x.!!!!", "plain text"])
def test_garbage_fails_cleanly(box: SecretBox, garbage: str) -> None:
    with pytest.raises(SecretUnreadable):
        box.open(garbage, context="c")


def test_different_key_fails(box: SecretBox) -> None:
    stranger = AesGcmSecretBox.from_secrets(b"a-third-secret-nobody-else-has-0123456789")
    with pytest.raises(SecretUnreadable):
        stranger.open(box.seal(b"secret", context="c"), context="c")
    with pytest.raises(SecretUnreadable):
        box.open(stranger.seal(b"secret", context="c"), context="c")


def test_a_key_id_swapped_in_does_not_open() -> None:
    """Two keys held: a token relabelled with the other key's id fails (the id is authenticated too)."""
    old = AesGcmSecretBox.from_secrets(SECRET)
    both = AesGcmSecretBox.from_secrets(OTHER, SECRET)
    token = old.seal(b"secret", context="c")
    new_id = both.seal(b"x", context="c").split(".")[1]
    version, _, body = token.split(".")
    with pytest.raises(SecretUnreadable):
        both.open(f"{version}.{new_id}.{body}", context="c")


def test_rotation_opens_old_tokens_and_seals_with_the_new_key() -> None:
    old = AesGcmSecretBox.from_secrets(SECRET)
    rotated = AesGcmSecretBox.from_secrets(OTHER, SECRET)
    legacy = old.seal(b"from before", context="c")
    assert rotated.open(legacy, context="c") == b"from before"
    fresh = rotated.seal(b"after", context="c")
    with pytest.raises(SecretUnreadable):
        old.open(fresh, context="c")  # sealed under the new key, which the old server lacks
    assert AesGcmSecretBox.from_secrets(OTHER).open(fresh, context="c") == b"after"


def test_key_is_derived_not_the_raw_secret() -> None:
    box = AesGcmSecretBox.from_secrets(SECRET)
    assert SECRET.hex()[:12] not in box.seal(b"x", context="c")
    with pytest.raises(ValueError, match="32-byte"):
        AesGcmSecretBox([b"short"])


async def test_the_wired_box_follows_the_settings_through_a_rotation(
    tmp_path: Path, exit_stack: AsyncExitStack
) -> None:
    """TESSERRA_SECRET_KEY rotated, the old one kept in TESSERRA_PREVIOUS_SECRET_KEYS: old values still open."""
    old_key, new_key = "o" * 40, "n" * 40
    before = Settings.from_env({"TESSERRA_SECRET_KEY": old_key, "TESSERRA_DATA_DIR": str(tmp_path)})
    after = Settings.from_env(
        {"TESSERRA_SECRET_KEY": new_key, "TESSERRA_PREVIOUS_SECRET_KEYS": old_key, "TESSERRA_DATA_DIR": str(tmp_path)}
    )
    assert after.previous_secret_keys == (old_key,)
    sealed = memory_ports(before, exit_stack).secret_box.seal(b"kept", context="c")
    rotated = memory_ports(after, exit_stack).secret_box
    assert rotated.open(sealed, context="c") == b"kept"
    forgotten = Settings.from_env({"TESSERRA_SECRET_KEY": new_key, "TESSERRA_DATA_DIR": str(tmp_path)})
    with pytest.raises(SecretUnreadable):
        memory_ports(forgotten, exit_stack).secret_box.open(sealed, context="c")
