"""Infra SSH approval leases (uc.infra_ssh, as /api/infra/ssh/admin-session): the list (state, mine or all),
asking for one (hosts, actions, forwards, duration, uses, reason), one lease with its approvals and the
time it has left, and approving, denying or revoking it. Who may approve is the use case's rule alone
(another person than the one who asked and than earlier approvers): a refusal is its 403 page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import msgspec
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.identity import Principal
from tesserra_core.domain.infra_ssh_audit import Via
from tesserra_core.domain.infra_ssh_leases import LeaseState
from tesserra_core.errors import Forbidden, NotFound, ValidationFailed
from tesserra_core.usecases.infra_ssh_lease_views import LeaseQuery, LeaseView
from tesserra_core.usecases.infra_ssh_lease_views import NewLease as NewLeaseBody
from tesserra_web.pages.infra_operator import AnyRequest, actions_by_id, field, hosts_offered, operator
from tesserra_web.web import Console, Pager, back_to, href, render

_REFUSED = frozenset({"validation_failed", "denied", "host_not_found"})
"""What a lease form's input can be refused with: shown on the form again, with what was chosen."""
_WHO = ("all", "mine")


def _query(request: AnyRequest) -> LeaseQuery:
    state, who = request.query_params.get("state", ""), request.query_params.get("who", "all")
    if who not in _WHO:
        raise ValidationFailed("who must be all or mine", code="invalid_filter")
    try:
        return LeaseQuery(mine=who == "mine", state=LeaseState(state) if state else None)
    except ValueError:
        raise ValidationFailed("unknown lease state", code="invalid_state") from None


def _number(raw: str) -> int | str:
    """A whole number typed in a form, or the text as typed (the body's check then refuses it by name)."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 9 else raw


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_list_routes(console), *_decision_routes(console)]


def _list_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/infra/leases")
    async def leases_page(request: AnyRequest) -> Template:
        session, actor = await console.signed_in(request)
        pager, query = Pager.of(request), _query(request)
        page = await console.uc.infra_ssh.list_leases(operator(actor), pager.request, query)
        return render(
            request,
            "infra_leases.html",
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            states=[s.value for s in LeaseState],
            chosen_state=query.state.value if query.state else "",
            who="mine" if query.mine else "all",
        )

    async def _new(request: AnyRequest, status: int = 200, error: str | None = None, **typed: object) -> Template:
        session, actor = await console.signed_in(request)
        ops = operator(actor)
        chosen = {"host_ids": [request.query_params.get("host_id", "")[:64]], "actions": [], "duration": "900"}
        return render(
            request,
            "infra_lease_new.html",
            status=status,
            error=error,
            form={"max_uses": "1", "reason": "", "forwards": "", **chosen, **typed},
            session=session,
            actor=actor,
            hosts=await hosts_offered(console.uc, ops),
            actions=list((await actions_by_id(console.uc, ops)).values()),
        )

    @get("/infra/leases/new")
    async def new_lease_page(request: AnyRequest) -> Template:
        return await _new(request)

    @post("/infra/leases")
    async def request_lease(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        host_ids = [h[:64] for h in form.getall("host_ids", []) if isinstance(h, str)][:20]
        actions = [a[:64] for a in form.getall("actions", []) if isinstance(a, str)][:50]
        typed = {k: field(form, k) for k in ("duration", "max_uses", "reason", "forwards")}
        body = {
            "host_ids": host_ids,
            "actions": actions,
            "reason": typed["reason"],
            "duration_seconds": _number(typed["duration"]),
            "max_uses": _number(typed["max_uses"]),
            "forwards": [f.strip() for f in typed["forwards"].split(",") if f.strip()],
        }
        try:
            cmd = msgspec.convert(body, NewLeaseBody)  # checked as the REST body is
            lease = await console.uc.infra_ssh.request_lease(operator(actor), cmd, Via.CONSOLE)
        except msgspec.ValidationError as exc:
            message = f"this lease cannot be asked for: {exc}"
            return await _new(request, 400, message, host_ids=host_ids, actions=actions, **typed)
        except (ValidationFailed, Forbidden, NotFound) as exc:
            if exc.code not in _REFUSED:
                raise
            return await _new(request, exc.status, exc.message, host_ids=host_ids, actions=actions, **typed)
        return back_to(href(f"/infra/leases/{lease.id}"))

    @get("/infra/leases/{lease_id:str}")
    async def lease_page(request: AnyRequest, lease_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        ops = operator(actor)
        lease = await console.uc.infra_ssh.get_lease(ops, lease_id)
        return render(
            request,
            "infra_lease.html",
            session=session,
            actor=actor,
            lease=lease,
            approved_by=[a.user_id for a in lease.approvals],
            host_names={h.id: h.name for h in await hosts_offered(console.uc, ops)},
            remaining=_remaining(lease),
        )

    return [leases_page, new_lease_page, request_lease, lease_page]


def _remaining(lease: LeaseView) -> int | None:
    """Seconds an active lease has left (the page's clock counts them down), else None."""
    if lease.state is not LeaseState.ACTIVE or lease.ends_at is None or lease.starts_at is None:
        return None
    return max(0, int((lease.ends_at - datetime.now(UTC)).total_seconds()))


Decision = Callable[[Principal, str, Via], Awaitable[LeaseView]]


def _decision_routes(console: Console) -> list[HTTPRouteHandler]:
    def decide(path: str, use: Decision) -> HTTPRouteHandler:
        @post(f"/infra/leases/{{lease_id:str}}/{path}", name=f"infra-lease-{path}")
        async def decided(request: AnyRequest, lease_id: FromPath[str]) -> Redirect:
            _, actor = await console.signed_in(request)
            await use(operator(actor), lease_id, Via.CONSOLE)
            return back_to(href(f"/infra/leases/{lease_id}"))

        return decided

    ssh = console.uc.infra_ssh
    return [decide("approve", ssh.approve_lease), decide("deny", ssh.deny_lease), decide("revoke", ssh.revoke_lease)]
