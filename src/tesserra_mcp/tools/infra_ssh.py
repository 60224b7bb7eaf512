"""Infra SSH tools (admin tier): the inventory, the named actions, runs and the audit. Each calls the use case
of its REST twin under /api/infra/ssh, and needs the connection's API key to be admin tier and to carry
X-User-Id (the person it acts for). Every run is audited as made over MCP."""

from typing import Annotated

from pydantic import Field

from tesserra_core.domain.identity import Principal, Tier
from tesserra_core.domain.infra_ssh import Outcome
from tesserra_core.domain.infra_ssh_audit import AuditEvent, AuditRecord, Via
from tesserra_core.domain.inputs import convert
from tesserra_core.domain.paging import DEFAULT_LIMIT, Page, PageRequest
from tesserra_core.facade import UseCases
from tesserra_core.usecases import infra_ssh as ssh
from tesserra_core.usecases.infra_ssh_audit import AuditQuery, QueryAudit
from tesserra_core.usecases.infra_ssh_forward_views import ForwardView, NewForward
from tesserra_core.usecases.infra_ssh_forwards import CloseForward, ListForwards, OpenForward
from tesserra_core.usecases.infra_ssh_lease_views import LeaseView, NewLease
from tesserra_core.usecases.infra_ssh_leases import GetLease, RequestLease, RevokeLease
from tesserra_core.usecases.infra_ssh_runs import CancelRun, GetRun, RunAction
from tesserra_core.usecases.infra_ssh_views import ActionView, CheckAction, CheckView, HostView, NewRun, RunView
from tesserra_mcp.registry import Limite, Offset, ToolSet

tools = ToolSet()

HostId = Annotated[str, Field(description="The host's id (from infra_ssh_list_hosts).")]
ActionId = Annotated[str, Field(description="The action's id (from infra_ssh_list_actions).")]
RunId = Annotated[str, Field(description="The run's id.")]
Parameters = Annotated[
    dict[str, str | int] | None, Field(description="The action's parameters by name (enum, integer or pattern).")
]


@tools.tool(ssh.ListHosts, tier=Tier.ADMIN)
async def infra_ssh_list_hosts(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[HostView]:
    return await uc.infra_ssh.list_hosts(actor, PageRequest(limite, offset))


@tools.tool(ssh.ListActions, tier=Tier.ADMIN)
async def infra_ssh_list_actions(*, uc: UseCases, actor: Principal) -> dict[str, list[ActionView]]:
    """Answers {"actions": [...]}."""
    return {"actions": await uc.infra_ssh.list_actions(actor)}


@tools.tool(ssh.CheckActionRun, tier=Tier.ADMIN)
async def infra_ssh_check_action(
    action_id: ActionId, host_id: HostId, parameters: Parameters = None, *, uc: UseCases, actor: Principal
) -> CheckView:
    cmd = convert(CheckAction, {"host_id": host_id, "parameters": parameters or {}})
    return await uc.infra_ssh.check_action(actor, action_id, cmd)


@tools.tool(RunAction, tier=Tier.ADMIN)
async def infra_ssh_run_action(
    action_id: ActionId,
    host_id: HostId,
    parameters: Parameters = None,
    wait_seconds: Annotated[int, Field(description="How long to wait for the result, 0-20 s.")] = 20,
    lease_id: Annotated[
        str | None, Field(description="The approval lease to use (default: your oldest active one that fits).")
    ] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> RunView:
    """A run still going answers with state running: poll it with infra_ssh_get_run."""
    fields = {"host_id": host_id, "action": action_id, "parameters": parameters or {}, "wait_seconds": wait_seconds}
    if lease_id is not None:
        fields["lease_id"] = lease_id
    return await uc.infra_ssh.run_action(actor, convert(NewRun, fields), Via.MCP)


@tools.tool(GetRun, tier=Tier.ADMIN)
async def infra_ssh_get_run(run_id: RunId, *, uc: UseCases, actor: Principal) -> RunView:
    return await uc.infra_ssh.get_run(actor, run_id)


@tools.tool(CancelRun, tier=Tier.ADMIN)
async def infra_ssh_cancel_run(run_id: RunId, *, uc: UseCases, actor: Principal) -> RunView:
    return await uc.infra_ssh.cancel_run(actor, run_id)


@tools.tool(QueryAudit, tier=Tier.ADMIN)
async def infra_ssh_query_audit(
    host_id: str | None = None,
    action: str | None = None,
    outcome: Outcome | None = None,
    user_id: str | None = None,
    event: AuditEvent | None = None,
    run_id: str | None = None,
    lease_id: str | None = None,
    limite: Limite = DEFAULT_LIMIT,
    offset: Offset = 0,
    *,
    uc: UseCases,
    actor: Principal,
) -> Page[AuditRecord]:
    query = AuditQuery(
        host_id=host_id, action=action, outcome=outcome, user_id=user_id, event=event, run_id=run_id, lease_id=lease_id
    )
    return await uc.infra_ssh.query_audit(actor, query, PageRequest(limite, offset))


LeaseId = Annotated[str, Field(description="The lease's id (from infra_ssh_request_lease).")]


@tools.tool(GetLease, tier=Tier.ADMIN)
async def infra_ssh_get_lease(lease_id: LeaseId, *, uc: UseCases, actor: Principal) -> LeaseView:
    return await uc.infra_ssh.get_lease(actor, lease_id)


@tools.tool(RequestLease, tier=Tier.ADMIN)
async def infra_ssh_request_lease(
    host_ids: Annotated[list[str], Field(description="Ids of the hosts the lease covers.")],
    actions: Annotated[list[str], Field(description="Ids of the actions the lease covers.")],
    reason: Annotated[str, Field(description="Why: shown to the approvers and kept in the audit.")],
    duration_seconds: Annotated[int, Field(description="How long the lease lasts once approved.")] = 900,
    max_uses: Annotated[int, Field(description="How many runs it covers.")] = 1,
    forwards: Annotated[list[str] | None, Field(description="host:port destinations to forward to.")] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> LeaseView:
    """Approval happens over REST only (POST /api/infra/ssh/admin-session/{id}/approve), by other people."""
    fields = {
        "host_ids": host_ids,
        "actions": actions,
        "reason": reason,
        "duration_seconds": duration_seconds,
        "max_uses": max_uses,
        "forwards": forwards or [],
    }
    return await uc.infra_ssh.request_lease(actor, convert(NewLease, fields), Via.MCP)


@tools.tool(RevokeLease, tier=Tier.ADMIN)
async def infra_ssh_revoke_lease(lease_id: LeaseId, *, uc: UseCases, actor: Principal) -> LeaseView:
    return await uc.infra_ssh.revoke_lease(actor, lease_id, Via.MCP)


ForwardId = Annotated[str, Field(description="The forward's id (from infra_ssh_open_forward).")]


@tools.tool(OpenForward, tier=Tier.ADMIN)
async def infra_ssh_open_forward(
    host_id: HostId,
    destination: Annotated[str, Field(description="host:port as the host sees it (one the host and lease allow).")],
    lease_id: Annotated[
        str | None, Field(description="The approval lease to use (default: your oldest active one that fits).")
    ] = None,
    *,
    uc: UseCases,
    actor: Principal,
) -> ForwardView:
    """Connect to local_address:local_port on the Tesserra server to reach the destination."""
    fields = {"host_id": host_id, "destination": destination}
    if lease_id is not None:
        fields["lease_id"] = lease_id
    return await uc.infra_ssh.open_forward(actor, convert(NewForward, fields), Via.MCP)


@tools.tool(ListForwards, tier=Tier.ADMIN)
async def infra_ssh_list_forwards(
    limite: Limite = DEFAULT_LIMIT, offset: Offset = 0, *, uc: UseCases, actor: Principal
) -> Page[ForwardView]:
    return await uc.infra_ssh.list_forwards(actor, PageRequest(limite, offset))


@tools.tool(CloseForward, tier=Tier.ADMIN)
async def infra_ssh_close_forward(forward_id: ForwardId, *, uc: UseCases, actor: Principal) -> ForwardView:
    return await uc.infra_ssh.close_forward(actor, forward_id)
