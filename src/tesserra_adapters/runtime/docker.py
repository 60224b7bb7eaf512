"""Workloads as Docker containers (aiodocker): the isolating runtime.

Every container carries the labels ``tesserra.managed=1``, ``tesserra.owner`` and ``tesserra.tenant``;
``list`` sees only managed containers. Isolation by default: no network (``NetworkMode: none``)
unless the spec asks for one; a workload that only publishes ports joins ``tesserra-isolated``, a
bridge without masquerading (no route out) nor traffic between containers; one that asks for the
network joins ``tesserra-egress``, a bridge with a route out but no traffic between its containers
(neither another tenant's nor its own tenant's). Published ports are bound to 127.0.0.1 only, on host
ports Docker picks (read back by ``inspect``; they may change on restart). The server reaches a
workload only through them.

A workload that publishes nothing (``WorkloadSpec.publish`` False: sandboxes, which the proxy alone
reaches) has no host port at all: it joins its tenant's own network (``tesserra-tenant-<tenant>``,
made on demand, internal unless the spec asks for the network, then ``...-egress`` with a route out;
no traffic between its containers either way), and the server reaches it at its address there (the
host reaches a container on an internal network: measured). A host firewall rule (``docker_guard.py``)
keeps such containers from the host's own ports. A tenant's network is removed with the last container
that names it.

A workload runs as ``nobody`` (65534:65534, whatever the image says) with every capability dropped,
``no-new-privileges``, a read-only root file system with a tmpfs ``/tmp`` (``HOME`` is ``/tmp``
unless the spec sets it), a pid limit, memory and CPU limits (defaults when the spec gives none), and
an init process (signals, zombies). The workload sees its declared port in ``PORT`` /
``PORT_<declared>``, as with processes. A missing image is pulled once if ``pull``; failing that,
``Unavailable`` (code ``image_missing``). Mounts are bind mounts (``HostConfig.Mounts``, read-only
when asked) of directories on the engine's host: the same machine as this server when the engine is
local, as it must be for workspaces. Only directories inside ``mount_root`` (the workspaces) may be
mounted; anything else (the Docker socket, the data dir, ...) is refused before the engine is asked.

This module drives the engine; ``docker_config.py`` makes the container's configuration and networks,
``docker_inspection.py`` reads a container back as a workload, ``docker_attach.py`` carries its stdio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.exceptions import DockerError

from tesserra_adapters.runtime.docker_attach import AttachedChannel
from tesserra_adapters.runtime.docker_config import (
    MANAGED,
    PRIVATE_NETWORK,
    PRIVATE_PREFIXES,
    TENANT,
    adopted_name,
    container_config,
    container_name,
    deployment_of,
    network,
    owner_and_tenant,
)
from tesserra_adapters.runtime.docker_guard import HostGuard
from tesserra_adapters.runtime.docker_inspection import private_networks, summary_status, workload_view
from tesserra_adapters.runtime.freezing import Freezing
from tesserra_adapters.runtime.mounts import check_inside, check_sources
from tesserra_core.errors import Conflict, NotFound, TesserraError, Unavailable, ValidationFailed
from tesserra_core.ports.runtime import StdioChannel, Workload, WorkloadSpec, WorkloadStatus

log = logging.getLogger("tesserra.runtime")

UNREACHABLE = 900
"""The status aiodocker gives a DockerError when it cannot connect to the engine at all."""

LEAVE_AFTER = 2.0
"""Seconds after a claim by which a container leaves the unclaimed network, resumed or not."""
NETWORK_ATTEMPTS = 3
"""How often ``run`` makes a container again whose private network was removed under it."""

_CONTAINER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
"""A container id or name: anything else never reaches the engine's URL paths."""


class DockerRuntime(Freezing):
    name = "docker"
    pools_per_tenant = True

    def __init__(
        self,
        docker_host: str = "unix:///var/run/docker.sock",
        *,
        pull: bool = True,
        mount_root: Path | None = None,
        host_guard: str = "iptables",
        iptables: str = "iptables",
        deployment: str = "",
    ) -> None:
        """``mount_root``: the only directory whose subdirectories may be mounted (none without it).
        ``host_guard``: who keeps the firewall rule that keeps unpublished workloads (sandboxes) from
        the host's ports (see ``docker_guard.py``). ``deployment``: the id every container made here is
        labelled with; containers of another deployment on the same engine are not this runtime's (not
        listed, and NotFound by id), so its reconcilers never take them for strays."""
        self._host = docker_host
        self._deployment = deployment
        self._pull = pull
        self._mount_root = mount_root
        self._guard = HostGuard(host_guard, iptables)
        self._to_leave: dict[str, list[str]] = {}
        self._leaving: set[asyncio.Task[None]] = set()
        self._client: aiodocker.Docker | None = None

    # -- the port ---------------------------------------------------------------------------------

    def admit(self, spec: WorkloadSpec) -> None:
        """Every container is isolated (see the module); one that publishes no port (a sandbox) also
        needs the host guard's firewall rule (422 ``isolation_unavailable`` where it cannot be kept)."""
        if not spec.publish:
            self._guard.admit()

    async def run(self, spec: WorkloadSpec) -> Workload:
        if not spec.owner:
            raise ValidationFailed("a workload needs an owner")
        if not spec.image:
            raise ValidationFailed("a Docker workload needs an image")
        check_sources(spec)
        check_inside(spec, self._mount_root)
        if not spec.publish:
            await self._guard.ensure()
        async with self._engine():
            await self._ensure_image(spec.image)
            for attempt in range(NETWORK_ATTEMPTS):
                config = container_config(spec, await network(self._docker, spec), self._deployment)
                try:
                    container = await self._docker.containers.create(config, name=container_name(spec.owner))
                except DockerError as exc:
                    if _network_gone(exc) and attempt + 1 < NETWORK_ATTEMPTS:
                        continue  # its tenant's network was removed meanwhile (its last sandbox went): again
                    raise
                try:
                    await container.start()
                except DockerError as exc:
                    with contextlib.suppress(DockerError):
                        await container.delete(force=True)
                    if _network_gone(exc) and attempt + 1 < NETWORK_ATTEMPTS:
                        continue
                    if exc.status in (400, 404, 500) and _is_command_error(exc):
                        raise ValidationFailed(
                            f"cannot run {' '.join(spec.command)} in {spec.image}: {exc.message}", code="command_failed"
                        ) from None
                    raise
                return workload_view(await container.show())
            raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises

    async def start(self, workload_id: str) -> Workload:
        async with self._engine(workload_id):
            container = self._docker.containers.container(workload_id)
            info = await self._managed(workload_id)
            if info["State"]["Status"] != "running":
                await container.start()
            return workload_view(await container.show())

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            container = self._docker.containers.container(workload_id)
            if info["State"]["Status"] == "paused":  # a frozen process could not act on SIGTERM
                await container.unpause()
            await container.stop(t=max(0, math.ceil(grace)))
            return workload_view(await container.show())

    async def restart(self, workload_id: str) -> Workload:
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            container = self._docker.containers.container(workload_id)
            if info["State"]["Status"] == "paused":
                await container.unpause()
            await container.restart(t=10)
            return workload_view(await container.show())

    async def _freeze(self, workload_id: str, *, paused: bool) -> Workload:
        """The engine's pause (the cgroup freezer) or unpause; a no-op when already so. Two engine calls:
        the inspection before tells all but the state, which the (un)pause alone changed."""
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            status = info["State"]["Status"]
            if status not in ("running", "paused"):
                raise Conflict("the workload is not running", code="not_running")
            container = self._docker.containers.container(workload_id)
            if paused and status == "running":
                await container.pause()
                info = {**info, "State": {**info["State"], "Status": "paused", "Paused": True}}
            elif not paused and status == "paused":
                await container.unpause()
                info = {**info, "State": {**info["State"], "Status": "running", "Paused": False}}
            shown = workload_view(info)
            if not paused:
                self._leave_now(shown.id)
            return shown

    async def remove(self, workload_id: str) -> None:
        async with self._engine():
            try:
                info = await self._managed(workload_id)
                await self._docker.containers.container(workload_id).delete(force=True, v=True)
            except NotFound:
                return
            except DockerError as exc:
                if exc.status == 409:  # a removal already in progress: done once it has finished
                    await self._gone(workload_id)
                elif exc.status != 404:
                    raise
                return
            for private in private_networks(info):
                await self._drop_if_unused(private)

    async def _drop_if_unused(self, name: str) -> bool:
        """Remove a private network once no container (in any state) is on it: a stopped sandbox holds
        no endpoint on it yet must find it again when started. A run racing this finds the network
        gone and makes it again (``run`` tries again)."""
        if await self._docker.containers.list(all=True, filters=json.dumps({"network": [name]})):
            return False
        try:
            await (await self._docker.networks.get(name)).delete()
        except DockerError as exc:
            if exc.status not in (403, 404, 409):  # 403/409: a container joined meanwhile; 404: gone
                raise
            return False
        return True

    async def adopt(self, workload_id: str, owner: str, tenant_id: str, *, resume: bool = False) -> Workload:
        """Renamed for its owner and tenant (labels cannot change). A container made for no tenant (on
        the unclaimed network) joins the tenant's private network before it is resumed and leaves the
        unclaimed one once resumed; one made for this tenant (a per-tenant pool's, on its network
        already) is only renamed, and with ``resume`` unpaused at once (no network to join first: the
        engine is asked for both together); one made for another tenant is refused."""
        name = adopted_name(owner, tenant_id)
        if name is None:
            raise ValidationFailed(f"cannot hand a container to {owner!r} of tenant {tenant_id!r}")
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            labels = info["Config"].get("Labels") or {}
            made_for = str(labels.get(TENANT, ""))
            if made_for not in ("", tenant_id):
                raise ValidationFailed(f"container {workload_id} was made for another tenant")
            container = self._docker.containers.container(workload_id)
            stale: list[str] = []
            joins = []
            if labels.get(PRIVATE_NETWORK) and not made_for:
                leaving = private_networks(info)
                egress = any(n.endswith("-egress") for n in leaving)
                joining = await network(
                    self._docker,
                    WorkloadSpec(owner=owner, tenant_id=tenant_id, command=(), publish=False, network=egress),
                )
                if joining not in leaving:
                    joins.append((await self._docker.networks.get(joining)).connect({"Container": info["Id"]}))
                stale = [old for old in leaving if old != joining]
            state = info["State"]
            unpause = resume and not joins and state["Status"] == "paused"
            await asyncio.gather(container.rename(name), *joins, *([container.unpause()] if unpause else []))
            if stale:
                self._leave(info["Id"], stale)
            if joins:
                adopted = workload_view(await container.show())
            else:  # only the name (and the pause) changed: no second inspection
                if unpause:
                    state = {**state, "Status": "running", "Paused": False}
                adopted = workload_view({**info, "Name": f"/{name}", "State": state})
        return await self.resume(workload_id) if resume and not unpause else adopted

    def _leave(self, container_id: str, networks: list[str]) -> None:
        """Take the container off ``networks`` (the unclaimed ones) once it has been resumed (or in
        ``LEAVE_AFTER`` seconds at the latest): the engine holds a container while it disconnects it,
        and a claim's resume would wait. Until then it is on both, which lets it reach nothing more: no
        traffic between containers on either, and the unclaimed one holds only pooled containers that
        have run no tenant's code."""
        self._to_leave[container_id] = networks
        asyncio.get_running_loop().call_later(LEAVE_AFTER, self._leave_now, container_id)

    def _leave_now(self, container_id: str) -> None:
        networks = self._to_leave.pop(container_id, None)
        if not networks:
            return

        async def leave() -> None:
            for name in networks:
                try:
                    unclaimed = await self._docker.networks.get(name)
                    await unclaimed.disconnect({"Container": container_id, "Force": True})
                except DockerError as exc:
                    log.warning("taking container %s off %s failed: %s", container_id[:12], name, exc.message)

        task = asyncio.create_task(leave())
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)

    async def _gone(self, workload_id: str, within: float = 30.0) -> None:
        container = self._docker.containers.container(workload_id)
        for _ in range(int(within / 0.1)):
            try:
                await container.show()
            except DockerError as exc:
                if exc.status == 404:
                    return
                raise
            await asyncio.sleep(0.1)
        raise Unavailable(f"the Docker engine did not remove {workload_id} in {within:.0f} s", code="docker_failed")

    async def tidy(self) -> int:
        """Remove the private networks (tenants', the unclaimed one) no container is on."""
        removed = 0
        async with self._engine():
            for found in await self._docker.networks.list(filters={"label": [f"{MANAGED}=1"]}):
                name = str(found.get("Name") or "")
                if name.startswith(PRIVATE_PREFIXES) and await self._drop_if_unused(name):
                    removed += 1
        return removed

    async def inspect(self, workload_id: str) -> Workload | None:
        async with self._engine():
            try:
                return workload_view(await self._managed(workload_id))
            except NotFound:
                return None

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        async with self._engine():
            workloads = []
            for summary in await self._summaries():
                owner, _ = owner_and_tenant(summary["Labels"] or {}, (summary["Names"] or [""])[0])
                if not owner.startswith(owner_prefix):
                    continue
                try:
                    workloads.append(workload_view(await summary.show()))
                except DockerError as exc:
                    if exc.status != 404:  # removed meanwhile
                        raise
            return workloads

    async def statuses(self, owner_prefix: str = "") -> dict[str, WorkloadStatus]:
        """One listing, no inspection: what the summaries say (the owner ``list`` filters by, too)."""
        async with self._engine():
            found = ((summary["Id"], summary_status(summary)) for summary in await self._summaries())
            return {workload_id: status for workload_id, status in found if status.owner.startswith(owner_prefix)}

    async def _summaries(self) -> Sequence[DockerContainer]:
        """This deployment's managed containers as the engine lists them (``DockerContainer``s whose
        ``[...]`` reads the summary), in one call."""
        summaries = await self._docker.containers.list(all=True, filters=json.dumps({"label": [f"{MANAGED}=1"]}))
        return [s for s in summaries if self._ours(s["Labels"] or {})]  # always present in a listing, null when empty

    async def attach(self, workload_id: str) -> StdioChannel:
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            if not info["Config"].get("OpenStdin"):
                raise Conflict("the workload was not started with stdio", code="not_stdio")
            if info["State"]["Status"] != "running":
                raise Conflict("the workload is not running", code="not_running")
            stream = self._docker.containers.container(workload_id).attach(stdin=True, stdout=True)
            await stream.__aenter__()
            return AttachedChannel(stream)

    async def logs(self, workload_id: str, *, tail: int = 100) -> str:
        if tail <= 0:
            return ""
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            container = self._docker.containers.container(workload_id)
            stdio = bool(info["Config"].get("OpenStdin"))  # its stdout is the protocol, not a log
            chunks = await container.log(stdout=not stdio, stderr=True, tail=tail)
            return "".join(chunks)

    async def aclose(self) -> None:
        for container_id in list(self._to_leave):
            self._leave_now(container_id)
        await asyncio.gather(*self._leaving, return_exceptions=True)
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -- the engine -------------------------------------------------------------------------------

    @property
    def _docker(self) -> aiodocker.Docker:
        if self._client is None:
            self._client = aiodocker.Docker(url=self._host)
        return self._client

    @contextlib.asynccontextmanager
    async def _engine(self, workload_id: str | None = None) -> AsyncIterator[None]:
        """Engine failures as core errors: a missing container is NotFound, an absent engine Unavailable."""
        try:
            yield
        except TesserraError:
            raise
        except DockerError as exc:
            if exc.status == UNREACHABLE:
                raise Unavailable(f"no Docker engine answers at {self._host}", code="docker_unreachable") from None
            if exc.status == 404 and workload_id is not None:
                raise NotFound(f"no workload {workload_id}") from None
            if exc.status == 409:
                raise Conflict(f"Docker refused: {exc.message}", code="docker_conflict") from None
            raise Unavailable(f"the Docker engine failed: {exc.message}", code="docker_failed") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise Unavailable(
                f"no Docker engine answers at {self._host} ({type(exc).__name__})", code="docker_unreachable"
            ) from None

    async def _managed(self, workload_id: str) -> dict[str, Any]:
        """The container's inspection, if it exists and is ours; anything else is NotFound."""
        if _CONTAINER_ID.fullmatch(workload_id) is None:
            raise NotFound(f"no workload {workload_id}")
        try:
            info: dict[str, Any] = await self._docker.containers.container(workload_id).show()
        except DockerError as exc:
            if exc.status == 404:
                raise NotFound(f"no workload {workload_id}") from None
            raise
        labels = info["Config"].get("Labels") or {}
        if labels.get(MANAGED) != "1" or not self._ours(labels):
            raise NotFound(f"no workload {workload_id}")
        return info

    def _ours(self, labels: dict[str, str]) -> bool:
        """Made by this deployment, or before containers carried one (then any deployment's, as all were)."""
        made_by = deployment_of(labels)
        return not made_by or not self._deployment or made_by == self._deployment

    async def _ensure_image(self, image: str) -> None:
        if await self._has_image(image):
            return
        if self._pull:
            with contextlib.suppress(DockerError):
                await self._docker.images.pull(image)  # a failure may also come inside the stream: look again
            if await self._has_image(image):
                return
        raise Unavailable(f"image {image} is not available on the Docker engine", code="image_missing")

    async def _has_image(self, image: str) -> bool:
        try:
            await self._docker.images.inspect(image)
        except DockerError as exc:
            if exc.status != 404:
                raise
            return False
        return True


def _network_gone(exc: DockerError) -> bool:
    text = str(exc.message).lower()
    return exc.status == 404 and "network" in text and "not found" in text


def _is_command_error(exc: DockerError) -> bool:
    text = str(exc.message).lower()
    return any(s in text for s in ("executable file not found", "no such file or directory", "permission denied"))
