"""Members and invitations of the signed-in tenant (uc.members, as /api/tenants/atual/membros and /convites),
the page where an invited person accepts, and the tenant switcher."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import ROLE_RANK, Principal, Role, Scope
from tesserra_core.errors import Conflict, Forbidden, NotFound, TesserraError, ValidationFailed
from tesserra_core.usecases.members import (
    InvitationSignUp,
    InvitationToken,
    NewInvitation,
    NewInvitationView,
    RoleChange,
)
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render, session_cookie

AnyRequest = Request[Any, Any, Any]
_MAX_TOKEN = 200


def offered_roles(actor: Principal) -> list[str]:
    """The roles the caller may give: their own and those below it."""
    return [r.value for r in Role if ROLE_RANK[r] <= ROLE_RANK[actor.role]]


def _role(raw: object) -> Role:
    try:
        return Role(str(raw))
    except ValueError:
        raise ValidationFailed("choose one of the listed roles", code="invalid_role") from None


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_member_routes(console), *_invitation_routes(console), *_accept_routes(console), *_tenant_routes(console)]


def _member_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/members")
    async def members_page(request: AnyRequest) -> Template:
        listing = await Listing.of(console, request, console.uc.members.list)
        return listing.render(
            request,
            "members.html",
            roles=offered_roles(listing.actor),
            rank=ROLE_RANK,
        )

    @post("/members/{user_id:str}/role")
    async def change_role(request: AnyRequest, user_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        await console.uc.members.change_role(actor, user_id, RoleChange(role=_role(form.get("role"))))
        return back_to(href("/members"))

    @post("/members/{user_id:str}/remove")
    async def remove_member(request: AnyRequest, user_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.members.remove(actor, user_id)
        return back_to(href("/members"))

    return [members_page, change_role, remove_member]


def _invitation_routes(console: Console) -> list[HTTPRouteHandler]:
    async def _invitations(
        request: AnyRequest, status: int = 200, error: str | None = None, email: str = "", role: str = "member"
    ) -> Template:
        listing = await Listing.of(console, request, console.uc.members.invitations)
        return listing.render(
            request,
            "invitations.html",
            status=status,
            roles=offered_roles(listing.actor),
            error=error,
            form={"email": email, "role": role},
        )

    @get("/invitations")
    async def invitations_page(request: AnyRequest) -> Template:
        return await _invitations(request)

    @post("/invitations")
    async def invite(request: AnyRequest) -> Template | Redirect:
        session, actor = await console.signed_in(request)
        form = await request.form()
        email, role = str(form.get("email", ""))[:320], str(form.get("role", "member"))
        try:
            cmd = msgspec.convert({"email": email, "role": role}, NewInvitation)  # checked as the REST body is
            created = await console.uc.members.invite(actor, cmd)
        except msgspec.ValidationError:
            return await _invitations(request, 400, "Enter an email address and choose a listed role.", email, role)
        except (ValidationFailed, Forbidden, Conflict) as exc:
            if exc.code == "insufficient_scope":  # no form to show it on: the error page says so
                raise
            return await _invitations(request, exc.status, exc.message, email, role)
        await console.sessions.stash(session, msgspec.json.encode(created))
        return back_to(href(f"/invitations/{created.invitation.id}/created"))

    @get("/invitations/{invitation_id:str}/created")
    async def invitation_created(request: AnyRequest, invitation_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        kept = await console.sessions.take(session)
        created = msgspec.json.decode(kept, type=NewInvitationView) if kept is not None else None
        if created is None or created.invitation.id != invitation_id:
            created = None
        origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
        link = None
        if created is not None:
            link = created.accept_url if "://" in created.accept_url else origin + created.accept_url
        return render(request, "invitation_created.html", session=session, actor=actor, created=created, link=link)

    @post("/invitations/{invitation_id:str}/revoke")
    async def revoke_invitation(request: AnyRequest, invitation_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.members.revoke_invitation(actor, invitation_id)
        return back_to(href("/invitations"))

    return [invitations_page, invite, invitation_created, revoke_invitation]


def _accept_routes(console: Console) -> list[HTTPRouteHandler]:
    async def _accept_page(request: AnyRequest, token: str, status: int = 200, error: str | None = None) -> Template:
        session, cookie = await console.session_or_new(request)
        actor = None
        if session.signed_in:
            try:
                actor = await console.sessions.principal(session)
            except TesserraError:
                actor = None
        here = href("/invitations/accept", token=token)
        page = render(
            request,
            "invitation_accept.html",
            status=status,
            session=session,
            actor=actor,
            token=token,
            error=error,
            login=href("/login", next=here),
        )
        page.headers["Referrer-Policy"] = "no-referrer"  # the token is in this page's URL: no Referer anywhere
        if cookie is not None:
            page.cookies.append(cookie)
        return page

    @get("/invitations/accept")
    async def accept_page(request: AnyRequest) -> Template:
        return await _accept_page(request, request.query_params.get("token", "")[:_MAX_TOKEN])

    @post("/invitations/accept")
    async def accept(request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        token = str(form.get("token", ""))[:_MAX_TOKEN]
        _, actor = await console.signed_in(request)
        try:
            joined = await console.uc.members.accept(actor, InvitationToken(token=token))
        except (NotFound, Conflict, Forbidden, ValidationFailed) as exc:
            return await _accept_page(request, token, exc.status, exc.message)
        return back_to(href("/tenants", joined=joined.tenant_id))

    @post("/invitations/sign-up")
    async def sign_up(request: AnyRequest) -> Template | Redirect:
        form = await request.form()
        token = str(form.get("token", ""))[:_MAX_TOKEN]
        fields = {"token": token, "password": str(form.get("password", "")), "name": str(form.get("name", "")) or None}
        client = request.client.host if request.client else "unknown"
        decision = await console.uc.throttle("login", f"ip:{client}")
        if not decision.allowed:
            return await _accept_page(request, token, 429, "Too many attempts from here: wait a few minutes.")
        try:
            await console.uc.members.sign_up(msgspec.convert(fields, InvitationSignUp))
        except msgspec.ValidationError:
            return await _accept_page(request, token, 400, "Choose a password of 8 to 1024 characters.")
        except (NotFound, Conflict, ValidationFailed) as exc:
            return await _accept_page(request, token, exc.status, exc.message)
        return back_to(href("/login", joined="1"))

    return [accept_page, accept, sign_up]


def _tenant_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/tenants")
    async def tenants_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        mine = await console.uc.members.my_tenants(actor)
        joined = request.query_params.get("joined", "")
        current = await console.uc.tenants.current(actor) if Scope.TENANT_READ in actor.scopes else None
        return render(
            request, "tenants.html", session=session, actor=actor, tenants=mine, joined=joined, current=current
        )

    @post("/tenants/switch")
    async def switch(request: AnyRequest) -> Redirect:
        session, actor = await console.signed_in(request)
        form = await request.form()
        tenant_id = str(form.get("tenant_id", ""))[:64]
        # A change of standing: a new login in that tenant, under a new cookie value and CSRF token.
        value, _ = await console.sessions.switch(session, actor, tenant_id)
        redirect = back_to(href("/"))
        redirect.cookies.append(session_cookie(request, value))
        return redirect

    return [tenants_page, switch]
