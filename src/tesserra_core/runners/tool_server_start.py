"""Starting one installation's tool server (for ``ToolServers``): the workload its catalog entry,
settings, secrets and linked account make, then an MCP session over its stdio and the tools it lists.

Secrets reach the server in its environment, or on its stdin as one JSON line when its package plan
says so (kept out of the runtime's metadata). Whatever fails once the workload runs removes it."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tesserra_core.domain.tools import Installation, ToolInfo, secret_context
from tesserra_core.errors import Conflict, NotFound, Unavailable, Unprocessable
from tesserra_core.ports.runtime import Mount, WorkloadSpec
from tesserra_core.ports.secrets_at_rest import SecretBox
from tesserra_core.ports.tools import WORKSPACE_MOUNT, ToolSession

if TYPE_CHECKING:
    from tesserra_core.runners.tool_servers import ToolServers


class NeedsAuth(Exception):
    """The entry needs an OAuth account the user has not linked."""


@dataclass(slots=True)
class LiveServer:
    workload_id: str
    session: ToolSession
    tools: list[ToolInfo]
    installation: Installation | None = None
    """The installation as recorded ready with this session: calls authorize against it without a
    database read (it is dropped with the session: on delete, PATCH, crash or reconcile)."""


async def start_server(servers: ToolServers, installation: Installation) -> LiveServer:
    """Start the installation's server with the ports and limits of ``servers``; it is not recorded there."""
    async with servers.uow(read_only=True) as uow:
        entry = await uow.catalog.get(installation.entry_id)
    if entry is None:
        raise Unprocessable(f"the catalog no longer lists {installation.entry_id}", code="tool_not_in_catalog")
    package = entry.package
    if package is None:
        raise Unprocessable(f"{entry.name} has no stdio package this platform runs", code="not_installable")
    secrets = _secrets(servers.secret_box, installation)
    if entry.oauth_provider is not None:
        token = await servers.linked.access_token(installation.tenant_id, installation.user_id, entry.oauth_provider)
        if token is None:
            raise NeedsAuth
        secrets["OAUTH_ACCESS_TOKEN"] = token
    plan = await servers.resolver.plan(package, servers.runtime.name)
    env = {**plan.env, **installation.config}
    if plan.secrets_on_stdin:  # kept out of the runtime's metadata (docker inspect)
        env = {k: v for k, v in env.items() if k not in secrets}
    else:
        env.update(secrets)
    spec = WorkloadSpec(
        owner=installation.owner,
        tenant_id=installation.tenant_id,
        command=plan.command,
        image=plan.image,
        env=env,
        workdir=WORKSPACE_MOUNT if plan.in_workspace else None,
        mounts=(Mount(source=servers.workspaces.path(installation.id), target=WORKSPACE_MOUNT),),
        stdio=True,
        network=entry.network,
        memory_bytes=servers.limits.memory_bytes,
        cpus=servers.limits.cpus,
    )
    workload = await servers.runtime.run(spec)
    try:
        if not await servers.wanted(installation.id):
            raise NotFound("no such installation", code="installation_not_found")
        try:
            channel = await servers.runtime.attach(workload.id)
            if plan.secrets_on_stdin:
                await channel.send(json.dumps(secrets).encode())
        except (Conflict, BrokenPipeError):
            raise Unavailable("the tool server exited as it started", code="tool_server_unavailable") from None
        session = await servers.connector.connect(channel, seconds=servers.limits.start_timeout)
        try:
            tools = await asyncio.wait_for(session.list_tools(), servers.limits.start_timeout)
        except BaseException:
            await session.aclose()
            raise
    except BaseException:
        await asyncio.shield(servers.runtime.remove(workload.id))
        raise
    return LiveServer(workload.id, session, tools)


def _secrets(box: SecretBox, installation: Installation) -> dict[str, str]:
    if installation.sealed_secrets is None:
        return {}
    opened = box.open(installation.sealed_secrets, context=secret_context(installation))
    return {str(k): str(v) for k, v in json.loads(opened).items()}
