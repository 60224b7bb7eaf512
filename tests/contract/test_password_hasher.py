"""Argon2Hasher.burn verifies against a hash built from the parameters, not hashed at start-up: it
must be a well-formed argon2id hash with exactly the hasher's parameters, so a burn costs a verify."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError

from tesserra_adapters.security import Argon2Hasher


@pytest.mark.parametrize(("time_cost", "memory_cost"), [(2, 19_456), (1, 1024)])
async def test_the_burn_hash_has_the_hashers_parameters(time_cost: int, memory_cost: int) -> None:
    hasher = Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost)
    same = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1, type=Type.ID)
    dummy = hasher._dummy
    assert not same.check_needs_rehash(dummy)  # same type, version, m, t, p, salt and digest lengths
    with pytest.raises(VerifyMismatchError):  # well-formed: a mismatch, not InvalidHashError
        same.verify(dummy, "anything")
    assert not hasher.needs_rehash(dummy)
    await hasher.burn("anything")
    assert await hasher.verify(await hasher.hash("right"), "right")
