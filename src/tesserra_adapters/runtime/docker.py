"""Workloads as Docker containers (aiodocker): the isolating runtime.

Every container carries the labels ``tesserra.managed=1``, ``tesserra.owner`` and ``tesserra.tenant``;
``list`` sees only managed containers. Isolation by default: no network (``NetworkMode: none``)
unless the spec asks for one; a workload that only publishes ports joins ``tesserra-isolated``, a
bridge without masquerading (no route out) nor traffic between containers; one that asks for the
network joins ``tesserra-egress``, a bridge with a route out but no traffic between its containers
(neither another tenant's nor its own tenant's). Published ports are bound to 127.0.0.1 only, on host
ports Docker picks (read back by ``inspect``; they may change on restart). The server reaches a
workload only through them.

A workload runs as ``nobody`` (65534:65534, whatever the image says) with every capability dropped,
``no-new-privileges``, a read-only root file system with a tmpfs ``/tmp`` (``HOME`` is ``/tmp``
unless the spec sets it), a pid limit, memory and CPU limits (defaults when the spec gives none), and
an init process (signals, zombies). The workload sees its declared port in ``PORT`` /
``PORT_<declared>``, as with processes. A missing image is pulled once if ``pull``; failing that,
``Unavailable`` (code ``image_missing``). Mounts are bind mounts (``HostConfig.Mounts``, read-only
when asked) of directories on the engine's host: the same machine as this server when the engine is
local, as it must be for workspaces. Only directories inside ``mount_root`` (the workspaces) may be
mounted; anything else (the Docker socket, the data dir, ...) is refused before the engine is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp
from aiodocker.exceptions import DockerError
from aiodocker.stream import Stream

from tesserra_adapters.runtime.mounts import CONTAINER_USER, check_inside, check_sources
from tesserra_core.errors import Conflict, NotFound, TesserraError, Unavailable, ValidationFailed
from tesserra_core.ports.runtime import StdioChannel, Workload, WorkloadSpec, WorkloadState

MANAGED = "tesserra.managed"
OWNER = "tesserra.owner"
TENANT = "tesserra.tenant"
STDIO = "tesserra.stdio"
ISOLATED_NETWORK = "tesserra-isolated"
EGRESS_NETWORK = "tesserra-egress"
PIDS_LIMIT = 512
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
DEFAULT_CPUS = 1.0
TMP = "/tmp"  # noqa: S108 - a tmpfs of the container's own, not the host's /tmp
TMP_SIZE = "64m"
UNREACHABLE = 900
"""The status aiodocker gives a DockerError when it cannot connect to the engine at all."""

_CONTAINER_ID = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}")
"""A container id or name: anything else never reaches the engine's URL paths."""

_STATES = {
    "created": WorkloadState.CREATED,
    "running": WorkloadState.RUNNING,
    "restarting": WorkloadState.RUNNING,
    "paused": WorkloadState.RUNNING,
    "removing": WorkloadState.EXITED,
    "exited": WorkloadState.EXITED,
    "dead": WorkloadState.EXITED,
}


def _timestamp(value: str | None) -> datetime | None:
    """Docker's RFC 3339 time with nanoseconds; its zero time means never."""
    if not value or value.startswith("0001-"):
        return None
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value)
    if match is None:
        return None
    fraction = (match.group(2) or ".0")[:7]
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    return datetime.fromisoformat(f"{match.group(1)}{fraction}{zone}").astimezone(UTC)


def _container_name(owner: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", owner).strip("-.")[:40] or "workload"
    return f"tesserra-{slug}-{uuid.uuid4().hex[:8]}"


class _AttachedChannel:
    """A container's stdin and stdout over Docker's attach stream, one message per line."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._eof = False
        self._closed = False

    async def send(self, line: bytes) -> None:
        if self._closed:
            raise BrokenPipeError("the channel is closed")
        try:
            await self._stream.write_in(line.rstrip(b"\n") + b"\n")
        except (RuntimeError, ConnectionError, aiohttp.ClientError) as exc:
            raise BrokenPipeError("the workload's stdin is closed") from exc

    async def receive(self) -> bytes:
        while True:
            if self._closed:
                raise EOFError("the channel is closed")
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            if self._eof:
                if self._buffer:
                    line = bytes(self._buffer)
                    self._buffer.clear()
                    return line
                raise EOFError("the workload's stdout is closed")
            try:
                message = await self._stream.read_out()
            except (ConnectionError, aiohttp.ClientError):
                message = None
            if message is None:
                self._eof = True
            elif message.stream == 1:
                self._buffer.extend(message.data)

    async def aclose(self) -> None:
        """Detach: the container keeps running (its stdin stays open), and may be attached again."""
        if not self._closed:
            self._closed = True
            await self._stream.close()


class DockerRuntime:
    name = "docker"

    def __init__(
        self, docker_host: str = "unix:///var/run/docker.sock", *, pull: bool = True, mount_root: Path | None = None
    ) -> None:
        """``mount_root``: the only directory whose subdirectories may be mounted (none without it)."""
        self._host = docker_host
        self._pull = pull
        self._mount_root = mount_root
        self._client: aiodocker.Docker | None = None

    # -- the port ---------------------------------------------------------------------------------

    def admit(self, spec: WorkloadSpec) -> None:
        """Every container is isolated (see the module): everything is admitted."""

    async def run(self, spec: WorkloadSpec) -> Workload:
        if not spec.owner:
            raise ValidationFailed("a workload needs an owner")
        if not spec.image:
            raise ValidationFailed("a Docker workload needs an image")
        check_sources(spec)
        check_inside(spec, self._mount_root)
        async with self._engine():
            await self._ensure_image(spec.image)
            config = await self._config(spec)
            container = await self._docker.containers.create(config, name=_container_name(spec.owner))
            try:
                await container.start()
            except DockerError as exc:
                with contextlib.suppress(DockerError):
                    await container.delete(force=True)
                if exc.status in (400, 404, 500) and _is_command_error(exc):
                    raise ValidationFailed(
                        f"cannot run {' '.join(spec.command)} in {spec.image}: {exc.message}", code="command_failed"
                    ) from None
                raise
            return _view(await container.show())

    async def start(self, workload_id: str) -> Workload:
        async with self._engine(workload_id):
            container = self._docker.containers.container(workload_id)
            info = await self._managed(workload_id)
            if info["State"]["Status"] != "running":
                await container.start()
            return _view(await container.show())

    async def stop(self, workload_id: str, *, grace: float = 10.0) -> Workload:
        async with self._engine(workload_id):
            await self._managed(workload_id)
            container = self._docker.containers.container(workload_id)
            await container.stop(t=max(0, math.ceil(grace)))
            return _view(await container.show())

    async def restart(self, workload_id: str) -> Workload:
        async with self._engine(workload_id):
            await self._managed(workload_id)
            container = self._docker.containers.container(workload_id)
            await container.restart(t=10)
            return _view(await container.show())

    async def remove(self, workload_id: str) -> None:
        async with self._engine():
            try:
                await self._managed(workload_id)
                await self._docker.containers.container(workload_id).delete(force=True, v=True)
            except NotFound:
                return
            except DockerError as exc:
                if exc.status == 409:  # a removal already in progress: done once it has finished
                    await self._gone(workload_id)
                elif exc.status != 404:
                    raise

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

    async def inspect(self, workload_id: str) -> Workload | None:
        async with self._engine():
            try:
                return _view(await self._managed(workload_id))
            except NotFound:
                return None

    async def list(self, owner_prefix: str = "") -> list[Workload]:
        async with self._engine():
            summaries = await self._docker.containers.list(all=True, filters=json.dumps({"label": [f"{MANAGED}=1"]}))
            workloads = []
            for summary in summaries:
                labels = summary["Labels"] or {}  # always present in a listing, null when empty
                if not str(labels.get(OWNER, "")).startswith(owner_prefix):
                    continue
                try:
                    workloads.append(_view(await summary.show()))
                except DockerError as exc:
                    if exc.status != 404:  # removed meanwhile
                        raise
            return workloads

    async def attach(self, workload_id: str) -> StdioChannel:
        async with self._engine(workload_id):
            info = await self._managed(workload_id)
            if not info["Config"].get("OpenStdin"):
                raise Conflict("the workload was not started with stdio", code="not_stdio")
            if info["State"]["Status"] != "running":
                raise Conflict("the workload is not running", code="not_running")
            stream = self._docker.containers.container(workload_id).attach(stdin=True, stdout=True)
            await stream.__aenter__()
            return _AttachedChannel(stream)

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
        if (info["Config"].get("Labels") or {}).get(MANAGED) != "1":
            raise NotFound(f"no workload {workload_id}")
        return info

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

    async def _config(self, spec: WorkloadSpec) -> dict[str, Any]:
        env = {"HOME": TMP, **spec.env}  # the root file system is read-only
        for port in spec.ports:
            env[f"PORT_{port}"] = str(port)
        if spec.ports:
            env["PORT"] = str(spec.ports[0])
        memory = spec.memory_bytes if spec.memory_bytes is not None else DEFAULT_MEMORY_BYTES
        host: dict[str, Any] = {
            "NetworkMode": await self._network(spec),
            "PortBindings": {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for port in spec.ports},
            "SecurityOpt": ["no-new-privileges"],
            "CapDrop": ["ALL"],
            "ReadonlyRootfs": True,
            "Tmpfs": {TMP: f"rw,nosuid,nodev,size={TMP_SIZE}"},
            "PidsLimit": PIDS_LIMIT,
            "Memory": memory,
            "MemorySwap": memory,  # no swap beyond the limit
            "NanoCpus": int((spec.cpus if spec.cpus is not None else DEFAULT_CPUS) * 1e9),
            "Init": True,
        }
        if spec.mounts:
            host["Mounts"] = [
                {"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only} for m in spec.mounts
            ]
        config: dict[str, Any] = {
            "Image": spec.image,
            "User": f"{CONTAINER_USER[0]}:{CONTAINER_USER[1]}",
            "Env": [f"{name}={value}" for name, value in env.items()],
            "Labels": {MANAGED: "1", OWNER: spec.owner, TENANT: spec.tenant_id, STDIO: "1" if spec.stdio else "0"},
            "ExposedPorts": {f"{port}/tcp": {} for port in spec.ports},
            "OpenStdin": spec.stdio,
            "AttachStdin": spec.stdio,
            "StdinOnce": False,
            "Tty": False,
            "HostConfig": host,
        }
        if spec.command:
            config["Cmd"] = list(spec.command)
        if spec.workdir:
            config["WorkingDir"] = spec.workdir
        return config

    async def _network(self, spec: WorkloadSpec) -> str:
        if spec.network:
            return await self._bridge(EGRESS_NETWORK, masquerade=True)
        if not spec.ports:
            return "none"
        return await self._bridge(ISOLATED_NETWORK, masquerade=False)

    async def _bridge(self, name: str, *, masquerade: bool) -> str:
        """A bridge whose containers cannot reach one another (``enable_icc=false``), made once."""
        try:
            await self._docker.networks.get(name)
        except DockerError as exc:
            if exc.status != 404:
                raise
            with contextlib.suppress(DockerError):  # 409: created meanwhile by another worker
                await self._docker.networks.create(
                    {
                        "Name": name,
                        "CheckDuplicate": True,  # names are not unique to the engine otherwise
                        "Driver": "bridge",
                        "Labels": {MANAGED: "1"},
                        "Options": {
                            "com.docker.network.bridge.enable_ip_masquerade": "true" if masquerade else "false",
                            "com.docker.network.bridge.enable_icc": "false",
                        },
                    }
                )
        return name


def _is_command_error(exc: DockerError) -> bool:
    text = str(exc.message).lower()
    return any(s in text for s in ("executable file not found", "no such file or directory", "permission denied"))


def _ports(info: Mapping[str, Any]) -> dict[int, int]:
    published = (info.get("NetworkSettings") or {}).get("Ports") or {}
    ports: dict[int, int] = {}
    for key, bindings in published.items():
        port, _, proto = key.partition("/")
        for binding in bindings or ():
            if proto == "tcp" and binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                ports[int(port)] = int(binding["HostPort"])
                break
    return ports


def _view(info: Mapping[str, Any]) -> Workload:
    labels = info["Config"].get("Labels") or {}
    status = info["State"]["Status"]
    state = _STATES.get(status, WorkloadState.EXITED)
    return Workload(
        id=info["Id"],
        owner=labels.get(OWNER, ""),
        tenant_id=labels.get(TENANT, ""),
        runtime="docker",
        state=state,
        image=info["Config"].get("Image"),
        ports=_ports(info) if state is WorkloadState.RUNNING else {},
        exit_code=int(info["State"]["ExitCode"]) if state is WorkloadState.EXITED else None,
        started_at=_timestamp(info["State"].get("StartedAt")),
    )
