"""What a Docker workload's container is made of (``docker.py`` says why): the labels that mark it
ours, its user, limits and read-only root, its ports, mounts and stdio, and the network it joins
(made once, without traffic between its containers): a shared one for workloads that publish their
ports, its tenant's own for those that do not (sandboxes)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from typing import Any

import aiodocker
from aiodocker.exceptions import DockerError

from tesserra_adapters.runtime.mounts import CONTAINER_USER
from tesserra_core.ports.runtime import WorkloadSpec

MANAGED = "tesserra.managed"
OWNER = "tesserra.owner"
TENANT = "tesserra.tenant"
STDIO = "tesserra.stdio"
DEPLOYMENT = "tesserra.deployment"
"""The id of the deployment (the database) whose container it is: another deployment on the same
engine neither lists nor touches it (a container without it was made before the label: everyone's)."""
PRIVATE_NETWORK = "tesserra.network"
"""On a container that publishes no port: the private network the server reaches it on."""
TENANT_NETWORK = "tesserra.tenant-network"
"""On a tenant's private network: ``1``."""
BRIDGE_PREFIX = "tsx"
"""The host interfaces of tenants' private networks are named ``tsx<11 hex>``: one firewall rule
(``-i tsx+``) covers them all."""
ISOLATED_NETWORK = "tesserra-isolated"
EGRESS_NETWORK = "tesserra-egress"
PIDS_LIMIT = 512
DEFAULT_MEMORY_BYTES = 512 * 1024 * 1024
DEFAULT_CPUS = 1.0
TMP = "/tmp"  # noqa: S108 - a tmpfs of the container's own, not the host's /tmp
TMP_SIZE = "64m"


def container_name(owner: str) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", owner).strip("-.")[:40] or "workload"
    return f"tesserra-{slug}-{uuid.uuid4().hex[:8]}"


PRIVATE_PREFIXES = ("tesserra-tenant-", "tesserra-unclaimed")
"""Names of the private networks (tenants', and the warm pool's, whose workloads no tenant has claimed)."""
ADOPTED = "tesserra-adopted"
"""A pooled container handed to an owner is renamed ``tesserra-adopted.<tenant>.<n>.<owner>`` (labels
cannot change): its name says whose it is."""
_ADOPTABLE_OWNER = re.compile(r"[A-Za-z0-9_:-]{1,100}")
_ADOPTABLE_TENANT = re.compile(r"[A-Za-z0-9_-]{1,64}")


def tenant_network(tenant_id: str, *, egress: bool) -> str:
    """The name of a tenant's private network: with a route out (``egress``) or without. Workloads of
    no tenant yet (a warm pool's) wait on ``tesserra-unclaimed``."""
    if not tenant_id:
        return f"tesserra-unclaimed{'-egress' if egress else ''}"
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", tenant_id).strip("-.")[:64] or "tenant"
    return f"tesserra-tenant-{slug}{'-egress' if egress else ''}"


def adopted_name(owner: str, tenant_id: str) -> str | None:
    """The name of a container adopted by ``owner`` of ``tenant_id``; None when they cannot be spelled in one."""
    if _ADOPTABLE_OWNER.fullmatch(owner) is None or _ADOPTABLE_TENANT.fullmatch(tenant_id) is None:
        return None
    return f"{ADOPTED}.{tenant_id}.{uuid.uuid4().hex[:8]}.{owner.replace(':', '.')}"


def deployment_of(labels: dict[str, str]) -> str:
    """The deployment a container was made by ("" for one made before the label)."""
    return str(labels.get(DEPLOYMENT, ""))


def owner_and_tenant(labels: dict[str, str], name: str) -> tuple[str, str]:
    """Whose a container is: its adopted name's owner and tenant, else its labels'."""
    parts = name.lstrip("/").split(".", 3)
    if len(parts) == 4 and parts[0] == ADOPTED:
        return parts[3].replace(".", ":"), parts[1]
    return str(labels.get(OWNER, "")), str(labels.get(TENANT, ""))


def container_config(spec: WorkloadSpec, network_mode: str, deployment: str = "") -> dict[str, Any]:
    """The engine's create request for ``spec``, joining ``network_mode`` (see ``network``): its ports
    published on 127.0.0.1 unless ``spec.publish`` is False (then none is, and the network is named in
    a label for ``inspect`` to read the container's address on); labelled ``deployment``'s when given."""
    env = {"HOME": TMP, **spec.env}  # the root file system is read-only
    for port in spec.ports:
        env[f"PORT_{port}"] = str(port)
    if spec.ports:
        env["PORT"] = str(spec.ports[0])
    memory = spec.memory_bytes if spec.memory_bytes is not None else DEFAULT_MEMORY_BYTES
    host: dict[str, Any] = {
        "NetworkMode": network_mode,
        "PortBindings": (
            {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}] for port in spec.ports} if spec.publish else {}
        ),
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
    if not spec.publish:
        config["Labels"][PRIVATE_NETWORK] = network_mode
    if deployment:
        config["Labels"][DEPLOYMENT] = deployment
    if spec.command:
        config["Cmd"] = list(spec.command)
    if spec.workdir:
        config["WorkingDir"] = spec.workdir
    return config


async def network(docker: aiodocker.Docker, spec: WorkloadSpec) -> str:
    """The network mode of the spec's container: none, or a bridge (made now if missing). A workload
    that publishes no port joins its tenant's private network (``tenant_network``), internal (no route
    out) unless the spec asks for the network, so the server reaches it at its own address there."""
    if not spec.publish:
        return await _tenant_bridge(docker, spec.tenant_id, egress=spec.network)
    if spec.network:
        return await _bridge(docker, EGRESS_NETWORK, masquerade=True)
    if not spec.ports:
        return "none"
    return await _bridge(docker, ISOLATED_NETWORK, masquerade=False)


async def _tenant_bridge(docker: aiodocker.Docker, tenant_id: str, *, egress: bool) -> str:
    name = tenant_network(tenant_id, egress=egress)
    interface = BRIDGE_PREFIX + hashlib.sha256(name.encode()).hexdigest()[:11]
    labels = {TENANT_NETWORK: "1", TENANT: tenant_id}
    return await _bridge(docker, name, masquerade=egress, internal=not egress, interface=interface, labels=labels)


async def _bridge(
    docker: aiodocker.Docker,
    name: str,
    *,
    masquerade: bool,
    internal: bool = False,
    interface: str | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """A bridge whose containers cannot reach one another (``enable_icc=false``), made once; an
    ``internal`` one has no route beyond its own addresses (the host still reaches its containers)."""
    try:
        await docker.networks.get(name)
    except DockerError as exc:
        if exc.status != 404:
            raise
        options = {
            "com.docker.network.bridge.enable_ip_masquerade": "true" if masquerade else "false",
            "com.docker.network.bridge.enable_icc": "false",
        }
        if interface is not None:
            options["com.docker.network.bridge.name"] = interface
        with contextlib.suppress(DockerError):  # 409: created meanwhile by another worker
            await docker.networks.create(
                {
                    "Name": name,
                    "CheckDuplicate": True,  # names are not unique to the engine otherwise
                    "Driver": "bridge",
                    "Internal": internal,
                    "Labels": {MANAGED: "1", **(labels or {})},
                    "Options": options,
                }
            )
    return name
