"""The per-account login lockout under attack on the live server: concurrent guesses from many
addresses, and unknown emails (which must not be told apart from known ones)."""

from __future__ import annotations

import asyncio

import httpx

from tests.drivers.http.conftest import PASSWORD, Accounts, login_burst, unique_email
from tests.support import LiveServer

WRONG = "wrong password"


def _codes(responses: list[httpx.Response]) -> list[tuple[int, str]]:
    return sorted((r.status_code, r.json().get("code", "")) for r in responses)


def _answer(response: httpx.Response) -> tuple[int, dict[str, object], bool]:
    """What a client can tell from a login answer: status, body (less its request id), Retry-After."""
    body = {k: v for k, v in response.json().items() if k != "request_id"}
    return response.status_code, body, "retry-after" in response.headers


async def test_forty_concurrent_guesses_from_forty_addresses_verify_at_most_five(
    server: LiveServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()

    responses = await login_burst(server.url, [{"email": owner.email, "password": WRONG}] * 40)
    right = (await login_burst(server.url, [{"email": owner.email, "password": PASSWORD}]))[0]

    assert _codes(responses) == [(401, "invalid_login")] * 5 + [(429, "account_locked")] * 35
    assert (right.status_code, right.json()["code"]) == (429, "account_locked")
    assert 800 <= int(right.headers["retry-after"]) <= 900
    assert "access_token" not in right.text


async def test_the_right_password_behind_thirty_concurrent_guesses_is_locked_out(
    server: LiveServer, accounts: Accounts
) -> None:
    owner = await accounts.tenant_owner()

    guesses, (right,) = await asyncio.gather(
        login_burst(server.url, [{"email": owner.email, "password": WRONG}] * 30),
        login_burst(server.url, [{"email": owner.email, "password": PASSWORD}], after=0.05),
    )

    assert _codes(guesses) == [(401, "invalid_login")] * 5 + [(429, "account_locked")] * 25
    assert (right.status_code, right.json()["code"]) == (429, "account_locked")
    assert "access_token" not in right.text


async def _one_by_one(url: str, email: str, times: int) -> list[tuple[int, dict[str, object], bool]]:
    return [_answer((await login_burst(url, [{"email": email, "password": WRONG}]))[0]) for _ in range(times)]


async def test_an_unknown_email_answers_exactly_like_a_known_one(server: LiveServer, accounts: Accounts) -> None:
    known = (await accounts.tenant_owner()).email
    unknown = unique_email("nobody")

    known_answers = await _one_by_one(server.url, known, 7)
    unknown_answers = await _one_by_one(server.url, unknown, 7)

    assert [status for status, _, _ in known_answers] == [401] * 5 + [429] * 2
    assert unknown_answers == known_answers


async def test_concurrent_guesses_at_an_unknown_email_are_locked_out_like_a_known_one(server: LiveServer) -> None:
    unknown = unique_email("nobody")

    responses = await login_burst(server.url, [{"email": unknown, "password": WRONG}] * 40)

    assert _codes(responses) == [(401, "invalid_login")] * 5 + [(429, "account_locked")] * 35
