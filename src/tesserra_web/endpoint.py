"""The /console endpoint to mount in an HTTP server: security headers on every answer, pages behind them.

The pages (Litestar's template engine, Jinja2 with it) are built on the first request, not at start-up:
a server nobody opens the console of never pays for them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

from tesserra_core.facade import UseCases

CONSOLE_PATH = "/console"
NONCE = "tesserra.console.nonce"
"""Key of the ASGI scope holding this response's CSP nonce (templates put it on every script)."""

ASGIApp = Callable[[dict[str, Any], Any, Any], Any]
PAGE_MAY_SET = frozenset({b"referrer-policy"})
"""Security headers a page may set itself, which the endpoint then leaves alone (the invitation page and the
redirect that opens a sandbox's proxy send no referrer at all). Sent twice, the last Referrer-Policy a
browser knows wins: the console's default, appended after the page's, would override it."""


def content_security_policy(nonce: str) -> str:
    """Scripts only from this response's nonce; styles, images, fetches and forms only from this origin."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def _security_headers(nonce: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(nonce).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]


class ConsoleEndpoint:
    """An ASGI app serving the console's pages; mount it at ``CONSOLE_PATH``."""

    def __init__(self, uc: UseCases, draining: Callable[[], bool] = lambda: False) -> None:
        """``draining`` tells whether the hosting server drains: the console's live streams then end."""
        self._uc = uc
        self._draining = draining
        self._app: ASGIApp | None = None
        self._building = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        nonce = secrets.token_urlsafe(18)
        scope[NONCE] = nonce
        scope.pop("_ls_connection_state", None)  # the hosting app's cached request state is not ours
        headers = _security_headers(nonce)

        async def send_secured(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                own = list(message.get("headers", ()))
                chosen = {k.lower() for k, _ in own} & PAGE_MAY_SET
                message["headers"] = [*own, *((k, v) for k, v in headers if k not in chosen)]
            await send(message)

        await (await self._built())(scope, receive, send_secured)

    async def _built(self) -> ASGIApp:
        if self._app is None:
            async with self._building:
                if self._app is None:
                    from tesserra_web.app import build_app

                    self._app = build_app(self._uc, self._draining)  # type: ignore[assignment]
        assert self._app is not None
        return self._app
