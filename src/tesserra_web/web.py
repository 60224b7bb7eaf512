"""What every page shares: the session cookie, who is signed in, CSRF and Origin checks, rendering, paging."""

from __future__ import annotations

import contextlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import ConsoleSession, Principal, Scope
from tesserra_core.domain.paging import Page, PageRequest
from tesserra_core.errors import Forbidden, TesserraError, ValidationFailed
from tesserra_core.facade import UseCases
from tesserra_core.usecases.console_sessions import ConsoleSessions
from tesserra_core.usecases.guards import rate_limited
from tesserra_web.endpoint import CONSOLE_PATH, NONCE
from tesserra_web.shared_reads import SharedReads

SECURE_COOKIE = "__Host-tesserra_console"
"""Sent where the browser treats the origin as secure (HTTPS, or loopback): Secure, host-only, path /."""
PLAIN_COOKIE = "tesserra_console"
"""Over plain HTTP to another host a browser refuses Secure cookies: the console then works without the
prefix (and anyone on the network can read it: serve the console over TLS)."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PAGE_SIZE = 20
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class LiveLimits:
    """A live stream's pace: it reads what it shows every ``every`` seconds, checks its session every
    ``recheck`` seconds, sends a comment after ``keepalive`` quiet seconds and ends after ``lifetime`` (the
    browser then opens a new one, through every check again)."""

    every: float = 1.0
    recheck: float = 5.0
    keepalive: float = 15.0
    lifetime: float = 300.0


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


def _from_this_origin(request: AnyRequest) -> bool:
    """The request's Origin is this host's (either scheme: behind a proxy that terminates TLS the request
    arrives as http, the page was https). A page served with Referrer-Policy no-referrer (the invitation
    page) makes the browser post its forms with ``Origin: null``: then the browser's own Fetch Metadata,
    ``Sec-Fetch-Site: same-origin``, which no page can set, says where the request came from."""
    origin = request.headers.get("origin")
    if origin == "null":
        return request.headers.get("sec-fetch-site") == "same-origin"
    host = _host(request)
    return origin is not None and any(hmac.compare_digest(origin.lower(), f"{s}://{host}") for s in ("http", "https"))


class CsrfRefused(Forbidden):
    default_code = "csrf_refused"


class SignInRequired(Exception):
    """No signed-in console session: the page answers with the login page."""


TOKEN_IN_STREAM = "csrf_in_stream"
"""A route's ``opt`` key: its body is a stream the handler reads itself (an upload); without the
``X-CSRF-Token`` header the handler checks the form's ``csrf`` field, sent before the file (``check_token``)."""
ROTATED = "tesserra.console.rotated"
"""Key of the request's ASGI scope holding the cookie of a session rotated while serving the request."""
FOUND = "tesserra.console.session"
"""Key of the request's ASGI scope holding its session once read (one store read per request)."""


@dataclass(frozen=True, slots=True)
class Console:
    """What the pages need beside the request: the use cases, sessions among them (in the shared store)."""

    uc: UseCases
    draining: Callable[[], bool] = lambda: False
    """Whether the hosting server drains (live streams then end, and the browser reconnects elsewhere)."""
    live: LiveLimits = LiveLimits()
    reads: SharedReads = field(default_factory=SharedReads)
    """The live streams' reads, one per interval for the streams that show the same thing to the same viewer."""

    @property
    def sessions(self) -> ConsoleSessions:
        return self.uc.console_sessions

    async def session(self, request: AnyRequest) -> ConsoleSession | None:
        scope: dict[str, Any] = request.scope  # type: ignore[assignment]
        if FOUND not in scope:
            scope[FOUND] = await self.sessions.find(request.cookies.get(cookie_name(request)))
        found: ConsoleSession | None = scope[FOUND]
        return found

    async def session_or_new(self, request: AnyRequest) -> tuple[ConsoleSession, Cookie | None]:
        """The browser's session, or a new anonymous one and the cookie that carries it. A client address
        opens at most the ``console_session`` rule's number of them (RateLimited, a 429 page, beyond)."""
        session = await self.session(request)
        if session is not None:
            return session, None
        client = request.client.host if request.client else "unknown"
        decision = await self.uc.throttle("console_session", f"ip:{client}")
        if not decision.allowed:
            raise rate_limited(decision)
        value, session = await self.sessions.open(request.headers.get("user-agent", ""))
        return session, session_cookie(request, value)

    async def check_unsafe(self, request: AnyRequest) -> None:
        """Every unsafe request (login included) comes from this origin and carries its session's CSRF
        token (the ``X-CSRF-Token`` header htmx sends, or the form's ``csrf`` field)."""
        if request.method in SAFE_METHODS:
            return
        if not _from_this_origin(request):
            raise CsrfRefused("this request did not come from the console's own pages")
        session = await self.session(request)
        token = request.headers.get("x-csrf-token")
        if token is None and request.route_handler.opt.get(TOKEN_IN_STREAM):
            if session is None:
                raise CsrfRefused("this form has expired: reload the page and try again")
            return  # the handler reads the body as a stream: it checks the token that comes before the file
        if token is None:
            form = await request.form()
            value = form.get("csrf")
            token = value if isinstance(value, str) else None
        self.check_token(session, token)

    @staticmethod
    def check_token(session: ConsoleSession | None, token: str | None) -> None:
        if session is None or not token or not hmac.compare_digest(token, session.csrf):
            raise CsrfRefused("this form has expired: reload the page and try again")

    async def signed_in(self, request: AnyRequest) -> tuple[ConsoleSession, Principal]:
        """The signed-in session and who it acts as. A session whose role changed since it was opened is
        rotated (new cookie value and CSRF token), as a change of standing must."""
        session = await self.session(request)
        if session is None or not session.signed_in:
            raise SignInRequired
        try:
            actor = await self.sessions.principal(session)
        except TesserraError:  # the login was revoked elsewhere, the account disabled, the member removed, ...
            with contextlib.suppress(TesserraError):
                await self.sessions.end(session)
            raise SignInRequired from None
        if actor.role is not session.role:
            value, session = await self.sessions.rotate(session, actor)
            self.replaced(request, session, value)
        request.state.console_session, request.state.console_actor = session, actor  # for its error page
        return session, actor

    def replaced(self, request: AnyRequest, session: ConsoleSession, value: str) -> None:
        """The request's session is now ``session``: its cookie goes out with whatever answer is sent."""
        scope: dict[str, Any] = request.scope  # type: ignore[assignment]
        scope[FOUND], scope[ROTATED] = session, session_cookie(request, value)

    async def end(self, session: ConsoleSession) -> None:
        """Sign a console session out: its login ends (its tokens die on every worker)."""
        await self.sessions.end(session)


async def send_rotated(message: Any, scope: Any) -> None:
    """``before_send``: the cookie of a session rotated while serving the request goes out with its answer."""
    cookie = scope.get(ROTATED)
    if message["type"] == "http.response.start" and isinstance(cookie, Cookie):
        message["headers"] = [*message.get("headers", ()), cookie.to_encoded_header()]


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
        context=_context(request, session, actor, context),
        status_code=status,
        headers={"Cache-Control": "no-store"},
        media_type="text/html",
    )


def fragment(request: AnyRequest, template: str, *, actor: Principal, **context: Any) -> str:
    """A fragment as text (what a live stream sends), rendered as ``render`` would, without a form's token."""
    engine: Any = request.app.template_engine
    rendered: str = engine.get_template(template).render(**_context(request, None, actor, context))
    return rendered


def _context(
    request: AnyRequest, session: ConsoleSession | None, actor: Principal | None, context: dict[str, Any]
) -> dict[str, Any]:
    return {
        **context,
        "nonce": request.scope.get(NONCE, ""),
        "csrf": session.csrf if session else "",
        "actor": actor,
        "can": (lambda scope: actor is not None and Scope(scope) in actor.scopes),
        "href": href,
        "path": full_path(request),
    }


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
