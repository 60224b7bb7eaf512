"""A real browser on the console: Debian's chromium driven by Playwright's async API, one browser for the
whole run and a fresh context (cookies, storage) and page per test, against a live server on loopback.

Playwright's own browser downloads are never used (no `playwright install`): chromium comes from Debian
(.ci/run installs it). Without it these tests skip, or fail under TESSERRA_TEST_REQUIRE_ALL=1.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.drivers.http.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Accounts
from tests.servers.launchers import CATALOG, write_launchers
from tests.servers.scripted_model import ScriptedModelServer, scripted_model
from tests.support import LiveServer, database_url, live_server, missing, test_settings

CHROMIUM = os.environ.get("TESSERRA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
BUDGETS = {"html": 60_000, "js": 25_000, "css": 15_000, "requests": 5, "dcl_ms": 250.0}
"""Issue 14's per-page budgets: gzipped bytes of HTML, JS and CSS, same-origin requests, DOMContentLoaded."""

_WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""
"""Installed through the DevTools protocol (not subject to the page's CSP), before any page script."""

MEASURED: list[tuple[str, dict[str, float]]] = []
"""Every page's measured budget, printed at the end of the run."""


@pytest.fixture(scope="package")
async def chromium() -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        missing("chromium", f"{CHROMIUM} not found; apt-get install chromium (or set TESSERRA_TEST_CHROMIUM)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("playwright", "pip install playwright (its browsers are not needed: Debian's chromium is used)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture(scope="package")
async def model() -> AsyncIterator[ScriptedModelServer]:
    """The suite's scripted OpenAI-compatible server the chat pages' agents answer with (each test scripts it)."""
    async with scripted_model() as server:
        yield server


@pytest.fixture(scope="package")
async def site(tmp_path_factory: pytest.TempPathFactory, model: ScriptedModelServer) -> AsyncIterator[LiveServer]:
    """The console's server: every browser test signs in from 127.0.0.1, so the per-IP login limit is scaled.
    Per package, not per session: it and the tool servers its tests install end with the browser tests,
    not at the end of the whole run (tests/tools/test_no_orphans.py found them still running)."""
    tmp = tmp_path_factory.mktemp("browser")
    scripts = write_launchers(tmp / "bin")  # the test catalog's MCP servers, for the marketplace pages
    async with (
        database_url("sqlite", tmp) as url,
        live_server(
            test_settings(
                tmp,
                url,
                rate_limit_scale=100.0,
                catalog_source=str(CATALOG),
                tool_script_dirs=scripts,
                model_base_url=model.url,
                model="tiny-chat",
            )
        ) as srv,
    ):
        assert await srv.uc.operators.ensure_first_owner(ADMIN_EMAIL, ADMIN_PASSWORD)
        yield srv


@pytest.fixture(scope="package")
def people(site: LiveServer) -> Accounts:
    return Accounts(site.uc)


@dataclass
class Tab:
    """A page of a fresh browser context, and what it did: requests, console errors, CSP violations."""

    page: Any
    origin: str
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def off_host(self) -> list[str]:
        return [
            u
            for u in self.requests
            if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" != self.origin
        ]

    async def csp_violations(self) -> list[str]:
        return list(await self.page.evaluate("window.__cspViolations || []"))

    async def sign_in(self, email: str, password: str) -> None:
        await self.page.goto(f"{self.origin}/console/login")
        await self.page.fill("#email", email)
        await self.page.fill("#password", password)
        async with self.page.expect_navigation():
            await self.page.click("form.stack button[type=submit]")
        assert self.page.url == f"{self.origin}/console/", self.page.url

    async def visit(self, path: str, name: str | None = None) -> Any:
        """Open a page, check it is clean (no CSP violation, no request off this host) and measure it."""
        self.requests.clear()
        responses: list[Any] = []

        def seen(response: Any) -> None:
            responses.append(response)

        self.page.on("response", seen)
        try:
            response = await self.page.goto(f"{self.origin}{path}", wait_until="load")
        finally:
            self.page.remove_listener("response", seen)
        assert await self.csp_violations() == [], path
        assert [e for e in self.console_errors if "Content Security Policy" in e] == [], path
        assert self.off_host == [], path
        MEASURED.append((name or path, await self._budget(responses)))
        return response

    async def _budget(self, responses: list[Any]) -> dict[str, float]:
        """The page's bytes by kind, counted from its main frame's navigation response on: a response the previous
        page was still receiving (an htmx poll) is not this page's, and once navigated away from its
        body is gone (the browser answers "No resource with given identifier")."""
        sizes = {"html": 0.0, "js": 0.0, "css": 0.0}
        kinds = {"document": "html", "script": "js", "stylesheet": "css"}
        navigations = [
            i for i, r in enumerate(responses) if r.request.is_navigation_request() and r.frame.parent_frame is None
        ]
        for response in responses[navigations[-1] if navigations else 0 :]:
            kind = kinds.get(response.request.resource_type)
            if kind is not None and not 300 <= response.status < 400:
                sizes[kind] += len(gzip.compress(await response.body()))
        timing = await self.page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return n.domContentLoadedEventEnd - n.startTime; })()"
        )
        return {**sizes, "requests": float(len(responses)), "dcl_ms": float(timing)}


@asynccontextmanager
async def open_tab(chromium: Any, site: LiveServer) -> AsyncIterator[Tab]:
    """A page in a browser context of its own (another person's browser), watched as ``tab`` is."""
    context = await chromium.new_context(base_url=site.url)
    await context.add_init_script(_WATCH_CSP)
    page = await context.new_page()
    page.set_default_timeout(30_000)
    opened = Tab(page, site.url)
    page.on("request", lambda request: opened.requests.append(request.url))
    page.on("console", lambda message: opened.console_errors.append(message.text) if message.type == "error" else None)
    try:
        yield opened
    finally:
        await context.close()


@pytest.fixture
async def tab(chromium: Any, site: LiveServer) -> AsyncIterator[Tab]:
    async with open_tab(chromium, site) as opened:
        yield opened


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASURED:
        return
    write = terminalreporter.write_line
    write("")
    write("Console page budgets (gzipped bytes; same-origin requests; DOMContentLoaded on loopback):")
    write(f"  {'page':<28}{'html':>8}{'js':>8}{'css':>8}{'reqs':>6}{'dcl ms':>9}  verdict")
    limits = (
        "  "
        + f"{'budget':<28}"
        + "".join(
            f"{BUDGETS[k]:>{w}.0f}" for k, w in (("html", 8), ("js", 8), ("css", 8), ("requests", 6), ("dcl_ms", 9))
        )
    )
    write(limits)
    for name, m in MEASURED:
        over = [k for k in BUDGETS if m[k] > BUDGETS[k]]
        verdict = "PASS" if not over else "MISS " + ",".join(over)
        sizes = f"{m['html']:>8.0f}{m['js']:>8.0f}{m['css']:>8.0f}"
        write(f"  {name:<28}{sizes}{m['requests']:>6.0f}{m['dcl_ms']:>9.1f}  {verdict}")
