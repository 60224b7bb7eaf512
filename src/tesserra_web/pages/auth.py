"""Signing in and out, and the signed-in user's console sessions (list, revoke)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect, Template

from tesserra_core.errors import TesserraError
from tesserra_core.usecases.sessions import Credentials
from tesserra_web.web import Console, back_to, expired_cookie, href, render, session_cookie

AnyRequest = Request[Any, Any, Any]


def _next(request: AnyRequest) -> str:
    """Where to go after signing in: a console path only (never another site)."""
    target = request.query_params.get("next", "")
    safe = target.startswith("/console") and not target.startswith("//") and "\\" not in target
    return target if safe else href("/")


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/login")
    async def login_page(request: AnyRequest) -> Template | Redirect:
        known = await console.session(request)
        if known is not None and known.signed_in:
            return back_to(_next(request))
        session, cookie = await console.session_or_new(request)
        page = render(request, "login.html", session=session, next=_next(request), email="", error=None)
        if cookie is not None:
            page.cookies.append(cookie)
        return page

    @post("/login")
    async def login(request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        email = str(form.get("email", ""))[:320]
        password = str(form.get("password", ""))
        old = await console.session(request)
        client = request.client.host if request.client else "unknown"
        try:
            decision = await console.uc.throttle("login", f"ip:{client}")
            if not decision.allowed:
                return render(
                    request,
                    "login.html",
                    status=429,
                    session=old,
                    next=_next(request),
                    email=email,
                    error="Too many sign-in attempts from here: wait a few minutes.",
                )
            pair = await console.uc.sessions.login(Credentials(email=email, password=password))
            principal = await console.uc.authenticate(pair.access_token)
        except (TesserraError, ValueError) as exc:
            message = exc.message if isinstance(exc, TesserraError) else "Enter an email address and a password."
            status = exc.status if isinstance(exc, TesserraError) else 400
            return render(
                request, "login.html", status=status, session=old, next=_next(request), email=email, error=message
            )
        value, _ = await console.sessions.sign_in(old, principal, request.headers.get("user-agent", ""))
        redirect = back_to(_next(request))
        redirect.cookies.append(session_cookie(request, value))
        return redirect

    @post("/logout")
    async def logout(request: AnyRequest) -> Redirect:
        session, _ = await console.signed_in(request)
        await console.end(session)
        redirect = back_to(href("/login"))
        redirect.cookies.append(expired_cookie(request))
        return redirect

    return [login_page, login, logout]
