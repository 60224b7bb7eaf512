"""Credential verification: a login, a JWT and an API key minted over HTTP; ``uc.authenticate``
timed in-process, cached and not; and the proof that argon2 stays off the key/JWT path."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.harness import Serve, request, require, run_async, sequential_latencies
from bench.results import BackendResult

TARGET_VERIFY_US = 10.0


@dataclass(frozen=True)
class Minted:
    """What one login gave: its client-timed duration, the JWT, an API key minted with it, the
    /api/auth/me body the API key answers, and the request headers carrying each credential."""

    login_ms: float
    token: str
    key: str
    me_body: bytes
    bearer: dict[str, str]
    api_key: dict[str, str]


def mint(serve: Serve) -> Minted:
    """A login (argon2, timed), a JWT, an API key minted with it; both must answer /api/auth/me."""
    port = serve.port
    t0 = time.perf_counter()
    status, body = request(port, "POST", "/api/auth/login", body={"email": serve.email, "password": serve.password})
    login_ms = (time.perf_counter() - t0) * 1000
    require(status == 200, str((status, body)))
    token = json.loads(body)["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    status, body = request(port, "POST", "/api/auth/keys/generate", headers=bearer, body={"name": "bench"})
    require(status == 201, str((status, body)))
    key = json.loads(body)["key"]
    api_key = {"X-API-Key": key}
    status, me_body = request(port, "GET", "/api/auth/me", headers=api_key)
    require(status == 200, str((status, me_body)))
    status, body = request(port, "GET", "/api/auth/me", headers=bearer)
    require(status == 200 and json.loads(body)["auth_method"] == "jwt", f"/auth/me with the JWT: {status} {body!r}")
    return Minted(login_ms, token, key, me_body, bearer, api_key)


# --------------------------------------------------------------------------- in-process


def _count_argon2(hasher: Any) -> dict[str, int]:
    """Wraps the hasher's argon2 entry points with a counter; the counts are in the returned dict."""
    calls = {"argon2": 0}
    for name in ("hash", "verify", "burn"):
        original = getattr(hasher, name)

        def counted(*a: Any, _original: Callable[..., Any] = original, **kw: Any) -> Any:
            calls["argon2"] += 1
            return _original(*a, **kw)

        setattr(hasher, name, counted)
    return calls


async def _hash_once(hasher: Any, password: str) -> str:
    return str(await asyncio.to_thread(hasher._argon.hash, password))


async def _time_authenticate(auth: Any, credential: str) -> tuple[float, float, float]:
    """µs per cached call, best and median of 7 × 20,000 calls, and the median uncached call."""
    await auth(credential)  # fills the cache
    per_call = []
    n = 20_000
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(n):
            await auth(credential)
        per_call.append((time.perf_counter() - t0) / n * 1e6)
    cold = []
    for _ in range(100):
        auth.cache.clear()
        t0 = time.perf_counter()
        await auth(credential)
        cold.append((time.perf_counter() - t0) * 1e6)
    return min(per_call), statistics.median(per_call), statistics.median(cold)


async def inprocess_checks(env: dict[str, str], key: str, token: str, email: str, password: str) -> dict[str, Any]:
    """uc.authenticate(credential) per call, cached and not, and how often argon2 runs meanwhile."""
    from tesserra_adapters.bootstrap import running
    from tesserra_adapters.security import Argon2Hasher
    from tesserra_adapters.settings import Settings
    from tesserra_core.usecases.sessions import Credentials

    settings = Settings.from_env(env)
    out: dict[str, Any] = {}
    async with running(settings) as uc:
        hasher = uc.ports.hasher
        assert isinstance(hasher, Argon2Hasher), hasher  # its _verify is timed alone below
        calls = _count_argon2(hasher)

        t0 = time.perf_counter()
        hasher._verify(await _hash_once(hasher, password), password)  # argon2 verify, timed alone
        out["argon2_ms"] = (time.perf_counter() - t0) * 1000
        calls["argon2"] = 0

        for label, credential in (("key", key), ("jwt", token)):
            best, median, uncached = await _time_authenticate(uc.authenticate, credential)
            out[f"{label}_us"] = best
            out[f"{label}_us_median"] = median
            out[f"{label}_uncached_us"] = uncached
        out["argon2_calls_during_auth"] = calls["argon2"]
        await uc.sessions.login(Credentials(email=email, password=password))
        out["argon2_calls_during_login"] = calls["argon2"] - out["argon2_calls_during_auth"]
    return out


# --------------------------------------------------------------------------- verdicts


def check_credentials(res: BackendResult, serve: Serve, minted: Minted) -> None:
    """argon2 stays on the login path (a burst of /auth/me against one login), and verifying a
    repeated key or JWT in-process stays under the target."""
    seq_key = sequential_latencies(serve.port, "/api/auth/me", minted.api_key, 300)
    seq_jwt = sequential_latencies(serve.port, "/api/auth/me", minted.bearer, 300)
    res.notes.append(
        f"login (one argon2id verify, client-timed): {minted.login_ms:.1f} ms; sequential /api/auth/me on one "
        f"connection, 300 each: X-API-Key p50 {statistics.median(seq_key):.2f} ms (max {max(seq_key):.2f}), "
        f"JWT p50 {statistics.median(seq_jwt):.2f} ms (max {max(seq_jwt):.2f})"
    )
    inproc = run_async(inprocess_checks(serve.env, minted.key, minted.token, serve.email, serve.password))
    _note_inprocess(res, inproc)
    for label, what in (("key", "API key"), ("jwt", "JWT")):
        res.check(
            f"verify repeated {what} < {TARGET_VERIFY_US:g} µs",
            inproc[f"{label}_us"] < TARGET_VERIFY_US,
            f"{inproc[f'{label}_us']:.2f} µs",
        )
    worst = max(statistics.median(seq_key), statistics.median(seq_jwt))
    argon_free = (
        inproc["argon2_calls_during_auth"] == 0
        and inproc["argon2_calls_during_login"] >= 1
        and worst < inproc["argon2_ms"] / 4
    )
    res.check(
        "argon2 never runs on key/JWT requests",
        argon_free,
        f"0 calls in-process (login: {inproc['argon2_calls_during_login']}); /auth/me p50 {worst:.2f} ms "
        f"vs argon2 {inproc['argon2_ms']:.1f} ms",
    )


def _note_inprocess(res: BackendResult, inproc: dict[str, Any]) -> None:
    res.notes.append(
        f"uc.authenticate in-process, cached: API key {inproc['key_us']:.2f} µs (median of 7 runs "
        f"{inproc['key_us_median']:.2f}), JWT {inproc['jwt_us']:.2f} µs ({inproc['jwt_us_median']:.2f}); "
        f"uncached (cache cleared, DB round trips): key {inproc['key_uncached_us']:.0f} µs, "
        f"JWT {inproc['jwt_uncached_us']:.0f} µs"
    )
    res.notes.append(
        f"argon2id verify in-process: {inproc['argon2_ms']:.1f} ms; argon2 calls during 280,000 cached + 200 "
        f"uncached authentications: {inproc['argon2_calls_during_auth']}; during one uc.sessions.login: "
        f"{inproc['argon2_calls_during_login']}"
    )
