"""What every page shares: the session cookie, who is signed in, CSRF and Origin checks, rendering, paging."""

from __future__ import annotations

import contextlib
import hmac
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Forbidden, TesserraError, Unauthenticated, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sessions import RefreshRequest
from tesserra_web.endpoint import CONSOLE_PATH, NONCE
from tesserra_web.sessions import ConsoleSession, SessionStore

SECURE_COOKIE = "__Host-tesserra_console"
"""Sent where the browser treats the origin as secure (HTTPS, or loopback): Secure, host-only, path /."""
PLAIN_COOKIE = "tesserra_console"
"""Over plain HTTP to another host a browser refuses Secure cookies: the console then works without the
prefix (and anyone on the network can read it: serve the console over TLS)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_SIZE = 20
MAX_PAGE = 10_000

AnyRequest = Request[Any, Any, Any]


def href(path: str = "/", **query: object) -> str:
    """A console URL: ``href("/keys", page=2)`` is /console/keys?page=2 (empty values left out)."""
    filled = {k: v for k, v in query.items() if v not in (None, "")}
    full = CONSOLE_PATH + (path if path != "/" else "/")
    return f"{full}?{urlencode(filled)}" if filled else full


def full_path(request: AnyRequest) -> str:
    """The path the browser asked for (the mount strips /console from the request's own)."""
    inner = request.url.path
    return CONSOLE_PATH + (inner if inner != "/" else "/")


def _host(request: AnyRequest) -> str:
    return request.headers.get("host", "").lower()


def secure_origin(request: AnyRequest) -> bool:
    return request.url.scheme == "https" or (request.url.hostname or "") in LOOPBACK_HOSTS


def cookie_name(request: AnyRequest) -> str:
    return SECURE_COOKIE if secure_origin(request) else PLAIN_COOKIE


def session_cookie(request: AnyRequest, value: str) -> Cookie:
    return Cookie(
        key=cookie_name(request),
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure_origin(request),
    )


def expired_cookie(request: AnyRequest) -> Cookie:
    return Cookie(
        key=cookie_name(request),
        value="",
        path="/",
        max_age=0,
        httponly=True,
        samesite="lax",
        secure=secure_origin(request),
    )


class CsrfRefused(Forbidden):
    default_code = "csrf_refused"


class SignInRequired(Exception):
    """No signed-in console session: the page answers with the login page."""


@dataclass(frozen=True, slots=True)
class Console:
    """What the pages need beside the request: the use cases and the session store."""

    uc: UseCases
    store: SessionStore

    def session(self, request: AnyRequest) -> ConsoleSession | None:
        return self.store.get(request.cookies.get(cookie_name(request)))

    async def check_unsafe(self, request: AnyRequest) -> None:
        """Every unsafe request (login included) comes from this origin and carries its session's CSRF
        token (the ``X-CSRF-Token`` header htmx sends, or the form's ``csrf`` field)."""
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("origin")
        host = _host(request)
        # Either scheme: behind a proxy that terminates TLS the request arrives as http, the page was https.
        if origin is None or not any(hmac.compare_digest(origin.lower(), f"{s}://{host}") for s in ("http", "https")):
            raise CsrfRefused("this request did not come from the console's own pages")
        session = self.session(request)
        token = request.headers.get("x-csrf-token")
        if token is None:
            form = await request.form()
            value = form.get("csrf")
            token = value if isinstance(value, str) else None
        if session is None or not token or not hmac.compare_digest(token, session.csrf):
            raise CsrfRefused("this form has expired: reload the page and try again")

    async def signed_in(self, request: AnyRequest) -> tuple[ConsoleSession, Principal]:
        session = self.session(request)
        if session is None or session.tokens is None:
            raise SignInRequired
        try:
            actor = await self.principal_of(session)
        except TesserraError:  # the session was revoked elsewhere, the account disabled, ...
            self.store.drop(session)
            raise SignInRequired from None
        request.state.console_session, request.state.console_actor = session, actor  # for its error page
        return session, actor

    async def principal_of(self, session: ConsoleSession) -> Principal:
        """Who a signed-in session acts as. An expired access token is refreshed (one refresh at a time per
        session: a refresh token is single use). Raises the core's error when the login has ended."""
        async with session.lock:
            if session.tokens is None:
                raise Unauthenticated("this console session has ended", code="session_revoked")
            try:
                return await self.uc.authenticate(session.tokens.access_token)
            except Unauthenticated as exc:
                if exc.code != "token_expired":
                    raise
            session.tokens = await self.uc.sessions.refresh(RefreshRequest(refresh_token=session.tokens.refresh_token))
            return await self.uc.authenticate(session.tokens.access_token)

    async def end(self, session: ConsoleSession) -> None:
        """Sign a console session out: its core session is logged out (its tokens die on every worker)."""
        with contextlib.suppress(TesserraError):  # else it had already ended elsewhere
            await self.uc.sessions.logout(await self.principal_of(session))
        self.store.drop(session)


def render(
    request: AnyRequest,
    template: str,
    *,
    status: int = 200,
    session: ConsoleSession | None = None,
    actor: Principal | None = None,
    **context: Any,
) -> Template:
    """A page (or, for htmx, a fragment): never cached, with this response's nonce and the CSRF token."""
    return Template(
        template_name=template,
        context={
            **context,
            "nonce": request.scope.get(NONCE, ""),
            "csrf": session.csrf if session else "",
            "actor": actor,
            "can": (lambda scope: actor is not None and Scope(scope) in actor.scopes),
            "href": href,
            "path": full_path(request),
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},
        media_type="text/html",
    )


def back_to(path: str) -> Redirect:
    return Redirect(path=path, status_code=303)


@dataclass(frozen=True, slots=True)
class Pager:
    """A list's page from ``?page=N`` (1-based), and the links around it."""

    number: int
    size: int = PAGE_SIZE

    @classmethod
    def of(cls, request: AnyRequest) -> Pager:
        raw = request.query_params.get("page", "1")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
            raise ValidationFailed(f"page must be a number from 1 to {MAX_PAGE}", code="invalid_page")
        return cls(int(raw))

    @property
    def request(self) -> PageRequest:
        return PageRequest(limit=self.size, offset=(self.number - 1) * self.size)

    def pages(self, page: Page[Any]) -> int:
        return max(1, math.ceil(page.total / self.size))
