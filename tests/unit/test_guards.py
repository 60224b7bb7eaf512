"""Request guards both drivers share: named rate limits and idempotency keys."""

from __future__ import annotations

import pytest

from tesserra_adapters.memory.limits import MemoryIdempotencyStore, MemoryRateLimiter
from tesserra_core.errors import Conflict, Unprocessable, ValidationFailed
from tesserra_core.ports.limits import StoredResponse
from tesserra_core.usecases.guards import Idempotency, RateRule, Throttle

RESPONSE = StoredResponse(201, b'{"ok": true}', "application/json")


async def test_login_allows_five_per_subject_then_refuses() -> None:
    throttle = Throttle(MemoryRateLimiter(lambda: 0.0))

    decisions = [await throttle("login", "10.0.0.1") for _ in range(6)]
    elsewhere = await throttle("login", "10.0.0.2")

    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert decisions[-1].reset_after == pytest.approx(15 * 60)
    assert elsewhere.allowed


async def test_rules_are_counted_apart_for_the_same_subject() -> None:
    throttle = Throttle(MemoryRateLimiter(lambda: 0.0), rules={"a": RateRule(1, 60.0), "b": RateRule(1, 60.0)})

    first_a, first_b = await throttle("a", "tok"), await throttle("b", "tok")

    assert first_a.allowed
    assert first_b.allowed
    assert not (await throttle("a", "tok")).allowed


async def test_scale_multiplies_every_limit() -> None:
    throttle = Throttle(MemoryRateLimiter(lambda: 0.0), scale=2.0)

    decisions = [await throttle("login", "ip") for _ in range(11)]

    assert sum(d.allowed for d in decisions) == 10
    assert decisions[0].limit == 10


async def test_idempotency_goes_ahead_then_replays() -> None:
    guard = Idempotency(MemoryIdempotencyStore())

    first = await guard.claim("jwt:s1", "order-1", "fp")
    await guard.complete("jwt:s1", "order-1", RESPONSE)
    replay = await guard.claim("jwt:s1", "order-1", "fp")

    assert first is None
    assert replay == RESPONSE


async def test_idempotency_in_flight_conflicts_and_reuse_is_unprocessable() -> None:
    guard = Idempotency(MemoryIdempotencyStore())
    await guard.claim("jwt:s1", "order-1", "fp")

    with pytest.raises(Conflict) as in_flight:
        await guard.claim("jwt:s1", "order-1", "fp")
    with pytest.raises(Unprocessable) as reused:
        await guard.claim("jwt:s1", "order-1", "other")

    assert in_flight.value.code == "idempotency_in_flight"
    assert reused.value.code == "idempotency_key_reused"


async def test_a_released_key_can_be_retried() -> None:
    guard = Idempotency(MemoryIdempotencyStore())
    await guard.claim("jwt:s1", "order-1", "fp")
    await guard.release("jwt:s1", "order-1")

    assert await guard.claim("jwt:s1", "order-1", "fp") is None


@pytest.mark.parametrize("key", ["", "k" * 256, "bad\nkey", "clé", " padded", "tab\tkey"])
async def test_malformed_idempotency_keys_are_invalid(key: str) -> None:
    guard = Idempotency(MemoryIdempotencyStore())

    with pytest.raises(ValidationFailed) as caught:
        await guard.claim("jwt:s1", key, "fp")

    assert caught.value.code == "invalid_idempotency_key"


async def test_a_key_of_255_characters_is_accepted() -> None:
    assert await Idempotency(MemoryIdempotencyStore()).claim("jwt:s1", "k" * 255, "fp") is None
