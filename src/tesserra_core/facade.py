"""The facade: the use cases by area (the drivers' areas), the guards every route passes, and the
runners, built once from the ports. Drivers hold only this, call ``uc.<area>.<use case>``, and enter
``running`` once for the background work they need."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from tesserra_core.domain.agents import agent_catalog
from tesserra_core.domain.identity import Principal
from tesserra_core.ports import Ports
from tesserra_core.runners.billing_retries import RetryEvents
from tesserra_core.runners.housekeeping import Housekeeping
from tesserra_core.runners.leased import LeaseTerms
from tesserra_core.runners.nodes import NodeHeartbeat, NodeReaper
from tesserra_core.runners.provisioner import Provisioner
from tesserra_core.runners.revocation_watcher import RevocationWatcher
from tesserra_core.runners.sandbox_reaper import SandboxReaper
from tesserra_core.runners.tool_servers import SharedToolAccounts, ToolLimits, ToolServers
from tesserra_core.runners.workload_watch import WorkloadWatch
from tesserra_core.usecases.agent_loop import AgentLoop
from tesserra_core.usecases.agent_tools import InstallationTools, builtin_tools
from tesserra_core.usecases.agents import AgentDirectory, Agents, agents
from tesserra_core.usecases.api_keys import ApiKeys, api_keys
from tesserra_core.usecases.billing_events import BillingEvents, billing_events
from tesserra_core.usecases.billing_plans import Plans, plans
from tesserra_core.usecases.caching import CacheSet, Evicts, LateEvicts, TaggedCache
from tesserra_core.usecases.chat_approvals import APPROVAL_TIMEOUT
from tesserra_core.usecases.console_sessions import ANONYMOUS_IDLE, CONSOLE_IDLE, ConsoleSessions, console_sessions
from tesserra_core.usecases.containers import Containers, containers
from tesserra_core.usecases.conversations_answers import Conversations, conversations
from tesserra_core.usecases.credentials import Authenticate, KeyUsage, Revoker
from tesserra_core.usecases.domains import DomainHealthSource, Domains, domains
from tesserra_core.usecases.files import Files, files
from tesserra_core.usecases.finance import Finance, finance
from tesserra_core.usecases.guards import Idempotency, Throttle
from tesserra_core.usecases.health import HealthChecks, health
from tesserra_core.usecases.infra_ssh import InfraSsh, infra_ssh
from tesserra_core.usecases.installations import Installations, Listed, installations
from tesserra_core.usecases.integrations import Integrations, integrations
from tesserra_core.usecases.mail import Mail, mail
from tesserra_core.usecases.marketplace import Hits, Marketplace, marketplace
from tesserra_core.usecases.members import Members, members
from tesserra_core.usecases.operators import Operators, operators
from tesserra_core.usecases.projects import Projects, projects
from tesserra_core.usecases.reconcile import ReconcileWorkloads
from tesserra_core.usecases.resources import Resources, resources
from tesserra_core.usecases.runtime_proxy import Runtime, runtime
from tesserra_core.usecases.sandbox_lifecycle import SandboxLifecycle
from tesserra_core.usecases.sandbox_pool import SandboxPool
from tesserra_core.usecases.sandboxes import Sandboxes, sandboxes
from tesserra_core.usecases.sessions import AuthPolicy, Sessions, sessions
from tesserra_core.usecases.shared_tools import SharedTools, shared_tools
from tesserra_core.usecases.status import Service, service
from tesserra_core.usecases.subscriptions import Subscriptions, subscriptions
from tesserra_core.usecases.tenants import Tenants, tenants
from tesserra_core.usecases.traced import traced_area
from tesserra_core.usecases.views import MeView
from tesserra_core.usecases.zones import Zones, zones

VERSION = "0.1.0"

NODE_DEAD_AFTER = 10.0
"""Seconds without a heartbeat after which a node is taken for dead (its workloads reaped), unless the
operator sets another (``TESSERRA_NODE_TIMEOUT``)."""

REVOCATION_RETENTION = timedelta(hours=1)
"""Longer than any cached credential or view lives (an access token: 15 minutes), so purging older
revocations can never let a worker miss one that still matters."""


@dataclass(frozen=True, slots=True)
class UseCases:
    """One attribute per area, each a frozen set of that area's use cases; then what every route passes
    through (authentication, the rate limits, idempotency) and the runners. Built by ``use_cases``."""

    ports: Ports

    service: Service
    sessions: Sessions
    console_sessions: ConsoleSessions
    api_keys: ApiKeys
    tenants: Tenants
    members: Members
    operators: Operators
    projects: Projects
    resources: Resources
    health: HealthChecks
    domains: Domains
    zones: Zones
    mail: Mail
    files: Files
    marketplace: Marketplace
    installations: Installations
    containers: Containers
    sandboxes: Sandboxes
    runtime: Runtime
    shared_tools: SharedTools
    integrations: Integrations
    plans: Plans
    subscriptions: Subscriptions
    billing_events: BillingEvents
    finance: Finance
    infra_ssh: InfraSsh
    agents: Agents
    conversations: Conversations

    authenticate: Authenticate
    throttle: Throttle
    idempotency: Idempotency

    housekeeping: Housekeeping
    revocations: RevocationWatcher
    provisioner: Provisioner
    sandbox_reaper: SandboxReaper
    sandbox_pool: SandboxPool
    tool_servers: ToolServers
    retry_billing_events: RetryEvents
    reconcile_workloads: ReconcileWorkloads
    heartbeat: NodeHeartbeat
    workload_watch: WorkloadWatch

    @contextlib.asynccontextmanager
    async def running(self, *, guest: bool = False) -> AsyncIterator[None]:
        """The background runners for the life of the block, started in order and stopped in reverse:
        the revocation watcher, the node's heartbeat, the workload watch, housekeeping, billing retries,
        the provisioner, the sandbox reaper and reconciler, the warm pool, the tool servers.

        Once across the cluster, each under its lease: housekeeping, billing retries, the
        provisioner's reconciling, the sandbox reaper and reconciler (which also reaps dead nodes'
        workloads). In every process, on its own work: the revocation watcher (its caches, its key
        usage, its in-process rate counters), the heartbeat, the workload watch (its node's workloads'
        own changes reach the shared state), the provisioner's work for the requests
        it took, the warm pool (its workloads), the tool servers (the sessions it holds).

        Every driver enters this once. A server runs them all; a ``guest`` (the MCP stdio command,
        which shares the store with a running server) only watches revocations and closes the tool
        servers it started: reconciling workloads and retrying billing events are the server's."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.runtime.activity.aclose)
            stack.push_async_callback(self.runtime.watch.aclose)
            stack.push_async_callback(self.infra_ssh.run_action.board.aclose)
            stack.push_async_callback(self.infra_ssh.open_forward.board.aclose)
            await stack.enter_async_context(self.revocations.watching())
            if not guest:
                await self.conversations.repair()
                stack.push_async_callback(self.conversations.board.aclose)
                await stack.enter_async_context(self.heartbeat.running())
                await stack.enter_async_context(self.workload_watch.running())
                await stack.enter_async_context(self.housekeeping.running())
                await stack.enter_async_context(self.retry_billing_events.running())
                await stack.enter_async_context(self.provisioner.running())
                await stack.enter_async_context(self.sandbox_reaper.running())
                await stack.enter_async_context(self.sandbox_pool.running())
            await stack.enter_async_context(self.tool_servers.running(reconcile=not guest))
            yield


def use_cases(
    p: Ports,
    *,
    policy: AuthPolicy | None = None,
    rate_scale: float = 1.0,
    tool_limits: ToolLimits | None = None,
    sandbox_pool_size: int = 0,
    holder: str = "local",
    approval_timeout: float = APPROVAL_TIMEOUT,
    node_dead_after: float = NODE_DEAD_AFTER,
) -> UseCases:
    """The facade over these ports: the areas, built once, sharing the caches that revocations clear.
    ``holder`` names this process among those sharing the ports' runner leases (``node@host/pid``);
    ``node_dead_after``: seconds without a heartbeat after which another node is taken for dead."""
    policy = policy or AuthPolicy()
    if policy.access_ttl * 2 > REVOCATION_RETENTION:
        raise ValueError("access tokens must live well under the revocation retention")
    credentials: TaggedCache[Principal] = TaggedCache()
    profiles: TaggedCache[MeView] = TaggedCache()
    entitlement_cache = (p.entitlements,) if isinstance(p.entitlements, Evicts) else ()
    searches: TaggedCache[Hits] = TaggedCache(max_entries=1_000)
    installation_lists: TaggedCache[Listed] = TaggedCache(max_entries=10_000)
    served = LateEvicts()  # the installations this process serves, checked without a database read
    caches = CacheSet((credentials, profiles, searches, installation_lists, *entitlement_cache, served))
    usage = KeyUsage()
    revoker = Revoker(caches, p.clock)
    throttle = Throttle(p.rate_limiter, scale=rate_scale, telemetry=p.telemetry)
    idle_for = max(policy.lockout_for.total_seconds(), *(rule.window for rule in throttle.rules.values()))
    lease = LeaseTerms(p.leases, holder)
    housekeeping = Housekeeping(
        p.uow,
        p.rate_limiter,
        p.idempotency,
        p.clock,
        retention=REVOCATION_RETENTION,
        idle_for=idle_for,
        console_idle=CONSOLE_IDLE,
        anonymous_idle=ANONYMOUS_IDLE,
        files=p.file_storage,
        lease=lease,
    )
    heartbeat = NodeHeartbeat(
        p.nodes, p.clock, p.node_id, holder.rpartition("/")[0].rpartition("@")[2] or holder, lease=lease
    )
    others_alive = _others_alive(p, node_dead_after)
    provisioner = Provisioner(p.uow, p.runtime, p.clock, lease=lease, others_alive=others_alive)
    pool = SandboxPool(p.runtime, sandbox_pool_size, p.ids.new(), p.http_probe)
    lifecycle = SandboxLifecycle(
        p.uow, p.runtime, p.clock, pool, nodes=p.nodes, node_id=p.node_id, node_dead_after=node_dead_after
    )
    shared = shared_tools(p)
    limits = tool_limits or ToolLimits()
    tool_servers = ToolServers(
        p.uow,
        p.runtime,
        p.tool_connector,
        p.package_resolver,
        p.secret_box,
        p.workspaces,
        SharedToolAccounts(shared.access_token),
        p.clock,
        revoker,
        limits,
        telemetry=p.telemetry,
        tracer=p.tracer,
    )
    served.target = tool_servers
    keys = api_keys(p, revoker=revoker)
    project_area = projects(p, provisioner=provisioner)
    domain_area = domains(p)
    catalog = agent_catalog()
    installation_area = installations(
        p,
        servers=tool_servers,
        revoker=revoker,
        lists=installation_lists,
        max_file=limits.upload_max_file,
        max_total=limits.upload_max_total,
    )
    loop = AgentLoop(
        p.models,
        builtin_tools(project_area, domain_area),
        InstallationTools(p.uow, installation_area.call_tool),
        throttle,
    )
    unknown = {tool for agent in catalog.agents for tool in agent.tools} - set(loop.tools)
    if unknown:
        raise ValueError(f"the agent catalog names unknown tools: {', '.join(sorted(unknown))}")
    directory = AgentDirectory(catalog, frozenset(loop.tools))
    billing = billing_events(p, revoker=revoker)
    built = UseCases(
        ports=p,
        service=service(p, version=VERSION, holder=holder),
        sessions=sessions(p, policy=policy, revoker=revoker, profiles=profiles),
        console_sessions=console_sessions(p, revoker=revoker, cache=credentials),
        api_keys=keys,
        tenants=tenants(p, revoker=revoker),
        members=members(p, revoker=revoker),
        operators=operators(p, revoker=revoker, generate=keys.generate),
        projects=project_area,
        resources=resources(p, provisioner=provisioner),
        health=health(p, also=[DomainHealthSource(p.uow, p.resolver, p.clock)]),
        domains=domain_area,
        zones=zones(p),
        mail=mail(p),
        files=files(p),
        marketplace=marketplace(p, revoker=revoker, searches=searches),
        installations=installation_area,
        containers=containers(p, servers=tool_servers),
        sandboxes=sandboxes(p, lifecycle=lifecycle),
        runtime=runtime(p, lifecycle=lifecycle),
        shared_tools=shared,
        integrations=integrations(p),
        plans=plans(p),
        subscriptions=subscriptions(p, revoker=revoker),
        billing_events=billing,
        finance=finance(p),
        infra_ssh=infra_ssh(p),
        agents=agents(p.uow, p.ids, p.clock, directory),
        conversations=conversations(p, directory=directory, loop=loop, approval_timeout=approval_timeout),
        authenticate=Authenticate(p.uow, p.tokens, p.digest, p.clock, credentials, usage),
        throttle=throttle,
        idempotency=Idempotency(p.idempotency),
        housekeeping=housekeeping,
        revocations=RevocationWatcher(p.uow, caches, usage, p.clock, housekeeping.purge_local, push=p.revocation_push),
        provisioner=provisioner,
        sandbox_reaper=SandboxReaper(
            p.uow,
            lifecycle,
            p.clock,
            lease=lease,
            dead_nodes=NodeReaper(
                p.nodes,
                p.runtime,
                p.uow,
                p.clock,
                p.node_id,
                lifecycle,
                tool_servers,
                provisioner,
                foreign=p.foreign_workloads,
                dead_after=node_dead_after,
            ),
        ),
        sandbox_pool=pool,
        tool_servers=tool_servers,
        retry_billing_events=RetryEvents(p.uow, billing.process, p.clock, lease=lease),
        reconcile_workloads=ReconcileWorkloads(p.runtime),
        heartbeat=heartbeat,
        workload_watch=WorkloadWatch(p.nodes, p.runtime, p.uow, lifecycle, p.node_id),
    )
    return _traced(built) if p.tracer.enabled else built


def _traced(built: UseCases) -> UseCases:
    """Every area's use cases (``service`` to ``conversations``) each called inside a span of its own."""
    names = [field.name for field in dataclasses.fields(UseCases)]
    areas = names[names.index("service") : names.index("conversations") + 1]
    tracer = built.ports.tracer
    return dataclasses.replace(built, **{name: traced_area(getattr(built, name), name, tracer) for name in areas})


def _others_alive(p: Ports, dead_after: float) -> Callable[[], Awaitable[bool]]:
    """Whether a node other than this one beat lately (then what looks abandoned may be its work in flight)."""

    async def others_alive() -> bool:
        since = p.clock.now().timestamp() - dead_after
        return any(node.id != p.node_id for node in await p.nodes.alive(since))

    return others_alive
