"""Resolving credentials: X-User-Id, the credential cache, and revocations shared between workers."""

from __future__ import annotations

import pytest

from tesserra_core.domain.identity import AuthMethod, Principal, Role, Scope, Tier
from tesserra_core.errors import Forbidden, Unauthenticated, ValidationFailed
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.caching import TaggedCache as CredentialCache
from tesserra_core.usecases.credentials import auth_headers, credential_from_headers
from tesserra_core.usecases.tenants import TenantChanges
from tests.unit.helpers import FakeClock, Team, sign_in


def _principal(user_id: str = "u1") -> Principal:
    return Principal(
        user_id=user_id,
        tenant_id="t1",
        role=Role.MEMBER,
        is_platform_admin=False,
        scopes=frozenset({Scope.PROFILE_READ}),
        tier=Tier.BASIC,
        method=AuthMethod.API_KEY,
        credential_id=f"key-{user_id}",
    )


@pytest.fixture
async def admin_key(uc: UseCases, admin: Principal) -> str:
    minted = await uc.api_keys.generate(
        admin, NewApiKey(name="ops", scopes=[Scope.ADMIN, Scope.STATUS_READ], tier=Tier.ADMIN)
    )
    return minted.key


async def test_an_admin_key_may_act_for_a_named_user(uc: UseCases, admin_key: str) -> None:
    principal = await uc.authenticate(admin_key, "  alice@example.com ")

    assert principal.acting_user_id == "alice@example.com"
    assert (await uc.authenticate(admin_key)).acting_user_id is None


async def test_a_standard_key_may_not_act_for_anyone(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.owner, NewApiKey(name="std"))

    with pytest.raises(Forbidden) as caught:
        await uc.authenticate(minted.key, "alice")

    assert caught.value.code == "admin_key_required"


async def test_a_session_token_may_not_act_for_anyone(uc: UseCases, admin: Principal) -> None:
    pair, _ = await sign_in(uc, "admin@tesserra.test")

    with pytest.raises(Forbidden) as caught:
        await uc.authenticate(pair.access_token, "alice")

    assert caught.value.code == "admin_key_required"


@pytest.mark.parametrize("acting", ["", "   ", "x" * 129, "bad\nname"])
async def test_an_empty_overlong_or_unprintable_acting_user_is_invalid(
    uc: UseCases, admin_key: str, acting: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.authenticate(admin_key, acting)

    assert caught.value.code == "invalid_user_id"


async def test_an_acting_user_of_128_characters_is_accepted(uc: UseCases, admin_key: str) -> None:
    assert (await uc.authenticate(admin_key, "x" * 128)).acting_user_id == "x" * 128


def _fields(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in pairs]


async def test_headers_name_the_one_credential_in_any_header() -> None:
    assert credential_from_headers(auth_headers(_fields(("authorization", "Bearer from-auth")))) == "from-auth"
    assert credential_from_headers(auth_headers(_fields(("x-tesserra-api-key", "t")))) == "t"
    assert credential_from_headers(auth_headers(_fields(("x-api-key", " k "), ("x-tesserra-api-key", " ")))) == "k"
    assert credential_from_headers({}) is None
    with pytest.raises(Unauthenticated):
        credential_from_headers(auth_headers(_fields(("authorization", "Basic abc"))))


@pytest.mark.parametrize(
    "pairs",
    [
        (("authorization", "Bearer a"), ("x-api-key", "b")),
        (("x-tesserra-api-key", "a"), ("x-api-key", "b")),
        (("x-api-key", "a"), ("x-api-key", "a")),
        (("authorization", "Basic abc"), ("x-api-key", "b")),
    ],
)
async def test_more_than_one_credential_is_ambiguous(pairs: tuple[tuple[str, str], ...]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        credential_from_headers(auth_headers(_fields(*pairs)))

    assert caught.value.code == "ambiguous_credentials"


async def test_a_request_without_credentials_is_unauthenticated(uc: UseCases) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await uc.authenticate.from_headers([])

    assert caught.value.code == "missing_credentials"


async def test_from_headers_passes_x_user_id_along(uc: UseCases, admin_key: str) -> None:
    principal = await uc.authenticate.from_headers(_fields(("x-api-key", admin_key), ("x-user-id", "bob")))

    assert principal.acting_user_id == "bob"


async def test_x_user_id_twice_is_ambiguous(uc: UseCases, admin_key: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await uc.authenticate.from_headers(_fields(("x-api-key", admin_key), ("x-user-id", "a"), ("x-user-id", "a")))

    assert caught.value.code == "ambiguous_user_id"


def test_cache_evicts_every_credential_with_a_tag_and_nothing_else() -> None:
    cache: CredentialCache[Principal] = CredentialCache()
    cache.put("a", _principal("a"), 100.0, ("user:1", "tenant:1"))
    cache.put("b", _principal("b"), 100.0, ("user:2", "tenant:1"))
    cache.put("c", _principal("c"), 100.0, ("user:3", "tenant:2"))

    cache.evict("tenant:1")

    assert (cache.get("a", 0.0), cache.get("b", 0.0)) == (None, None)
    assert cache.get("c", 0.0) == _principal("c")
    assert len(cache) == 1


def test_cache_entries_expire() -> None:
    cache: CredentialCache[Principal] = CredentialCache()
    cache.put("a", _principal(), 10.0, ())

    assert cache.get("a", 9.9) == _principal()
    assert cache.get("a", 10.0) is None
    assert len(cache) == 0


def test_cache_is_bounded_and_drops_the_oldest_first() -> None:
    cache: CredentialCache[Principal] = CredentialCache(max_entries=2)
    cache.put("old", _principal("old"), 100.0, ("user:old",))
    cache.put("mid", _principal("mid"), 100.0, ())
    cache.put("new", _principal("new"), 100.0, ())

    assert len(cache) == 2
    assert cache.get("old", 0.0) is None
    assert cache.get("mid", 0.0) == _principal("mid")
    assert cache.get("new", 0.0) == _principal("new")


def test_putting_a_credential_again_replaces_its_tags() -> None:
    cache: CredentialCache[Principal] = CredentialCache()
    cache.put("a", _principal(), 100.0, ("user:old",))
    cache.put("a", _principal(), 100.0, ("user:new",))

    cache.evict("user:old")
    kept = cache.get("a", 0.0)
    cache.evict("user:new")

    assert kept == _principal()
    assert cache.get("a", 0.0) is None


async def test_a_revocation_on_one_worker_reaches_another_after_a_poll(uc: UseCases, team: Team) -> None:
    worker2 = use_cases(uc.ports)  # same store, its own cache
    await worker2.revocations.poll()
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="shared"))
    await worker2.authenticate(minted.key)

    await uc.api_keys.revoke(team.member, minted.api_key.id)
    still_cached = await worker2.authenticate(minted.key)
    await worker2.revocations.poll()

    assert still_cached.credential_id == minted.api_key.id
    with pytest.raises(Unauthenticated) as caught:
        await worker2.authenticate(minted.key)
    assert caught.value.code == "api_key_revoked"


async def test_a_logout_on_one_worker_ends_the_session_on_another(uc: UseCases, team: Team) -> None:
    worker2 = use_cases(uc.ports)
    await worker2.revocations.poll()
    pair, principal = await sign_in(uc, team.member_email)
    await worker2.authenticate(pair.access_token)

    await uc.sessions.logout(principal)
    await worker2.revocations.poll()

    with pytest.raises(Unauthenticated) as caught:
        await worker2.authenticate(pair.access_token)
    assert caught.value.code == "session_revoked"


async def test_a_suspension_on_one_worker_reaches_another(uc: UseCases, team: Team, admin: Principal) -> None:
    worker2 = use_cases(uc.ports)
    await worker2.revocations.poll()
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="shared"))
    await worker2.authenticate(minted.key)

    await uc.tenants.update(admin, team.tenant_id, TenantChanges(plan="pro"))  # not a revocation
    await worker2.revocations.poll()
    unaffected = await worker2.authenticate(minted.key)
    await uc.tenants.suspend(admin, team.tenant_id)
    await worker2.revocations.poll()

    assert unaffected.tenant_id == team.tenant_id
    with pytest.raises(Forbidden) as caught:
        await worker2.authenticate(minted.key)
    assert caught.value.code == "tenant_suspended"


async def test_key_use_is_written_behind(uc: UseCases, team: Team, clock: FakeClock) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="used"))
    await uc.authenticate(minted.key)
    used_at = clock.now()
    clock.advance(30)

    async with uc.ports.uow(read_only=True) as uow:
        before = await uow.api_keys.get(team.tenant_id, minted.api_key.id)
    await uc.revocations.flush_usage()
    async with uc.ports.uow(read_only=True) as uow:
        after = await uow.api_keys.get(team.tenant_id, minted.api_key.id)

    assert before is not None
    assert before.last_used_at is None
    assert after is not None
    assert after.last_used_at == used_at
