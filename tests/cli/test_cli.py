"""The `tesserra` command, run as a subprocess configured by TESSERRA_* variables."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
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
from tests.support import database_url, free_port

TESSERRA = str(Path(sys.executable).with_name("tesserra"))
SECRET = "c" * 48
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SCHEMA = {"alembic_version", "tenants", "users", "memberships", "api_keys", "sessions", "refresh_tokens", "revocations"}


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str


def _env(**variables: str) -> dict[str, str]:
    """Only what the command needs: no TESSERRA_* of the developer's leaks in (tests/conftest.py)."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **variables}


async def tesserra(*args: str, env: dict[str, str], cwd: Path | None = None, within: float = 60.0) -> Done:
    process = await asyncio.create_subprocess_exec(
        TESSERRA,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), within)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Done(process.returncode, out.decode(), err.decode())


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
        env = _env(TESSERRA_DATABASE_URL=url, TESSERRA_DATA_DIR=str(tmp_path / "data"), TESSERRA_SECRET_KEY=SECRET)
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
        _env(TESSERRA_DATABASE_URL=url, TESSERRA_DATA_DIR=str(tmp_path / "data"), TESSERRA_SECRET_KEY=SECRET),
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


# -- serve --------------------------------------------------------------------------------------


@dataclass
class Served:
    url: str
    stderr_path: Path
    ready_after: float
    """Wall-clock seconds from spawning the process to the first 200 from /health."""
    cpu_seconds: float
    """CPU seconds (user + system) the server process had used by then."""

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()


@asynccontextmanager
async def serving(cwd: Path, env: dict[str, str], log_name: str, *extra: str) -> AsyncIterator[Served]:
    """`tesserra serve --port N [extra]` in ``cwd``, until /health answers 200; SIGINT (then kill) on exit."""
    port = free_port()
    log = cwd / log_name
    started = time.monotonic()
    with log.open("w") as stderr:
        process = await asyncio.create_subprocess_exec(
            *(TESSERRA, "serve", "--port", str(port), *extra),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            cwd=cwd,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=1.0) as http:
            while True:
                if process.returncode is not None:
                    pytest.fail(f"tesserra serve exited with {process.returncode}:\n{log.read_text()}")
                try:
                    if (await http.get(f"{url}/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() - started > 30:
                    pytest.fail(f"/health did not answer within 30 s:\n{log.read_text()}")
                await asyncio.sleep(0.02)
        yield Served(url, log, time.monotonic() - started, _cpu_seconds(process.pid))
        process.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(process.wait(), 15)
        assert code == 0, log.read_text()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


async def _login(url: str, email: str, password: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=20.0) as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    body: dict[str, Any] = me.json()
    return body


FIRST_START = re.compile(
    r"^First start: created tenant 'Default' with owner (\S+) \(platform admin\), password: (.+)$", re.MULTILINE
)


async def test_serve_on_an_empty_data_dir_starts_fast_and_shows_the_first_password_once(tmp_path: Path) -> None:
    env = _env()  # every default: ./tesserra.db, ./tesserra-data, a generated secret key
    async with serving(tmp_path, env, "first.log") as first:
        busy = os.getloadavg()[0] > (os.cpu_count() or 1)
        print(
            f"\ntesserra serve cold start (empty data dir, migrations included): /health 200 after "
            f"{first.ready_after:.2f} s wall, {first.cpu_seconds:.2f} s of the server's CPU "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        # The target is 2 s on an idle machine. On a saturated one, wall time measures the neighbours,
        # so the server's own CPU time (which bounds its wall time when it has a CPU) is held instead.
        assert (first.cpu_seconds if busy else first.ready_after) < 5.0
        shown = FIRST_START.findall(first.stderr)
        assert len(shown) == 1, first.stderr
        email, password = shown[0]
        assert email == "admin@tesserra.local"
        me = await _login(first.url, email, password)
        assert me["user"]["is_platform_admin"] is True
        assert (tmp_path / "tesserra.db").is_file()
    secret = tmp_path / "tesserra-data" / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    secret_before = secret.read_text()

    async with serving(tmp_path, env, "second.log") as second:
        await _login(second.url, email, password)
        assert "First start" not in second.stderr
        assert password not in second.stderr
        assert "password" not in second.stderr.lower()
    assert secret.read_text() == secret_before
    assert "Traceback" not in first.stderr + second.stderr


async def test_serve_honours_the_bootstrap_email_and_password(tmp_path: Path) -> None:
    env = _env(
        TESSERRA_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'boot.db'}",
        TESSERRA_DATA_DIR=str(tmp_path / "data"),
        TESSERRA_BOOTSTRAP_EMAIL="boss@tesserra.test",
        TESSERRA_BOOTSTRAP_PASSWORD="boss-password-1",
    )
    async with serving(tmp_path, env, "boot.log") as served:
        me = await _login(served.url, "boss@tesserra.test", "boss-password-1")
        log = served.stderr
    assert me["user"]["email"] == "boss@tesserra.test"
    assert FIRST_START.findall(log) == [("boss@tesserra.test", "from TESSERRA_BOOTSTRAP_PASSWORD")]
    assert "boss-password-1" not in log
    assert "Traceback" not in log


async def _all_listening(served: Served, workers: int) -> None:
    """The first worker to listen answers /health; the others may still be starting (a loaded machine)."""
    for _ in range(100):
        if len(re.findall(r"listening on .* \(pid \d+", served.stderr_path.read_text())) == workers:
            return
        await asyncio.sleep(0.1)
    assert len(re.findall(r"listening on .* \(pid \d+", served.stderr_path.read_text())) == workers


@pytest.mark.postgres
@pytest.mark.parametrize("limiter", ["database", "redis"])
async def test_workers_share_revocations_and_rate_limits(tmp_path: Path, limiter: Literal["database", "redis"]) -> None:
    """Two workers: a key revoked elsewhere (here, by a third process on the same database) is refused
    by every worker within a second, and /auth/me's 60/min per token is counted across processes."""
    from tests.support import REDIS_URL, postgres_database, redis_client

    if limiter == "redis":
        await (await redis_client()).aclose()  # skips (or fails) without a Redis server
    password = "workers-password-1"
    async with postgres_database() as url:
        env = _env(
            TESSERRA_DATABASE_URL=url,
            TESSERRA_DATA_DIR=str(tmp_path / "data"),
            TESSERRA_SECRET_KEY=SECRET,
            TESSERRA_BOOTSTRAP_EMAIL="ops@example.com",
            TESSERRA_BOOTSTRAP_PASSWORD=password,
            TESSERRA_RATE_LIMIT_BACKEND=limiter,
            TESSERRA_REDIS_URL=REDIS_URL,
        )
        async with serving(tmp_path, env, "workers.log", "--workers", "2") as served:
            await _all_listening(served, 2)
            settings = Settings(
                data_dir=tmp_path / "data",
                database_url=url,
                secret_key=SECRET,
                rate_limit_backend=limiter,
                redis_url=REDIS_URL,
            )
            async with running(settings) as uc:
                owner = await uc.authenticate(
                    (await uc.sessions.login(Credentials("ops@example.com", password))).access_token
                )
                from tesserra_core.usecases.api_keys import NewApiKey

                doomed = (await uc.api_keys.generate(owner, NewApiKey(name="doomed", scopes=[Scope.PROFILE_READ]))).key
                counted = await uc.api_keys.generate(owner, NewApiKey(name="counted", scopes=[Scope.PROFILE_READ]))

                async def statuses(key: str, n: int) -> list[int]:
                    codes = []
                    for _ in range(n):  # a new connection each time, so both workers answer
                        async with httpx.AsyncClient(base_url=served.url, timeout=10.0) as http:
                            codes.append((await http.get("/api/auth/me", headers={"X-API-Key": key})).status_code)
                    return codes

                assert set(await statuses(doomed, 20)) == {200}  # now cached by the workers
                await uc.api_keys.revoke(owner, (await uc.authenticate(doomed)).credential_id)
                await asyncio.sleep(1.0)
                assert set(await statuses(doomed, 20)) == {401}

                subject = (await uc.authenticate(counted.key)).subject
                for _ in range(30):  # another process spends half of the key's minute
                    assert (await uc.throttle("me", subject)).allowed
                codes = await statuses(counted.key, 40)
                assert codes.count(200) == 30
                assert codes[30:] == [429] * 10


@pytest.mark.parametrize(
    ("kind", "limiter"),
    [
        ("sqlite", "database"),
        pytest.param("postgres", "database", marks=pytest.mark.postgres),
        pytest.param("postgres", "redis", marks=pytest.mark.postgres),
    ],
)
async def test_two_workers_verify_at_most_five_passwords_per_account(tmp_path: Path, kind: str, limiter: str) -> None:
    """40 concurrent guesses from 40 source addresses, spread over two workers sharing the store:
    5 passwords are checked, the rest (and then the right password) are refused; an unknown email
    gets the very same answers."""
    from tests.drivers.http.conftest import login_burst
    from tests.support import REDIS_URL, redis_client

    if limiter == "redis":
        await (await redis_client()).aclose()  # skips (or fails) without a Redis server
    password = "workers-password-1"
    owner = f"ops-{os.urandom(4).hex()}@example.com"  # the Redis store outlives the test: a lock must not leak
    async with database_url(kind, tmp_path) as url:
        env = _env(
            TESSERRA_DATABASE_URL=url,
            TESSERRA_DATA_DIR=str(tmp_path / "data"),
            TESSERRA_SECRET_KEY=SECRET,
            TESSERRA_BOOTSTRAP_EMAIL=owner,
            TESSERRA_BOOTSTRAP_PASSWORD=password,
            TESSERRA_RATE_LIMIT_BACKEND=limiter,
            TESSERRA_REDIS_URL=REDIS_URL,
        )
        async with serving(tmp_path, env, "workers.log", "--workers", "2") as served:
            await _all_listening(served, 2)
            for email in (owner, f"nobody-{os.urandom(4).hex()}@example.com"):
                guesses = await login_burst(served.url, [{"email": email, "password": "wrong"}] * 40)
                codes = sorted((r.status_code, r.json()["code"]) for r in guesses)
                assert codes == [(401, "invalid_login")] * 5 + [(429, "account_locked")] * 35, email
            (right,) = await login_burst(served.url, [{"email": owner, "password": password}])
            assert (right.status_code, right.json()["code"]) == (429, "account_locked")
