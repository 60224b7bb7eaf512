"""/api/sandboxes: isolated runtimes of the tenant, their lifecycle actions and their clocks."""

from __future__ import annotations

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody

from tesserra_core.domain.paging import Page
from tesserra_core.domain.sandboxes import SandboxAction
from tesserra_core.facade import UseCases
from tesserra_core.usecases.sandbox_views import NewSandbox, SandboxChanges, SandboxView
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging

ISOLATION_NOTE = (
    "On a process runtime that cannot sandbox workloads (bubblewrap and pasta), creating a sandbox "
    "answers 422 isolation_unavailable naming the fix; sandboxes never run unisolated."
)
STATES_NOTE = (
    "An action the sandbox's state does not allow answers 409 with the code sandbox_<state> "
    "(e.g. sandbox_paused); repeating an action that is done is a no-op. A sandbox whose ttl has passed "
    "answers 409 sandbox_expired to start and restart until a PATCH sets a new ttl_seconds."
)


def routes(uc: UseCases) -> Router:
    @get("/", **declare(errors=(400, 403)))
    async def list_sandboxes(request: Caller, page: Paging) -> Page[SandboxView]:
        """The tenant's sandboxes that are not deleted, newest first, with their state and clocks."""
        return await uc.sandboxes.list(request.user, page)

    @post("/", status_code=201, **declare(idempotent=True, errors=(400, 402, 403, 422), description=ISOLATION_NOTE))
    async def create_sandbox(data: JSONBody[NewSandbox], request: Caller) -> SandboxView:
        """Create and run a sandbox from a template (an image and/or a command, declared ports, env,
        limits) with its clocks: ``ttl_seconds`` (a hard cap, then ``on_ttl``: stop or delete) and
        ``idle_timeout_seconds`` (then ``on_idle``: pause, stop or delete). Answers once it runs
        (``running``) or failed (``error`` with ``state_reason``). The plan limits how many and how long."""
        return await uc.sandboxes.create(request.user, data)

    @get("/{sandbox_id:str}", **declare(errors=(403, 404)))
    async def get_sandbox(sandbox_id: FromPath[str], request: Caller) -> SandboxView:
        """One sandbox: its state (and why), the actions it allows, its lifecycle generation, its clocks
        (``expires_at``, ``idle_expires_at``, ``last_activity_at``) and its recent events with their cause
        (request, ttl, idle, oom, error, admin, reconcile). A deleted one still answers, ``deleted``."""
        return await uc.sandboxes.get(request.user, sandbox_id)

    @patch("/{sandbox_id:str}", **declare(errors=(400, 402, 403, 404, 409)))
    async def update_sandbox(sandbox_id: FromPath[str], data: JSONBody[SandboxChanges], request: Caller) -> SandboxView:
        """Rename, or set the clocks: a new ``ttl_seconds`` counts from now (within the plan's maximum);
        ``no_idle_timeout`` removes the idle clock. Counts as activity."""
        return await uc.sandboxes.update(request.user, sandbox_id, data)

    @delete("/{sandbox_id:str}", status_code=200, **declare(errors=(403, 404, 409)))
    async def delete_sandbox(sandbox_id: FromPath[str], request: Caller) -> SandboxView:
        """Remove the sandbox's workload and mark it ``deleted``, from every state, stuck ones included.
        Deleting again answers the same."""
        return await uc.sandboxes.delete(request.user, sandbox_id)

    @post(
        "/{sandbox_id:str}/{action:str}",
        status_code=200,
        **declare(errors=(400, 403, 404, 409), description=STATES_NOTE),
    )
    async def sandbox_action(
        sandbox_id: FromPath[str], action: FromPath[SandboxAction], request: Caller
    ) -> SandboxView:
        """``start``, ``stop``, ``pause``, ``resume``, ``restart``, ``keepalive`` (resets the idle clock) or
        ``delete`` (as DELETE)."""
        return await uc.sandboxes.action(request.user, sandbox_id, action)

    handlers = [list_sandboxes, create_sandbox, get_sandbox, update_sandbox, delete_sandbox, sandbox_action]
    return Router("/api/sandboxes", tags=["Sandboxes"], route_handlers=handlers)
