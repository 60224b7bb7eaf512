"""ChangePassword on the memory adapters: the current password is proven, wrong guesses count as failed
logins of the email (and lock it like the login does), the new password is the only one that works, and
an API key may not change its creator's password."""

from __future__ import annotations

import pytest

from tesserra_core.errors import RateLimited, Unauthenticated, Unprocessable, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.api_keys import NewApiKey
from tesserra_core.usecases.sessions import Credentials, PasswordChange
from tests.unit.helpers import PASSWORD, Team, sign_in

NEW = "a-brand-new-password"


async def test_the_new_password_replaces_the_old(uc: UseCases, team: Team) -> None:
    await uc.sessions.change_password(team.owner, PasswordChange(current_password=PASSWORD, new_password=NEW))
    with pytest.raises(Unauthenticated):
        await uc.sessions.login(Credentials(email=team.owner_email, password=PASSWORD))
    await sign_in(uc, team.owner_email, NEW)


async def test_a_wrong_or_weak_password_changes_nothing(uc: UseCases, team: Team) -> None:
    with pytest.raises(ValidationFailed) as wrong:
        await uc.sessions.change_password(team.owner, PasswordChange(current_password="nope", new_password=NEW))
    assert wrong.value.code == "invalid_password"
    with pytest.raises(ValidationFailed) as weak:
        await uc.sessions.change_password(team.owner, PasswordChange(current_password=PASSWORD, new_password="short"))
    assert weak.value.code == "weak_password"
    await sign_in(uc, team.owner_email, PASSWORD)


async def test_wrong_guesses_lock_the_email_like_failed_logins(uc: UseCases, team: Team) -> None:
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            await uc.sessions.change_password(team.member, PasswordChange(current_password="guess", new_password=NEW))
    with pytest.raises(RateLimited):
        await uc.sessions.change_password(team.member, PasswordChange(current_password=PASSWORD, new_password=NEW))
    with pytest.raises(RateLimited):
        await uc.sessions.login(Credentials(email=team.member_email, password=PASSWORD))


async def test_an_api_key_may_not_change_the_password(uc: UseCases, team: Team) -> None:
    created = await uc.api_keys.generate(team.owner, NewApiKey(name="k"))
    by_key = await uc.authenticate(created.key)
    with pytest.raises(Unprocessable):
        await uc.sessions.change_password(by_key, PasswordChange(current_password=PASSWORD, new_password=NEW))
