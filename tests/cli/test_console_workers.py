"""Console sessions live in the shared store: a browser signed in on one worker of `tesserra serve --workers 2`
stays signed in on the other, and across a restart of the server.

Which worker answers a connection is told by /status: the worker holding the billing-retries lease answers
``held_here: true``, the other ``false``. A kept-alive connection stays with the worker that accepted it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.cli.served import Server, serving
from tests.drivers.web.conftest import ConsoleClient

EMAIL, PASSWORD = "admin@tesserra.local", "hardening-password-1"
LEASE = "billing-retries"


async def _holds_lease(http: httpx.AsyncClient, bearer: dict[str, str]) -> bool | None:
    """Whether the worker answering this connection holds the lease (None while nobody holds it yet)."""
    runners = (await http.get("/status", headers=bearer)).json()["runners"]
    runner = next((r for r in runners if r["name"] == LEASE), None)
    return None if runner is None or not runner["held"] else bool(runner["held_here"])


def _pinned(server: Server) -> httpx.AsyncClient:
    """A client on one kept-alive connection: every request goes to the same worker."""
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=60)
    return httpx.AsyncClient(base_url=server.url, timeout=30, limits=one)


async def _on_other_worker(server: Server, bearer: dict[str, str], than: bool) -> httpx.AsyncClient:
    """A pinned client whose worker is not the one ``than`` says (a lease holder or not)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        http = _pinned(server)
        if await _holds_lease(http, bearer) is (not than):
            return http
        await http.aclose()
        await asyncio.sleep(0.05)
    raise AssertionError("no connection reached the other worker")


async def test_a_console_session_made_on_one_worker_is_known_to_the_other(tmp_path: Path) -> None:
    async with serving(tmp_path, "--workers", "2") as server, _pinned(server) as first_http:
        login = await first_http.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        bearer = {"Authorization": f"Bearer {login.json()['access_token']}"}
        deadline = time.monotonic() + 60
        while (first_holds := await _holds_lease(first_http, bearer)) is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)

        browser = ConsoleClient(first_http)
        await browser.sign_in(EMAIL, PASSWORD)  # on the first worker
        assert (await browser.get("/console/")).status_code == 200
        assert await _holds_lease(first_http, bearer) is first_holds  # still the same worker

        other_http = await _on_other_worker(server, bearer, first_holds)
        try:
            elsewhere = ConsoleClient(other_http)
            elsewhere.session, elsewhere.csrf = browser.session, browser.csrf
            page = await elsewhere.get("/console/keys")
            assert page.status_code == 200, page.text
            assert "Sign in" not in page.text
            created = await elsewhere.post("/console/keys", {"name": "made on the other worker"})
            assert created.status_code == 303, created.text
            # The new key's secret, stashed by this worker, is shown once by the first one.
            shown = await browser.get(created.headers["location"])
            assert shown.status_code == 200
            assert "tessera_" in shown.text
            assert "tessera_" not in (await elsewhere.get(created.headers["location"])).text
            # Signing out on one worker signs the browser out on the other.
            assert (await elsewhere.post("/console/logout")).status_code == 303
        finally:
            await other_http.aclose()
        gone = await first_http.get("/console/", headers={"Cookie": f"__Host-tesserra_console={browser.session}"})
        assert gone.status_code == 303
        assert "/console/login" in gone.headers["location"]


async def test_a_console_session_survives_a_restart(tmp_path: Path) -> None:
    async with serving(tmp_path) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        browser = ConsoleClient(http)
        await browser.sign_in(EMAIL, PASSWORD)
        cookie = browser.session
    async with serving(tmp_path) as server, httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        browser = ConsoleClient(http)
        browser.session = cookie
        page = await browser.get("/console/sessions")
        assert page.status_code == 200, page.text
        assert "Sign in" not in page.text
