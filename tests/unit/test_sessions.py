"""Login (with lockout), refresh-token rotation and reuse detection, logout, and who-am-I."""

from __future__ import annotations

import asyncio

import pytest

from tesserra_core.domain.identity import AuthMethod, Principal, Role
from tesserra_core.errors import Forbidden, RateLimited, Unauthenticated, Unprocessable
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials, RefreshRequest
from tests.unit.helpers import PASSWORD, FakeClock, Team, add_user, sign_in

WRONG = "not the password at all"


async def _fail(uc: UseCases, email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Unauthenticated):
            await uc.sessions.login(Credentials(email=email, password=WRONG))


async def test_login_returns_a_working_token_pair(uc: UseCases, team: Team) -> None:
    pair = await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))

    principal = await uc.authenticate(pair.access_token)

    assert pair.token_type == "bearer"
    assert pair.expires_in == 900
    assert principal.user_id == team.member.user_id
    assert principal.tenant_id == team.tenant_id
    assert principal.role is Role.MEMBER
    assert principal.method is AuthMethod.JWT


async def test_login_ignores_email_case_and_spaces(uc: UseCases, team: Team) -> None:
    pair = await uc.sessions.login(Credentials(email=f"  {team.member_email.upper()} ", password=PASSWORD))

    assert (await uc.authenticate(pair.access_token)).user_id == team.member.user_id


async def test_wrong_password_is_invalid_login(uc: UseCases, team: Team) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await uc.sessions.login(Credentials(email=team.member_email, password=WRONG))

    assert caught.value.code == "invalid_login"


async def test_unknown_email_is_the_same_invalid_login(uc: UseCases, team: Team) -> None:
    with pytest.raises(Unauthenticated) as unknown:
        await uc.sessions.login(Credentials(email="nobody@example.com", password=PASSWORD))
    with pytest.raises(Unauthenticated) as wrong:
        await uc.sessions.login(Credentials(email=team.member_email, password=WRONG))

    assert unknown.value.code == wrong.value.code == "invalid_login"
    assert unknown.value.message == wrong.value.message


async def _outcome(uc: UseCases, email: str, password: str) -> tuple[str, str, float | None]:
    """What a login attempt answers: its code, message and Retry-After (or "ok")."""
    try:
        await uc.sessions.login(Credentials(email=email, password=password))
    except (Unauthenticated, RateLimited) as exc:
        return exc.code, exc.message, getattr(exc, "retry_after", None)
    return "ok", "", None


async def test_failures_are_counted_per_email_whatever_its_spelling(uc: UseCases, team: Team) -> None:
    for spelling in (team.member_email, team.member_email.upper(), f"  {team.member_email} "):
        await _fail(uc, spelling, 1)
    await _fail(uc, team.member_email.title(), 2)

    with pytest.raises(RateLimited):
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))


async def test_concurrent_wrong_passwords_are_verified_at_most_five_times(uc: UseCases, team: Team) -> None:
    outcomes = await asyncio.gather(*(_outcome(uc, team.member_email, WRONG) for _ in range(40)))
    late_right = await _outcome(uc, team.member_email, PASSWORD)

    codes = [code for code, _, _ in outcomes]
    assert codes.count("invalid_login") == 5
    assert codes.count("account_locked") == 35
    assert late_right[0] == "account_locked"


async def test_an_unknown_email_is_counted_and_answered_like_a_known_one(uc: UseCases, team: Team) -> None:
    unknown = "nobody-at-all@example.com"
    known = [await _outcome(uc, team.member_email, WRONG) for _ in range(7)]
    guessed = [await _outcome(uc, unknown, WRONG) for _ in range(7)]

    assert [code for code, _, _ in known] == ["invalid_login"] * 5 + ["account_locked"] * 2
    assert known == guessed


async def test_five_failures_lock_the_account_even_for_the_right_password(
    uc: UseCases, team: Team, clock: FakeClock
) -> None:
    await _fail(uc, team.member_email, 5)

    with pytest.raises(RateLimited) as caught:
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))

    assert caught.value.code == "account_locked"
    assert caught.value.retry_after == pytest.approx(15 * 60)


async def test_the_lock_lifts_when_its_time_is_up(uc: UseCases, team: Team, clock: FakeClock) -> None:
    await _fail(uc, team.member_email, 5)
    clock.advance(10 * 60)
    with pytest.raises(RateLimited) as caught:
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))
    clock.advance(5 * 60 + 1)

    await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))

    assert caught.value.retry_after == pytest.approx(5 * 60)


async def test_a_good_login_resets_the_failure_count(uc: UseCases, team: Team) -> None:
    await _fail(uc, team.member_email, 4)
    await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))
    await _fail(uc, team.member_email, 4)

    pair = await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))

    assert pair.access_token


async def test_a_disabled_user_cannot_log_in(uc: UseCases, team: Team) -> None:
    email = await add_user(uc, team.tenant_id, Role.MEMBER, active=False)

    with pytest.raises(Forbidden) as caught:
        await uc.sessions.login(Credentials(email=email, password=PASSWORD))

    assert caught.value.code == "account_disabled"


async def test_a_suspended_tenant_refuses_login(uc: UseCases, team: Team, admin: Principal) -> None:
    await uc.tenants.suspend(admin, team.tenant_id)

    with pytest.raises(Forbidden) as caught:
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))

    assert caught.value.code == "tenant_suspended"


async def test_login_into_a_tenant_one_does_not_belong_to_is_forbidden(uc: UseCases, team: Team) -> None:
    with pytest.raises(Forbidden) as caught:
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD, tenant_id="0" * 26))

    assert caught.value.code == "no_membership"


async def test_refresh_rotates_to_a_working_pair(uc: UseCases, team: Team) -> None:
    first, _ = await sign_in(uc, team.member_email)

    second = await uc.sessions.refresh(RefreshRequest(refresh_token=first.refresh_token))
    principal = await uc.authenticate(second.access_token)
    third = await uc.sessions.refresh(RefreshRequest(refresh_token=second.refresh_token))

    assert second.refresh_token != first.refresh_token
    assert principal.user_id == team.member.user_id
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_reusing_a_rotated_refresh_token_kills_the_whole_session(uc: UseCases, team: Team) -> None:
    first, _ = await sign_in(uc, team.member_email)
    second = await uc.sessions.refresh(RefreshRequest(refresh_token=first.refresh_token))
    await uc.authenticate(second.access_token)  # cached now

    with pytest.raises(Unauthenticated) as reused:
        await uc.sessions.refresh(RefreshRequest(refresh_token=first.refresh_token))
    with pytest.raises(Unauthenticated) as access:
        await uc.authenticate(second.access_token)
    with pytest.raises(Unauthenticated) as refresh:
        await uc.sessions.refresh(RefreshRequest(refresh_token=second.refresh_token))

    assert reused.value.code == "refresh_token_reused"
    assert access.value.code == "session_revoked"
    assert refresh.value.code == "session_revoked"


async def test_reuse_leaves_other_sessions_of_the_user_alone(uc: UseCases, team: Team) -> None:
    stolen, _ = await sign_in(uc, team.member_email)
    other, _ = await sign_in(uc, team.member_email)
    await uc.sessions.refresh(RefreshRequest(refresh_token=stolen.refresh_token))

    with pytest.raises(Unauthenticated):
        await uc.sessions.refresh(RefreshRequest(refresh_token=stolen.refresh_token))

    assert (await uc.authenticate(other.access_token)).user_id == team.member.user_id


@pytest.mark.parametrize("token", ["", "no-dot", "abc.", ".secret", "x" * 300 + ".y"])
async def test_malformed_refresh_tokens_are_rejected(uc: UseCases, token: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await uc.sessions.refresh(RefreshRequest(refresh_token=token))

    assert caught.value.code == "invalid_refresh_token"


async def test_a_refresh_token_with_a_wrong_secret_is_rejected(uc: UseCases, team: Team) -> None:
    pair, _ = await sign_in(uc, team.member_email)
    token_id = pair.refresh_token.split(".")[0]

    with pytest.raises(Unauthenticated) as caught:
        await uc.sessions.refresh(RefreshRequest(refresh_token=f"{token_id}.forged-secret"))

    assert caught.value.code == "invalid_refresh_token"
    assert await uc.sessions.refresh(RefreshRequest(refresh_token=pair.refresh_token))


async def test_logout_kills_the_access_token_at_once_and_the_refresh_token(uc: UseCases, team: Team) -> None:
    pair, principal = await sign_in(uc, team.member_email)

    await uc.sessions.logout(principal)

    with pytest.raises(Unauthenticated) as access:
        await uc.authenticate(pair.access_token)
    with pytest.raises(Unauthenticated) as refresh:
        await uc.sessions.refresh(RefreshRequest(refresh_token=pair.refresh_token))
    assert access.value.code == refresh.value.code == "session_revoked"


async def test_logout_with_an_api_key_is_refused(uc: UseCases, team: Team) -> None:
    minted = await uc.api_keys.generate(team.member, NewApiKey(name="bot"))
    key_principal = await uc.authenticate(minted.key)

    with pytest.raises(Unprocessable) as caught:
        await uc.sessions.logout(key_principal)

    assert caught.value.code == "not_a_session"


async def test_me_describes_the_caller(uc: UseCases, team: Team) -> None:
    me = await uc.sessions.me(team.member)

    assert me.user.email == team.member_email
    assert me.tenant.id == team.tenant_id
    assert me.role is Role.MEMBER
    assert me.scopes == sorted(s.value for s in team.member.scopes)
    assert [(m.tenant_id, m.role) for m in me.memberships] == [(team.tenant_id, Role.MEMBER)]
