"""IdempotencyStore contract: one claim starts, the rest wait, replay or mismatch; expiry and release."""

from __future__ import annotations

import asyncio

import pytest

from tesserra_core.ports.limits import IdempotencyOutcome, IdempotencyStore, StoredResponse
from tests.contract.conftest import FakeClock
from tests.contract.entities import unique

TTL = 24 * 3600.0
RESPONSE = StoredResponse(201, b'{"id": "p1"}\x00\xff', "application/json")


@pytest.fixture
def owner() -> str:
    return unique("jwt:session")


@pytest.fixture
def key() -> str:
    return unique("idem")


async def test_first_claim_starts(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    claim = await idempotency.claim(owner, key, "fp1", TTL)

    assert claim.outcome is IdempotencyOutcome.STARTED
    assert claim.response is None


async def test_a_second_claim_while_in_flight_is_told_so(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)

    claim = await idempotency.claim(owner, key, "fp1", TTL)

    assert claim.outcome is IdempotencyOutcome.IN_FLIGHT
    assert claim.response is None


async def test_after_complete_the_stored_response_replays(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)
    await idempotency.complete(owner, key, RESPONSE)

    first = await idempotency.claim(owner, key, "fp1", TTL)
    second = await idempotency.claim(owner, key, "fp1", TTL)

    assert first.outcome is IdempotencyOutcome.REPLAY
    assert first.response == RESPONSE
    assert second.response == RESPONSE


async def test_a_different_request_under_the_same_key_mismatches(
    idempotency: IdempotencyStore, owner: str, key: str
) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)
    in_flight = await idempotency.claim(owner, key, "fp2", TTL)
    await idempotency.complete(owner, key, RESPONSE)
    done = await idempotency.claim(owner, key, "fp2", TTL)

    assert in_flight.outcome is IdempotencyOutcome.MISMATCH
    assert done.outcome is IdempotencyOutcome.MISMATCH
    assert done.response is None


async def test_keys_belong_to_their_owner(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)

    claim = await idempotency.claim(unique("api_key:other"), key, "fp1", TTL)

    assert claim.outcome is IdempotencyOutcome.STARTED


async def test_release_lets_a_retry_start_again(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)
    await idempotency.release(owner, key)

    retry = await idempotency.claim(owner, key, "fp2", TTL)

    assert retry.outcome is IdempotencyOutcome.STARTED


async def test_release_after_complete_keeps_the_response(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    await idempotency.claim(owner, key, "fp1", TTL)
    await idempotency.complete(owner, key, RESPONSE)
    await idempotency.release(owner, key)

    claim = await idempotency.claim(owner, key, "fp1", TTL)

    assert claim.outcome is IdempotencyOutcome.REPLAY
    assert claim.response == RESPONSE


async def test_an_expired_claim_is_replaced(
    idempotency: IdempotencyStore, clock: FakeClock, owner: str, key: str
) -> None:
    await idempotency.claim(owner, key, "fp1", 10.0)
    clock.advance(9.0)
    before = await idempotency.claim(owner, key, "fp1", 10.0)
    clock.advance(2.0)
    after = await idempotency.claim(owner, key, "fp2", 10.0)
    then = await idempotency.claim(owner, key, "fp2", 10.0)

    assert before.outcome is IdempotencyOutcome.IN_FLIGHT
    assert after.outcome is IdempotencyOutcome.STARTED
    assert then.outcome is IdempotencyOutcome.IN_FLIGHT


async def test_an_expired_response_no_longer_replays(
    idempotency: IdempotencyStore, clock: FakeClock, owner: str, key: str
) -> None:
    await idempotency.claim(owner, key, "fp1", 10.0)
    await idempotency.complete(owner, key, RESPONSE)
    clock.advance(10.5)

    claim = await idempotency.claim(owner, key, "fp1", 10.0)

    assert claim.outcome is IdempotencyOutcome.STARTED
    assert claim.response is None


async def test_concurrent_claims_start_exactly_once(idempotency: IdempotencyStore, owner: str, key: str) -> None:
    claims = await asyncio.gather(*(idempotency.claim(owner, key, "fp1", TTL) for _ in range(20)))

    outcomes = [c.outcome for c in claims]
    assert outcomes.count(IdempotencyOutcome.STARTED) == 1
    assert outcomes.count(IdempotencyOutcome.IN_FLIGHT) == 19


async def test_purge_forgets_expired_records_only(
    idempotency: IdempotencyStore, clock: FakeClock, owner: str, key: str
) -> None:
    await idempotency.claim(owner, key, "fp1", 10.0)
    await idempotency.claim(owner, f"{key}-long", "fp1", 100.0)
    clock.advance(11.0)

    purged = await idempotency.purge_expired()

    assert purged >= 1
    assert (await idempotency.claim(owner, f"{key}-long", "fp1", 100.0)).outcome is IdempotencyOutcome.IN_FLIGHT
