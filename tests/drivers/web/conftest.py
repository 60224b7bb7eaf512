"""Fixtures of the console's driver tests: the HTTP tests' live servers and accounts, and a console client."""

from __future__ import annotations

import re
from collections.abc import Mapping

import httpx
import pytest

from tests.drivers.http.conftest import accounts, clients, server  # noqa: F401  (fixtures shared with /api's tests)

COOKIE = "__Host-tesserra_console"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class ConsoleClient:
    """A browser's view of /console over httpx: the session cookie kept by hand (httpx, rightly, never
    sends a Secure cookie over plain HTTP, which a browser does on loopback), forms posted with the
    page's CSRF token and this origin."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.origin = str(http.base_url).rstrip("/")
        self.session: str | None = None
        self.csrf = ""

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.session:
            headers["Cookie"] = f"{COOKIE}={self.session}"
        return headers

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for raw in response.headers.get_list("set-cookie"):
            name, _, rest = raw.partition("=")
            if name == COOKIE:
                value = rest.split(";", 1)[0]
                self.session = value or None
        found = _CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._keep(await self.http.get(path, headers=self._headers(headers)))

    async def post(
        self,
        path: str,
        data: Mapping[str, object] | None = None,
        *,
        origin: str | None = "",
        csrf: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A form post; ``origin=None`` sends no Origin, ``csrf=None`` no token (else the page's)."""
        extra = dict(headers or {}) if origin is None else {**(headers or {}), "Origin": origin or self.origin}
        body = dict(data or {})
        if csrf is not None:
            body["csrf"] = csrf or self.csrf
        return self._keep(await self.http.post(path, data=body, headers=self._headers(extra)))

    async def sign_in(self, email: str, password: str) -> httpx.Response:
        await self.get("/console/login")
        response = await self.post("/console/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        await self.get(response.headers["location"])  # as a browser does: and so the new CSRF token
        return response


@pytest.fixture
def console(clients) -> ConsoleClient:  # noqa: F811
    return ConsoleClient(clients())
