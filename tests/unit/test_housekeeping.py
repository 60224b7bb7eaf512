"""Housekeeping keeps the revocation feed, idempotency records and rate counters bounded."""

from __future__ import annotations

from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tests.unit.helpers import FakeClock, Team, store


async def test_old_revocations_expired_records_and_idle_counters_go(uc: UseCases, team: Team, clock: FakeClock) -> None:
    key = await uc.api_keys.generate(team.owner, NewApiKey(name="short-lived"))
    await uc.api_keys.revoke(team.owner, key.api_key.id)
    await uc.idempotency.claim(team.owner.subject, "k-1", "fp")
    await uc.throttle("me", team.owner.subject)
    assert store(uc).revocations

    fresh = await uc.housekeeping()
    clock.advance(2 * 3600 + 1)
    old = await uc.housekeeping()

    assert (fresh.revocations, fresh.rate_counters) == (0, 0)
    assert old.revocations >= 1
    assert not store(uc).revocations
    assert old.rate_counters == 0  # an in-process limiter's counters are each process's to purge
    assert await uc.housekeeping.purge_local() >= 1
    clock.advance(24 * 3600)
    assert (await uc.housekeeping()).idempotency_keys == 1
