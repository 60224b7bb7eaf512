"""Mail: the tenant's mailboxes and aliases (lists with the page in the URL, add, a page each, delete), and a
mailbox's password: the console gives none, so the use case generates a strong one, at creation or on a reset,
and the console shows it once on a no-store page kept out of htmx's history (it is sealed in the session for
exactly that one page)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.mail import DEFAULT_QUOTA
from tesserra_core.errors import Conflict, NotFound, PaymentRequired, Unprocessable, ValidationFailed
from tesserra_core.usecases.mail import MailboxPassword, MailboxWithPassword, NewEmailAlias, NewMailbox
from tesserra_web.listing import Listing
from tesserra_web.web import Console, back_to, href, render

AnyRequest = Request[Any, Any, Any]
MIB = 1024**2
_REFUSED = (Conflict, PaymentRequired, Unprocessable, ValidationFailed)
_LIST_SPLIT = re.compile(r"[\s,;]+")


class _Shown(msgspec.Struct, frozen=True):
    """What the password page shows once: kept sealed in the session between the post and that page."""

    mailbox_id: str
    address: str
    password: str


def _quota(raw: str) -> int:
    raw = raw.strip()
    if not raw:
        return DEFAULT_QUOTA
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed("quota must be a whole number of MiB", code="invalid_quota")
    return int(raw) * MIB


def _refusal(exc: Exception, what: str) -> tuple[int, str]:
    if isinstance(exc, msgspec.ValidationError):
        return 400, f"this {what} cannot be added: {exc}"
    assert isinstance(exc, (*_REFUSED, NotFound))
    return exc.status, exc.message


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_mailboxes(console), *_aliases(console)]


def _mailboxes(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None, **form: str) -> Template:
        listing = await Listing.of(console, request, console.uc.mail.list_mailboxes)
        return listing.render(
            request,
            "mailboxes.html",
            status=status,
            error=error,
            form={"address": "", "quota_mib": "", **form},
            default_mib=DEFAULT_QUOTA // MIB,
        )

    async def _shown_once(request: AnyRequest, mailbox: MailboxWithPassword) -> Redirect:
        session, _ = await console.signed_in(request)
        assert mailbox.password is not None  # generated: the console never gives one
        await console.sessions.stash(
            session, msgspec.json.encode(_Shown(mailbox.id, mailbox.address, mailbox.password))
        )
        return back_to(href(f"/mailboxes/{mailbox.id}/password"))

    @get("/mailboxes")
    async def mailboxes_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/mailboxes")
    async def add_mailbox(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        address, quota = str(form.get("address", "")), str(form.get("quota_mib", ""))
        try:
            body = {"address": address, "quota_bytes": _quota(quota)}
            mailbox = await console.uc.mail.create_mailbox(actor, msgspec.convert(body, NewMailbox))
        except (msgspec.ValidationError, NotFound, *_REFUSED) as exc:  # NotFound: no such domain in this tenant
            return await _list(request, *_refusal(exc, "mailbox"), address=address, quota_mib=quota)
        return await _shown_once(request, mailbox)

    @get("/mailboxes/{mailbox_id:str}")
    async def mailbox_page(request: AnyRequest, mailbox_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        mailbox = await console.uc.mail.get_mailbox(actor, mailbox_id)
        return render(request, "mailbox.html", session=session, actor=actor, mailbox=mailbox, mib=MIB)

    @post("/mailboxes/{mailbox_id:str}/password")
    async def reset_password(request: AnyRequest, mailbox_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        return await _shown_once(request, await console.uc.mail.reset_password(actor, mailbox_id, MailboxPassword()))

    @get("/mailboxes/{mailbox_id:str}/password")
    async def password_page(request: AnyRequest, mailbox_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        kept = await console.sessions.take(session)
        shown = msgspec.json.decode(kept, type=_Shown) if kept is not None else None
        if shown is not None and shown.mailbox_id != mailbox_id:
            shown = None
        return render(request, "mailbox_password.html", session=session, actor=actor, shown=shown, id=mailbox_id)

    @post("/mailboxes/{mailbox_id:str}/delete")
    async def delete_mailbox(request: AnyRequest, mailbox_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.mail.delete_mailbox(actor, mailbox_id)
        return back_to(href("/mailboxes"))

    return [mailboxes_page, add_mailbox, mailbox_page, reset_password, password_page, delete_mailbox]


def _aliases(console: Console) -> list[HTTPRouteHandler]:
    async def _list(
        request: AnyRequest, status: int = 200, error: str | None = None, typed: Mapping[str, str] = {}
    ) -> Template:
        listing = await Listing.of(console, request, console.uc.mail.list_aliases)
        return listing.render(
            request,
            "aliases.html",
            status=status,
            error=error,
            form={"source": "", "destinations": "", **typed},
        )

    @get("/aliases")
    async def aliases_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/aliases")
    async def add_alias(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = {"source": str(form.get("source", "")), "destinations": str(form.get("destinations", ""))}
        destinations = [d for d in _LIST_SPLIT.split(typed["destinations"]) if d]
        try:
            body = {"source": typed["source"], "destinations": destinations}
            alias = await console.uc.mail.create_alias(actor, msgspec.convert(body, NewEmailAlias))
        except (msgspec.ValidationError, NotFound, *_REFUSED) as exc:
            return await _list(request, *_refusal(exc, "alias"), typed)
        return back_to(href(f"/aliases/{alias.id}"))

    @get("/aliases/{alias_id:str}")
    async def alias_page(request: AnyRequest, alias_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        alias = await console.uc.mail.get_alias(actor, alias_id)
        return render(request, "alias.html", session=session, actor=actor, alias=alias)

    @post("/aliases/{alias_id:str}/delete")
    async def delete_alias(request: AnyRequest, alias_id: FromPath[str]) -> Response[Any]:
        _, actor = await console.signed_in(request)
        await console.uc.mail.delete_alias(actor, alias_id)
        return back_to(href("/aliases"))

    return [aliases_page, add_alias, alias_page, delete_alias]
