"""/api/infra/ssh: the audited host inventory, named actions, runs and the audit chain. Every route needs an
admin-tier API key and X-User-Id (400 without it, 403 for any other credential)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, Router, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditRecord, Verification
from tesserra_core.domain.infra_ssh_leases import LeaseState
from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases import infra_ssh as ssh
from tesserra_core.usecases.infra_ssh_audit import AuditQuery, QueryAudit, VerifyAudit
from tesserra_core.usecases.infra_ssh_certificates import GetHostKrl, GetUserCa, UserCaView
from tesserra_core.usecases.infra_ssh_forward_views import ForwardView, NewForward
from tesserra_core.usecases.infra_ssh_forwards import CloseForward, GetForward, ListForwards, OpenForward
from tesserra_core.usecases.infra_ssh_lease_views import LeaseQuery, LeaseView, NewLease
from tesserra_core.usecases.infra_ssh_leases import DecideLease, GetLease, ListLeases, RequestLease, RevokeLease
from tesserra_core.usecases.infra_ssh_runs import CancelRun, GetRun, RunAction
from tesserra_core.usecases.infra_ssh_views import (
    ActionView,
    CheckAction,
    CheckView,
    HostChanges,
    HostView,
    NewHost,
    NewHostKey,
    NewRun,
    RunState,
    RunView,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

Id = Annotated[str | None, QueryParameter(max_length=64)]


def ssh_route(uses: type, *errors: int, **more: Any) -> dict[str, Any]:
    """``declare`` for an Infra SSH route: it acts for X-User-Id with an admin-tier key (400 without it, 403
    for any other credential), calls ``uses``, and may also answer ``errors``."""
    return declare(acting_user=True, uses=uses, errors=(400, 403, *errors), **more)


async def provide_audit_query(
    host_id: Id = None,
    action: Id = None,
    outcome: Annotated[Outcome | None, QueryParameter()] = None,
    user_id: Annotated[str | None, QueryParameter(max_length=128)] = None,
    event: Annotated[AuditEvent | None, QueryParameter()] = None,
    run_id: Id = None,
    lease_id: Id = None,
) -> AuditQuery:
    """The audit's filters, from the query string."""
    return AuditQuery(
        host_id=host_id, action=action, outcome=outcome, user_id=user_id, event=event, run_id=run_id, lease_id=lease_id
    )


def ssh_router(handlers: list[Any]) -> Router:
    return Router("/api/infra/ssh", tags=["Infra SSH"], route_handlers=handlers)


def inventory_routes(uc: UseCases) -> Router:
    """The hosts and the named actions."""

    @get("/hosts", **ssh_route(ssh.ListHosts))
    async def list_hosts(request: Caller, page: Paging) -> Page[HostView]:
        return await uc.infra_ssh.list_hosts(request.user, page)

    @post(
        "/hosts",
        status_code=201,
        **ssh_route(ssh.AddHost, 409, idempotent=True),
    )
    async def add_host(data: JSONBody[NewHost], request: Caller) -> HostView:
        return await uc.infra_ssh.add_host(request.user, data)

    @get("/hosts/{host_id:str}", **ssh_route(ssh.GetHost, 404))
    async def get_host(host_id: FromPath[str], request: Caller) -> HostView:
        return await uc.infra_ssh.get_host(request.user, host_id)

    @patch("/hosts/{host_id:str}", **ssh_route(ssh.ChangeHost, 404, 409))
    async def change_host(host_id: FromPath[str], data: JSONBody[HostChanges], request: Caller) -> HostView:
        return await uc.infra_ssh.change_host(request.user, host_id, data)

    @post(
        "/hosts/{host_id:str}/host-key",
        status_code=200,
        **ssh_route(ssh.RepinHostKey, 404),
    )
    async def repin_host_key(host_id: FromPath[str], data: JSONBody[NewHostKey], request: Caller) -> HostView:
        return await uc.infra_ssh.repin_host_key(request.user, host_id, data)

    @delete(
        "/hosts/{host_id:str}",
        status_code=200,
        **ssh_route(ssh.RemoveHost, 404),
    )
    async def remove_host(host_id: FromPath[str], request: Caller) -> HostView:
        return await uc.infra_ssh.remove_host(request.user, host_id)

    @get("/actions", **ssh_route(ssh.ListActions))
    async def list_actions(request: Caller) -> list[ActionView]:
        return await uc.infra_ssh.list_actions(request.user)

    @post(
        "/actions/{action_id:str}/check",
        status_code=200,
        **ssh_route(ssh.CheckActionRun, 404),
    )
    async def check_action(action_id: FromPath[str], data: JSONBody[CheckAction], request: Caller) -> CheckView:
        return await uc.infra_ssh.check_action(request.user, action_id, data)

    handlers = [list_hosts, add_host, get_host, change_host, repin_host_key, remove_host, list_actions, check_action]
    return ssh_router(handlers)


def run_routes(uc: UseCases) -> Router:
    """Runs and the audit."""

    @post(
        "/runs",
        **ssh_route(
            RunAction,
            404,
            502,
            idempotent=True,
            description="200 with the result; 202 with the run (state running) when it takes longer than "
            "wait_seconds. A 502 body carries kind and run_id.",
        ),
    )
    async def run_action(data: JSONBody[NewRun], request: Caller) -> Response[RunView]:
        run = await uc.infra_ssh.run_action(request.user, data)
        return Response(run, status_code=202 if run.state is RunState.RUNNING else 200)

    @get("/runs/{run_id:str}", **ssh_route(GetRun, 404))
    async def get_run(run_id: FromPath[str], request: Caller) -> RunView:
        return await uc.infra_ssh.get_run(request.user, run_id)

    @post(
        "/runs/{run_id:str}/cancel",
        status_code=200,
        **ssh_route(CancelRun, 404),
    )
    async def cancel_run(run_id: FromPath[str], request: Caller) -> RunView:
        return await uc.infra_ssh.cancel_run(request.user, run_id)

    @get("/audit", dependencies={"audit_filter": Provide(provide_audit_query)}, **ssh_route(QueryAudit))
    async def query_audit(
        request: Caller, page: Paging, audit_filter: NamedDependency[AuditQuery]
    ) -> Page[AuditRecord]:
        return await uc.infra_ssh.query_audit(request.user, audit_filter, page)

    @get("/audit/verify", **ssh_route(VerifyAudit))
    async def verify_audit(request: Caller) -> Verification:
        return await uc.infra_ssh.verify_audit(request.user)

    handlers = [run_action, get_run, cancel_run, query_audit, verify_audit]
    return ssh_router(handlers)


def lease_routes(uc: UseCases) -> Router:
    """Approval leases (admin-session): request, inspect, approve or deny (REST or the console), revoke."""

    @get("/admin-session", **ssh_route(ListLeases))
    async def list_leases(
        request: Caller,
        page: Paging,
        lease_state: Annotated[LeaseState | None, QueryParameter(name="state", description="as of now")] = None,
        mine: Annotated[bool, QueryParameter(description="only the leases of X-User-Id")] = False,
    ) -> Page[LeaseView]:
        return await uc.infra_ssh.list_leases(request.user, page, LeaseQuery(mine=mine, state=lease_state))

    @get("/admin-session/{lease_id:str}", **ssh_route(GetLease, 404))
    async def get_lease(lease_id: FromPath[str], request: Caller) -> LeaseView:
        return await uc.infra_ssh.get_lease(request.user, lease_id)

    @post(
        "/admin-session",
        status_code=201,
        **ssh_route(RequestLease, 404, idempotent=True),
    )
    async def request_lease(data: JSONBody[NewLease], request: Caller) -> LeaseView:
        return await uc.infra_ssh.request_lease(request.user, data)

    @post(
        "/admin-session/{lease_id:str}/approve",
        status_code=200,
        **ssh_route(DecideLease, 404, 409),
    )
    async def approve_lease(lease_id: FromPath[str], request: Caller) -> LeaseView:
        return await uc.infra_ssh.approve_lease(request.user, lease_id)

    @post(
        "/admin-session/{lease_id:str}/deny",
        status_code=200,
        **ssh_route(DecideLease, 404, 409),
    )
    async def deny_lease(lease_id: FromPath[str], request: Caller) -> LeaseView:
        return await uc.infra_ssh.deny_lease(request.user, lease_id)

    @delete(
        "/admin-session/{lease_id:str}",
        status_code=200,
        **ssh_route(RevokeLease, 404, 409),
    )
    async def revoke_lease(lease_id: FromPath[str], request: Caller) -> LeaseView:
        return await uc.infra_ssh.revoke_lease(request.user, lease_id)

    @get("/user-ca", **ssh_route(GetUserCa))
    async def get_user_ca(request: Caller) -> UserCaView:
        return await uc.infra_ssh.get_user_ca(request.user)

    @get(
        "/hosts/{host_id:str}/krl",
        media_type="application/octet-stream",
        **ssh_route(
            GetHostKrl,
            404,
            description="The body is the binary KRL (`ssh-keygen -k`); write it to the host's `RevokedKeys` file.",
        ),
    )
    async def get_host_krl(host_id: FromPath[str], request: Caller) -> Response[bytes]:
        krl = await uc.infra_ssh.get_host_krl(request.user, host_id)
        return Response(krl, media_type="application/octet-stream", headers={"Cache-Control": "no-store"})

    handlers = [
        list_leases,
        get_lease,
        request_lease,
        approve_lease,
        deny_lease,
        revoke_lease,
        get_user_ca,
        get_host_krl,
    ]
    return ssh_router(handlers)


def forward_routes(uc: UseCases) -> Router:
    """Local forwards through a host, bound to an approval lease."""

    @post(
        "/forwards",
        status_code=201,
        **ssh_route(
            OpenForward,
            404,
            502,
            idempotent=True,
            description="A 502 body carries kind (forward_refused when the host will not open the channel).",
        ),
    )
    async def open_forward(data: JSONBody[NewForward], request: Caller) -> ForwardView:
        return await uc.infra_ssh.open_forward(request.user, data)

    @get("/forwards", **ssh_route(ListForwards))
    async def list_forwards(request: Caller, page: Paging) -> Page[ForwardView]:
        return await uc.infra_ssh.list_forwards(request.user, page)

    @get("/forwards/{forward_id:str}", **ssh_route(GetForward, 404))
    async def get_forward(forward_id: FromPath[str], request: Caller) -> ForwardView:
        return await uc.infra_ssh.get_forward(request.user, forward_id)

    @delete(
        "/forwards/{forward_id:str}",
        status_code=200,
        **ssh_route(CloseForward, 404),
    )
    async def close_forward(forward_id: FromPath[str], request: Caller) -> ForwardView:
        return await uc.infra_ssh.close_forward(request.user, forward_id)

    handlers = [open_forward, list_forwards, get_forward, close_forward]
    return ssh_router(handlers)
