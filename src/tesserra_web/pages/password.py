"""Changing one's own password (uc.sessions.change_password, as POST /api/auth/password)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.response import Template

from tesserra_core.errors import RateLimited, ValidationFailed
from tesserra_core.usecases.sessions import PasswordChange
from tesserra_web.web import Console, render, session_cookie

AnyRequest = Request[Any, Any, Any]


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/password")
    async def password_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        return render(request, "password.html", session=session, actor=actor, error=None, done=False)

    @post("/password")
    async def change_password(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        form = await request.form()
        fields = {"current_password": str(form.get("current", "")), "new_password": str(form.get("new", ""))}
        try:
            await console.uc.sessions.change_password(actor, msgspec.convert(fields, PasswordChange))
        except msgspec.ValidationError:
            return render(
                request,
                "password.html",
                status=400,
                session=session,
                actor=actor,
                done=False,
                error="Enter your current password, and a new one of 8 to 1024 characters.",
            )
        except (ValidationFailed, RateLimited) as exc:
            return render(
                request, "password.html", status=exc.status, session=session, actor=actor, done=False, error=exc.message
            )
        # A changed password is a change of standing: the use case ended the user's other console sessions
        # (whoever held the old password is signed out everywhere); this one gets a new id and CSRF token.
        value, rotated = await console.sessions.rotate(session, actor)
        page = render(request, "password.html", session=rotated, actor=actor, error=None, done=True)
        page.cookies.append(session_cookie(request, value))
        return page

    return [password_page, change_password]
