"""`tesserra serve`, run as a subprocess: the first start, the bootstrap account, several workers sharing
revocations, rate limits and the login lockout."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from tesserra_adapters.bootstrap import running
from tesserra_adapters.settings import Settings
from tesserra_core.domain.identity import Scope
from tesserra_core.usecases.sessions import Credentials
from tests.cli.command import SECRET, command_env
from tests.cli.served import TESSERRA
from tests.support import database_url, free_port

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
    env = command_env()  # every default: ./tesserra.db, ./tesserra-data, a generated secret key
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
        console = re.findall(r"^Console: (http://\S+/console/)$", first.stderr, re.MULTILINE)
        assert console == [f"{first.url}/console/"], first.stderr
        async with httpx.AsyncClient(timeout=20.0) as http:
            page = await http.get(f"{console[0]}login")
        assert page.status_code == 200
        assert "Sign in" in page.text
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
    env = command_env(
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
        env = command_env(
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
        env = command_env(
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
