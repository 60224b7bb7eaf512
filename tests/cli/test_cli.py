"""`tesserra db upgrade`, `tesserra admin create` and `tesserra keys create`, run as subprocesses configured
by TESSERRA_* variables."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_adapters.sql.migrate import head_revision
from tesserra_core.domain.identity import AuthMethod, Scope, Tier
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import Unauthenticated
from tesserra_core.usecases.sessions import Credentials
from tests.cli.command import BACKENDS, SCHEMA, SECRET, command_env, tesserra
from tests.support import database_url


async def _tables(url: str) -> tuple[set[str], str | None]:
    """The tables of the database at ``url``, and its Alembic revision (None without one)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            version = None
            if "alembic_version" in names:
                version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        return names, version
    finally:
        await engine.dispose()


def _settings(tmp: Path, url: str) -> Settings:
    return Settings(data_dir=tmp / "data", database_url=url, secret_key=SECRET)


# -- db upgrade ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
async def test_db_upgrade_creates_the_schema_once_and_keeps_the_data(kind: str, tmp_path: Path) -> None:
    async with database_url(kind, tmp_path) as url:
        if kind == "sqlite":
            (tmp_path / "tesserra.db").touch()  # an empty file, as an operator would hand over
        env = command_env(
            TESSERRA_DATABASE_URL=url, TESSERRA_DATA_DIR=str(tmp_path / "data"), TESSERRA_SECRET_KEY=SECRET
        )
        assert await _tables(url) == (set(), None)

        first = await tesserra("db", "upgrade", env=env)
        assert first.code == 0, first.stderr
        assert first.stdout.strip() == "database at head"
        tables, version = await _tables(url)
        assert tables >= SCHEMA
        assert version == head_revision()

        async with running(_settings(tmp_path, url)) as uc:
            assert await uc.operators.ensure_first_owner("kept@tesserra.test", "kept-password-1")

        second = await tesserra("db", "upgrade", env=env)
        assert second.code == 0, second.stderr
        assert await _tables(url) == (tables, version)
        assert "Running upgrade" not in second.stderr
        async with running(_settings(tmp_path, url)) as uc:
            assert not await uc.operators.ensure_first_owner("other@tesserra.test", "other-password-1")
            await uc.sessions.login(Credentials("kept@tesserra.test", "kept-password-1"))


# -- admin create, keys create ------------------------------------------------------------------


@pytest.fixture
def sqlite_env(tmp_path: Path) -> tuple[dict[str, str], Settings]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tesserra.db'}"
    return (
        command_env(TESSERRA_DATABASE_URL=url, TESSERRA_DATA_DIR=str(tmp_path / "data"), TESSERRA_SECRET_KEY=SECRET),
        _settings(tmp_path, url),
    )


async def test_admin_create_makes_a_platform_admin_who_can_log_in(
    sqlite_env: tuple[dict[str, str], Settings],
) -> None:
    env, settings = sqlite_env
    done = await tesserra(
        "admin", "create", "--email", "Ops@Tesserra.test", "--password", "ops-password-1", "--tenant", "Ops", env=env
    )
    assert done.code == 0, done.stderr
    match = re.fullmatch(r"created platform admin \S+ owning tenant ops \((\w+)\)\n", done.stdout)
    assert match, done.stdout
    assert "password" not in done.stdout
    async with running(settings) as uc:
        pair = await uc.sessions.login(Credentials("ops@tesserra.test", "ops-password-1"))
        me = await uc.sessions.me(await uc.authenticate(pair.access_token))
        with pytest.raises(Unauthenticated):
            await uc.sessions.login(Credentials("ops@tesserra.test", "wrong-password-1"))
    assert me.user.is_platform_admin
    assert me.tenant.id == match.group(1)
    assert me.role == "owner"

    again = await tesserra("admin", "create", "--email", "ops@tesserra.test", "--password", "x" * 12, env=env)
    assert again.code != 0
    assert again.stderr.splitlines()[-1].startswith("tesserra: a user with this email exists"), again.stderr
    assert again.stderr.splitlines()[-1].endswith("(user_exists)")
    assert "Traceback" not in again.stderr


async def test_admin_create_without_a_password_prints_a_generated_one(
    sqlite_env: tuple[dict[str, str], Settings],
) -> None:
    env, settings = sqlite_env
    done = await tesserra("admin", "create", "--email", "gen@tesserra.test", env=env)
    assert done.code == 0, done.stderr
    match = re.search(r"^password: (\S+)$", done.stdout, re.MULTILINE)
    assert match, done.stdout
    async with running(settings) as uc:
        await uc.sessions.login(Credentials("gen@tesserra.test", match.group(1)))


async def test_keys_create_prints_a_key_with_exactly_the_scopes_asked_for(
    sqlite_env: tuple[dict[str, str], Settings],
) -> None:
    env, settings = sqlite_env
    async with running(settings) as uc:
        await uc.operators.ensure_first_owner("keys@tesserra.test", "keys-password-1")

    create = ("keys", "create", "--email", "keys@tesserra.test")
    one, two = await asyncio.gather(
        tesserra(*create, "--name", "ci", "--scopes", "profile:read", env=env),
        tesserra(*create, "--name", "bot", "--scopes", "profile:read,keys:read", "--tier", "basic", env=env),
    )
    assert one.code == 0, one.stderr
    assert two.code == 0, two.stderr
    key_one, key_two = one.stdout.strip(), two.stdout.strip()
    assert one.stdout == f"{key_one}\n"
    assert key_one.startswith("tessera_")
    assert key_two.startswith("tessera_")
    assert key_two != key_one
    async with running(settings) as uc:
        first = await uc.authenticate(key_one)
        second = await uc.authenticate(key_two)
        pair = await uc.sessions.login(Credentials("keys@tesserra.test", "keys-password-1"))
        page = await uc.api_keys.list(await uc.authenticate(pair.access_token), PageRequest())
    assert first.method is AuthMethod.API_KEY
    assert first.scopes == {Scope.PROFILE_READ}
    assert first.tier is Tier.STANDARD  # an admin's key is standard unless admin is asked for by name
    assert second.scopes == {Scope.PROFILE_READ, Scope.KEYS_READ}
    assert second.tier is Tier.BASIC
    assert sorted(k.name for k in page.items) == ["bot", "ci"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "nobody@tesserra.test", "--name", "ci"], "tesserra: no such user in that tenant (user_not_found)"),
        (["--email", "keys@tesserra.test", "--name", "ci", "--scopes", "no:such"], "(invalid_scopes)"),
    ],
)
async def test_keys_create_refuses_with_one_clear_line(
    sqlite_env: tuple[dict[str, str], Settings], args: list[str], message: str
) -> None:
    env, _ = sqlite_env
    async with running(sqlite_env[1]) as uc:
        await uc.operators.ensure_first_owner("keys@tesserra.test", "keys-password-1")
    done = await tesserra("keys", "create", *args, env=env)
    assert done.code != 0
    assert done.stdout == ""
    assert message in done.stderr
    assert "Traceback" not in done.stderr
