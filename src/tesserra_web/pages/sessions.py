"""The signed-in user's console sessions: where they are signed in, and revoking any of them."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Template

from tesserra_core.usecases.console_sessions import public_id_of
from tesserra_web.web import Console, back_to, expired_cookie, href, render

AnyRequest = Request[Any, Any, Any]


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/sessions")
    async def sessions_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        listed = [
            {
                "id": public_id_of(s),
                "created_at": s.created_at,
                "last_seen": s.last_seen,
                "user_agent": s.user_agent,
                "current": s.key == session.key,
            }
            for s in await console.sessions.of_user(actor.user_id)
        ]
        return render(request, "sessions.html", session=session, actor=actor, sessions=listed)

    @post("/sessions/{public_id:str}/revoke")
    async def revoke_session(request: AnyRequest, public_id: FromPath[str]) -> Response[Any]:
        session, actor = await console.signed_in(request)
        mine = await console.sessions.of_user(actor.user_id)
        target = next((s for s in mine if public_id_of(s) == public_id), None)
        if target is None:
            return render(
                request,
                "error.html",
                status=404,
                session=session,
                actor=actor,
                title="Not found",
                message="There is no such session.",
            )
        await console.end(target)
        if target.key == session.key:
            redirect = back_to(href("/login"))
            redirect.cookies.append(expired_cookie(request))
            return redirect
        return back_to(href("/sessions"))

    return [sessions_page, revoke_session]
