"""The echo sandbox the cluster's proxy tests run (tests/servers/echo_sandbox.py on the process
runtime), and a proxy token for it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests import support
from tests.cluster.conftest import Owner

ECHO = Path(__file__).resolve().parents[1] / "servers" / "echo_sandbox.py"
PROXY = "/api/runtime/proxy"
HEADER = "X-Tesserra-Proxy-Token"


async def serving_echo(http: httpx.AsyncClient, owner: Owner) -> tuple[str, str]:
    """(sandbox id, proxy token) of an echo sandbox made through ``http``'s node, once its server
    answers through that node's proxy."""
    made = await http.post(
        "/api/sandboxes", json={"name": "echo", "command": [str(ECHO)], "ports": [8000]}, headers=owner.bearer
    )
    assert made.status_code == 201, made.text
    box_id = made.json()["id"]
    minted = await http.get(f"/api/runtime/proxy-auth/{box_id}", headers=owner.bearer)
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["token"]

    async def served() -> bool:
        return (await http.get(f"{PROXY}/{box_id}/", headers={HEADER: token})).status_code == 200

    await support.eventually(served, within=30, every=0.1)
    return box_id, token
