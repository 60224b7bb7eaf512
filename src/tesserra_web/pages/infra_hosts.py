"""Infra SSH hosts and runs (uc.infra_ssh, as /api/infra/ssh/hosts and /runs): one host with its named
actions and a form to run each, the runs (from the audit, with exit status and output sizes) and one run
with the head of its output. The inventory's list and its changes are infra_inventory's."""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Template

from tesserra_core.domain.infra_ssh_audit import AuditEvent, Via
from tesserra_core.errors import Forbidden, RemoteFailed, ValidationFailed
from tesserra_core.usecases.infra_ssh_audit import AuditQuery
from tesserra_core.usecases.infra_ssh_views import NewRun, RunState
from tesserra_web.listing import Listing
from tesserra_web.pages.infra_operator import AnyRequest, actions_by_id, field, operator, parameters
from tesserra_web.web import Console, back_to, href, render

RUN_WAIT_SECONDS = 10
"""How long a run form waits for the result before showing the run as running."""
SHOWN_OUTPUT = 16_384
"""Characters of a run's output a page shows (the action's output cap bounds what is kept)."""
_REFUSED_RUN = frozenset({"validation_failed", "denied", "approval_required"})


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_host_routes(console), *_run_routes(console)]


def _host_routes(console: Console) -> list[HTTPRouteHandler]:
    @get("/infra/hosts/{host_id:str}")
    async def host_page(request: AnyRequest, host_id: FromPath[str]) -> Template:
        return await host_detail(console, request, host_id)

    return [host_page]


async def host_detail(
    console: Console,
    request: AnyRequest,
    host_id: str,
    status: int = 200,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> Template:
    session, actor = await console.signed_in(request)
    ops = operator(actor)
    host = await console.uc.infra_ssh.get_host(ops, host_id)
    catalog = await actions_by_id(console.uc, ops)
    actions = [catalog[a] for a in host.actions if a in catalog]
    return render(
        request,
        "infra_host.html",
        status=status,
        error=error,
        typed=typed or {},
        session=session,
        actor=actor,
        host=host,
        actions=actions,
    )


def _run_routes(console: Console) -> list[HTTPRouteHandler]:
    @post("/infra/runs")
    async def run_action(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        ops = operator(actor)
        form = await request.form()
        host_id, action_id = field(form, "host_id"), field(form, "action")
        typed = {k: field(form, k) for k in form if k.startswith("param-")}
        catalog = await actions_by_id(console.uc, ops)
        fields: dict[str, object] = {
            "host_id": host_id,
            "action": action_id,
            "parameters": parameters(form, catalog.get(action_id)),
            "wait_seconds": RUN_WAIT_SECONDS,
        }
        if field(form, "lease_id"):
            fields["lease_id"] = field(form, "lease_id")
        try:
            cmd = msgspec.convert(fields, NewRun)  # checked as the REST body is
            run = await console.uc.infra_ssh.run_action(ops, cmd, Via.CONSOLE)
        except msgspec.ValidationError as exc:
            return await host_detail(console, request, host_id, 400, f"this run cannot start: {exc}", typed)
        except RemoteFailed as exc:  # it ran and failed: its page shows how (exit status, output)
            if exc.run_id is None:
                raise
            return back_to(href(f"/infra/runs/{exc.run_id}"))
        except (ValidationFailed, Forbidden) as exc:
            if exc.code not in _REFUSED_RUN:  # not an input the form can fix: the error page says so
                raise
            return await host_detail(console, request, host_id, exc.status, exc.message, typed)
        return back_to(href(f"/infra/runs/{run.id}"))

    @get("/infra/runs")
    async def runs_page(request: AnyRequest) -> Template:
        query = AuditQuery(event=AuditEvent.RUN)
        listing = await Listing.of(
            console, request, lambda actor, asked: console.uc.infra_ssh.query_audit(operator(actor), query, asked)
        )
        return listing.render(request, "infra_runs.html")

    @get("/infra/runs/{run_id:str}")
    async def run_page(request: AnyRequest, run_id: FromPath[str]) -> Template:
        session, actor = await console.signed_in(request)
        run = await console.uc.infra_ssh.get_run(operator(actor), run_id)
        return render(
            request,
            "infra_run.html",
            session=session,
            actor=actor,
            run=run,
            running=run.state is RunState.RUNNING,
            shown=SHOWN_OUTPUT,
        )

    @post("/infra/runs/{run_id:str}/cancel")
    async def cancel_run(request: AnyRequest, run_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.infra_ssh.cancel_run(operator(actor), run_id)
        return back_to(href(f"/infra/runs/{run_id}"))

    return [run_action, runs_page, run_page, cancel_run]
