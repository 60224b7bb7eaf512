"""The container-runtime port: one way to run workloads (resources, MCP tool servers, sandboxes).

Adapters: local processes (the default), Docker (isolation), and an in-memory fake for unit tests.
Every workload carries its ``owner`` (``"resource:<id>"``, ``"installation:<id>"``, ...) so a
reconciler can list what runs, match it to live owners, and remove strays.
"""

from __future__ import annotations

import enum
import posixpath
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol

import msgspec

from tesserra_core.errors import ValidationFailed


class WorkloadState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


class Mount(msgspec.Struct, frozen=True, kw_only=True):
    """A host directory the workload sees at ``target``: a bind mount in a container.

    A process shares the host's file system, so the process runtime cannot move a path: there the
    workload finds the files at ``source`` itself, and a spec's ``workdir`` at or under ``target`` is
    translated to the same place under ``source`` (a workload that runs *in* its mount, as tool
    servers run in their workspace, behaves the same on every runtime). ``read_only`` is enforced by
    image runtimes and by the process runtime's sandbox (not when it runs without isolation).
    ``source`` must be an existing directory; both paths are absolute and normalized."""

    source: str
    target: str
    read_only: bool = False

    def __post_init__(self) -> None:
        for path in (self.source, self.target):
            if not path.startswith("/") or posixpath.normpath(path) != path or path == "/":
                raise ValidationFailed(f"mount path {path!r} is not an absolute, normalized path", code="invalid_mount")


class WorkloadSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What to run. ``image`` is used by image-based runtimes and ignored by the process runtime."""

    owner: str
    tenant_id: str
    command: tuple[str, ...]
    image: str | None = None
    env: Mapping[str, str] = msgspec.field(default_factory=dict)
    workdir: str | None = None
    stdio: bool = False
    """Keep stdin and stdout attached (an MCP server over stdio); see ``ContainerRuntime.attach``."""
    ports: tuple[int, ...] = ()
    """Ports the workload listens on; each is reachable at ``Workload.address``, port
    ``Workload.ports[port]`` (it may change on start/restart: read it back). The workload learns the
    port to listen on from ``PORT`` (the first one) and ``PORT_<declared>`` (each): its host port under
    the process runtime, the declared port itself in a container."""
    publish: bool = True
    """Publish the declared ports on the host's 127.0.0.1 (``Workload.address``). False (sandboxes: the
    proxy is the only way in): an image runtime publishes no host port and puts the workload on a
    private network of its tenant's, where the server reaches it at its own address; the process
    runtime, whose userspace network forwards ports only to the host's loopback, behaves as with True."""
    network: bool = False
    """Whether the workload may reach the network (on the process runtime, sandboxed: a workload with
    declared ports reaches it too, through the same pasta that forwards them)."""
    memory_bytes: int | None = None
    cpus: float | None = None
    mounts: tuple[Mount, ...] = ()
    """Host directories the workload sees (see ``Mount``); two mounts never share a target."""
    require_isolation: bool = False
    """Run it isolated or not at all (sandboxes): where the operator opted out of isolation, ``admit``
    refuses it all the same."""

    def __post_init__(self) -> None:
        targets = [m.target for m in self.mounts]
        if len(set(targets)) != len(targets):
            raise ValidationFailed("two mounts share a target", code="invalid_mount")

    def host_path(self, path: str) -> str | None:
        """``path`` (as the workload sees it) on the host, when it lies at or under a mount's target."""
        normal = posixpath.normpath(path)
        for mount in self.mounts:
            if normal == mount.target or normal.startswith(f"{mount.target}/"):
                return mount.source + normal[len(mount.target) :]
        return None


class Workload(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    owner: str
    tenant_id: str
    runtime: str
    state: WorkloadState
    image: str | None = None
    ports: Mapping[int, int] = msgspec.field(default_factory=dict)
    """Each declared port of a running workload: the port it answers on at ``address``."""
    address: str = "127.0.0.1"
    """Where the server reaches the workload's ports: the host's loopback (published ports), or the
    container's own address on its private network (``WorkloadSpec.publish`` False)."""
    exit_code: int | None = None
    started_at: datetime | None = None
    paused: bool = False
    """A running workload frozen by ``pause`` (its processes hold their memory and do not run)."""


class WorkloadStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a runtime's listing alone says of a workload: whose it is (owner and tenant) and how it runs
    (``Workload``'s fields of the same names), without its ports, address, image or start time."""

    owner: str
    state: WorkloadState
    paused: bool = False
    exit_code: int | None = None
    tenant_id: str = ""

    @classmethod
    def of(cls, workload: Workload) -> WorkloadStatus:
        return cls(
            owner=workload.owner,
            state=workload.state,
            paused=workload.paused,
            exit_code=workload.exit_code,
            tenant_id=workload.tenant_id,
        )


def statuses_of(workloads: Iterable[Workload]) -> dict[str, WorkloadStatus]:
    """``ContainerRuntime.statuses`` for a runtime whose ``list`` is no dearer than that."""
    return {w.id: WorkloadStatus.of(w) for w in workloads}


class StdioChannel(Protocol):
    """A workload's stdin and stdout, as newline-delimited messages (MCP's stdio framing)."""

    async def send(self, line: bytes) -> None: ...

    async def receive(self) -> bytes:
        """The next line without its newline; raises ``EOFError`` when the workload's stdout closes."""
        ...

    async def aclose(self) -> None: ...


class ContainerRuntime(Protocol):
    name: str
    """``process``, ``docker`` or ``memory``."""

    @property
    def pools_per_tenant(self) -> bool:
        """Whether a workload that publishes no port is bound to its tenant when made (Docker: made on the
        tenant's own network): a warm pool then keeps workloads per tenant, and ``adopt`` hands one only to
        the tenant it was made for."""
        ...

    def admit(self, spec: WorkloadSpec) -> None:
        """Raise ``Unprocessable`` (code ``isolation_unavailable``) if this runtime cannot run ``spec``
        isolated from the server and other tenants; ``run`` checks it too, use cases ask first so a
        request is refused at once rather than failing later in the background."""
        ...

    async def run(self, spec: WorkloadSpec) -> Workload:
        """Create and start a workload."""
        ...

    async def start(self, workload_id: str) -> Workload: ...

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload: ...

    async def restart(self, workload_id: str) -> Workload: ...

    async def pause(self, workload_id: str) -> Workload:
        """Freeze a running workload (``Workload.paused``); pausing a paused one is a no-op. ``Conflict``
        (code ``not_running``) when it is not running. ``stop``, ``restart`` and ``remove`` work on a
        paused workload."""
        ...

    async def resume(self, workload_id: str) -> Workload:
        """Let a paused workload run on; resuming a running one is a no-op. ``Conflict`` (code
        ``not_running``) when it is not running."""
        ...

    async def remove(self, workload_id: str) -> None:
        """Stop (if running) and delete; removing a workload that is gone is not an error."""
        ...

    async def adopt(self, workload_id: str, owner: str, tenant_id: str, *, resume: bool = False) -> Workload:
        """Hand a workload made ahead of time (a warm pool's, paused or not) to ``owner`` of
        ``tenant_id``: it is then listed, inspected and removed as theirs, and a workload that
        publishes no port moves to the tenant's private network before it runs again. ``NotFound``
        when it is gone; ``ValidationFailed`` for an owner or tenant the runtime cannot record, and
        for a workload made for another tenant. ``resume``: and let it run on (as ``resume``), in as
        few steps as the runtime can."""
        ...

    async def tidy(self) -> int:
        """Remove what the runtime made for workloads and no workload uses any more (on Docker, the
        private networks no container is on: a removal that bypassed ``remove`` leaves them); how
        many things were removed. The reconciler calls it."""
        ...

    async def inspect(self, workload_id: str) -> Workload | None: ...

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        """Every workload this runtime manages whose owner starts with ``owner_prefix``."""
        ...

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        """Every workload this runtime manages whose owner starts with ``owner_prefix`` (as ``list``'s), by
        id, as cheaply as the runtime can tell: what ``list`` and ``inspect`` answer of the same workload
        at the same moment (its owner, state, ``paused`` and exit code). On Docker one listing of the
        engine and no inspection (``list`` inspects each container); elsewhere ``list``'s
        (``statuses_of``). A workload watch polls it; reconcilers that need only whose a workload is
        and how it runs (not its ports, address, image or start time) ask it rather than ``list``."""
        ...

    async def attach(self, workload_id: str) -> StdioChannel:
        """The stdio of a workload started with ``stdio=True``."""
        ...

    async def logs(self, workload_id: str, *, tail: int = 100) -> str: ...
