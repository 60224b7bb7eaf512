"""The Infra SSH audit (uc.infra_ssh, as /api/infra/ssh/audit and /audit/verify): its hash-chained records,
newest first, filtered in the URL, and the verification of the whole chain; and the open forwards, with a
button to close each (as /api/infra/ssh/forwards)."""

from __future__ import annotations

from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent
from tesserra_core.errors import ValidationFailed
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_web.listing import Listing
from tesserra_web.pages.infra_operator import AnyRequest, operator
from tesserra_web.web import Console, Pager, back_to, href, render

_TEXT_FILTERS = {"host_id": 64, "action": 64, "user_id": 128, "run_id": 64, "lease_id": 64}


def _query(request: AnyRequest) -> tuple[AuditQuery, dict[str, str]]:
    """The filters of the URL as the use case takes them, and as the page shows them again."""
    given = {name: request.query_params.get(name, "").strip()[:most] for name, most in _TEXT_FILTERS.items()}
    outcome, event = request.query_params.get("outcome", ""), request.query_params.get("event", "")
    try:
        query = AuditQuery(
            outcome=Outcome(outcome) if outcome else None,
            event=AuditEvent(event) if event else None,
            **{k: v or None for k, v in given.items()},
        )
    except ValueError:
        raise ValidationFailed("unknown outcome or event", code="invalid_filter") from None
    return query, {**given, "outcome": outcome, "event": event}


def routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/infra/audit")
    async def audit_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        query, filters = _query(request)
        page = await console.uc.infra_ssh.query_audit(operator(actor), query, pager.request)
        verification = None
        if request.query_params.get("verify") == "1":
            verification = await console.uc.infra_ssh.verify_audit(operator(actor))
        return render(
            request,
            "infra_audit.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            filters=filters,
            outcomes=[o.value for o in Outcome],
            events=[e.value for e in AuditEvent],
            verification=verification,
        )

    @get("/infra/forwards")
    async def forwards_page(request: AnyRequest) -> Template:
        listing = await Listing.of(
            console, request, lambda actor, asked: console.uc.infra_ssh.list_forwards(operator(actor), asked)
        )
        return listing.render(request, "infra_forwards.html")

    @post("/infra/forwards/{forward_id:str}/close")
    async def close_forward(request: AnyRequest, forward_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.infra_ssh.close_forward(operator(actor), forward_id)
        return back_to(href("/infra/forwards"))

    return [audit_page, forwards_page, close_forward]
