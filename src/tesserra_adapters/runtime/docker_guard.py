"""Keeping sandboxes on Docker away from the host's own ports.

A container on a bridge network reaches the host at its network's gateway address: every service the
host listens on at 0.0.0.0 (or at that address) answers it, internal network or not, since Docker
filters only what is forwarded between interfaces, not what enters the host (measured on Docker 20.10:
a sandbox on an internal, ICC-off network connected to a host listener on 0.0.0.0 through its
gateway). Tenants' private networks all have host interfaces named ``tsx...`` (``BRIDGE_PREFIX``), so
one firewall rule closes that door for every one of them: nothing that enters the host from such an
interface is accepted unless it answers a connection the host opened (the proxy's).

The guard installs that rule once per process (``iptables -C`` first: it is never added twice) before
the first sandbox runs; it needs ``iptables`` and root. Where it cannot, a sandbox is refused with 422
``isolation_unavailable`` naming the fix, unless the operator says the rule is kept outside this
server (``host_guard="external"``).
"""

from __future__ import annotations

import asyncio
import os
import shutil

from tesserra_adapters.runtime.docker_config import BRIDGE_PREFIX
from tesserra_core.errors import Unprocessable

RULE = (
    "INPUT",
    "-i",
    f"{BRIDGE_PREFIX}+",
    "-m",
    "conntrack",
    "!",
    "--ctstate",
    "ESTABLISHED,RELATED",
    "-j",
    "DROP",
)
FIX = (
    "run the server as root with iptables installed, or add the rule yourself "
    f"(iptables -I {' '.join(RULE)}) and set TESSERRA_DOCKER_HOST_GUARD=external"
)


class HostGuard:
    """``mode``: ``iptables`` (this server keeps the rule) or ``external`` (the operator does)."""

    def __init__(self, mode: str = "iptables", iptables: str = "iptables") -> None:
        self.mode = mode
        self.iptables = iptables
        self._installed = mode == "external"
        self._lock = asyncio.Lock()

    def admit(self) -> None:
        """Refuse now what ``ensure`` could not do later."""
        if self._installed:
            return
        if shutil.which(self.iptables) is None or os.geteuid() != 0:
            raise Unprocessable(
                f"sandboxes on Docker need a firewall rule keeping them from the host's ports: {FIX}",
                code="isolation_unavailable",
            )

    async def ensure(self) -> None:
        if self._installed:
            return
        self.admit()
        async with self._lock:
            if self._installed:
                return
            if await self._run("-C", *RULE) != 0 and await self._run("-I", *RULE) != 0:
                raise Unprocessable(
                    f"could not add the host firewall rule for sandboxes: {FIX}", code="isolation_unavailable"
                )
            self._installed = True

    async def _run(self, *args: str) -> int:
        process = await asyncio.create_subprocess_exec(
            self.iptables, "-w", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return await process.wait()
