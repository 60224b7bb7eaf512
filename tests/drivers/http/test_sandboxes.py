"""/api/sandboxes over real sockets, on the server's default runtime (processes under bubblewrap and
pasta): a sandbox runs ``python3 -m http.server`` on its declared port and answers on the workload's
host port; paused it does not answer, resumed it does; stopped, started, deleted, no process is left.
Then the 409s naming the state, the 400s, tenant scoping (identical 404s), idempotent DELETE, and the
same use cases over MCP."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tesserra_core.facade import UseCases
from tests.drivers.http.conftest import Account, Accounts, assert_error
from tests.drivers.http.test_sandbox import serve, settings_for
from tests.drivers.mcp.helpers import mcp_session
from tests.support import LiveServer, eventually

SANDBOXES = "/api/sandboxes"
PORT = 8000


def template(marker: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "web",
        "command": ["python3", "-m", "http.server", str(PORT), "--bind", "0.0.0.0"],
        "ports": [PORT],
        "env": [{"name": "SANDBOX_MARKER", "value": marker}],
        **fields,
    }


def processes_with(marker: str) -> list[int]:
    """Host processes whose environment carries ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


async def no_process_with(marker: str) -> bool:
    """Whether every process carrying ``marker`` has ended (a killed group takes a moment to go)."""

    async def ended() -> bool | None:
        return True if not processes_with(marker) else None

    return bool(await eventually(ended, within=5))


async def host_port(uc: UseCases, sandbox_id: str) -> int:
    [workload] = await uc.ports.runtime.list(f"sandbox:{sandbox_id}")
    return workload.ports[PORT]


async def answers(port: int, wait: float = 2.0) -> bool:
    try:
        async with httpx.AsyncClient(timeout=wait) as direct:
            return (await direct.get(f"http://127.0.0.1:{port}/")).status_code == 200
    except httpx.TransportError:
        return False


async def test_a_sandbox_serves_pauses_resumes_stops_starts_and_is_deleted_without_a_trace(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer
) -> None:
    owner = await accounts.tenant_owner()
    marker = uuid.uuid4().hex
    created = await client.post(SANDBOXES, json=template(marker, idle_timeout_seconds=600), headers=owner.bearer)
    assert created.status_code == 201, created.text
    box = created.json()
    assert box["state"] == "running", box
    assert box["template"]["env_names"] == ["SANDBOX_MARKER"]
    assert marker not in created.text
    assert {"expires_at", "idle_expires_at", "last_activity_at", "generation", "events"} <= box.keys()
    sid = box["id"]
    port = await host_port(server.uc, sid)
    assert await eventually(lambda: _true_or_none(answers(port)), within=20)

    async def act(action: str) -> dict[str, Any]:
        response = await client.post(f"{SANDBOXES}/{sid}/{action}", headers=owner.bearer)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert (await act("pause"))["state"] == "paused"
    assert not await answers(port, wait=0.5)
    assert (await act("pause"))["state"] == "paused"  # a no-op
    assert (await act("resume"))["state"] == "running"
    assert await eventually(lambda: _true_or_none(answers(port)), within=10)
    assert (await act("stop"))["state"] == "stopped"
    assert not await answers(port, wait=0.5)
    assert await no_process_with(marker)
    started = await act("start")
    assert started["state"] == "running", started["state_reason"]
    assert started["generation"] == box["generation"] + 1
    port = await host_port(server.uc, sid)
    assert await eventually(lambda: _true_or_none(answers(port)), within=20)
    assert processes_with(marker) != []
    shown = (await client.get(f"{SANDBOXES}/{sid}", headers=owner.bearer)).json()
    assert [(e["state"], e["cause"]) for e in shown["events"][-2:]] == [("starting", "request"), ("running", "request")]
    deleted = await client.delete(f"{SANDBOXES}/{sid}", headers=owner.bearer)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["state"] == "deleted"
    assert await no_process_with(marker)
    assert await server.uc.ports.runtime.list(f"sandbox:{sid}") == []
    assert not await answers(port, wait=0.5)
    again = await client.delete(f"{SANDBOXES}/{sid}", headers=owner.bearer)
    assert again.status_code == 200
    assert again.json()["state"] == "deleted"
    listed = await client.get(SANDBOXES, headers=owner.bearer)
    assert sid not in [s["id"] for s in listed.json()["items"]]


async def _true_or_none(check: Any) -> bool | None:
    return True if await check else None


async def test_illegal_actions_bad_input_and_other_tenants(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    stranger = await accounts.tenant_owner("Other")
    box = (await client.post(SANDBOXES, json=template(uuid.uuid4().hex), headers=owner.bearer)).json()
    sid = box["id"]
    assert (await client.post(f"{SANDBOXES}/{sid}/stop", headers=owner.bearer)).status_code == 200
    assert_error(await client.post(f"{SANDBOXES}/{sid}/resume", headers=owner.bearer), 409, "sandbox_stopped")
    assert_error(await client.post(f"{SANDBOXES}/{sid}/keepalive", headers=owner.bearer), 409, "sandbox_stopped")
    assert_error(await client.post(f"{SANDBOXES}/{sid}/explode", headers=owner.bearer), 400)
    for bad in (
        {"name": "x", "command": ["true"], "ttl_seconds": 0},
        {"name": "x", "command": ["true"], "extra": 1},
        {"name": "x", "command": ["true"], "env": [{"name": "1A"}]},
    ):
        assert_error(await client.post(SANDBOXES, json=bad, headers=owner.bearer), 400)
    assert_error(await client.post(SANDBOXES, json={"name": "x"}, headers=owner.bearer), 422, "template_incomplete")
    refused = await client.post(SANDBOXES, json={"name": "x", "command": ["t"], "ports": [0]}, headers=owner.bearer)
    assert_error(refused, 422, "invalid_port")
    patched = await client.patch(
        f"{SANDBOXES}/{sid}", json={"name": "renamed", "idle_timeout_seconds": 30}, headers=owner.bearer
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "renamed"
    assert patched.json()["idle_timeout_seconds"] == 30
    missing = f"{SANDBOXES}/{uuid.uuid4().hex[:26]}"
    for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/start"), ("PATCH", "")):
        body = {"name": "x"} if method == "PATCH" else None
        theirs = await client.request(method, f"{SANDBOXES}/{sid}{suffix}", headers=stranger.bearer, json=body)
        nobody = await client.request(method, f"{missing}{suffix}", headers=stranger.bearer, json=body)
        assert_error(theirs, 404, "sandbox_not_found")
        assert {k: v for k, v in theirs.json().items() if k != "request_id"} == {
            k: v for k, v in nobody.json().items() if k != "request_id"
        }
    assert (await client.delete(f"{SANDBOXES}/{sid}", headers=owner.bearer)).json()["state"] == "deleted"


async def test_the_mcp_tools_call_the_same_use_cases(
    client: httpx.AsyncClient, accounts: Accounts, server: LiveServer
) -> None:
    owner: Account = await accounts.tenant_owner()
    async with mcp_session(f"{server.url}/mcp", owner.bearer) as session:
        made = await session.call_tool(
            "create_sandbox", {"name": "mcp", "command": ["sleep", "300"], "idle_timeout_seconds": 60}
        )
        assert not made.is_error, made.content
        assert made.structured_content is not None
        sid = made.structured_content["id"]
        assert made.structured_content["state"] == "running"
        paused = await session.call_tool("sandbox_action", {"sandbox_id": sid, "action": "pause"})
        assert paused.structured_content is not None
        assert paused.structured_content["state"] == "paused"
        refused = await session.call_tool("sandbox_action", {"sandbox_id": sid, "action": "keepalive"})
        assert refused.is_error
        assert refused.structured_content is not None
        assert refused.structured_content["code"] == "sandbox_paused"
        got = await session.call_tool("get_sandbox", {"sandbox_id": sid})
        rest = await client.get(f"{SANDBOXES}/{sid}", headers=owner.bearer)
        assert got.structured_content == rest.json()
        listed = await session.call_tool("list_sandboxes", {})
        assert listed.structured_content is not None
        assert [s["id"] for s in listed.structured_content["items"]] == [sid]
        gone = await session.call_tool("sandbox_action", {"sandbox_id": sid, "action": "delete"})
        assert gone.structured_content is not None
        assert gone.structured_content["state"] == "deleted"


async def test_where_sandboxes_cannot_be_isolated_they_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for settings in (
        settings_for(tmp_path / "a", bwrap_path=str(tmp_path / "no-bwrap")),
        settings_for(tmp_path / "b", process_isolation="none-trusted-single-tenant"),
    ):
        async for target in serve(settings, monkeypatch):
            owner = await Accounts(target.server.uc).tenant_owner("Refused")
            async with httpx.AsyncClient(base_url=target.server.url, timeout=20) as client:
                refused = await client.post(SANDBOXES, json=template("m"), headers=owner.bearer)
                assert_error(refused, 422, "isolation_unavailable")
                assert (await client.get(SANDBOXES, headers=owner.bearer)).json()["items"] == []
            assert await target.server.uc.ports.runtime.list("sandbox:") == []


async def test_the_server_acts_on_the_clocks_within_two_seconds(client: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.tenant_owner()
    sleeper = {"command": ["sleep", "300"]}
    short = {"name": "short", **sleeper, "ttl_seconds": 1, "on_ttl": "delete"}
    idle = {"name": "idle", **sleeper, "idle_timeout_seconds": 1, "on_idle": "pause"}
    boxes = []
    for template_body in (short, idle):
        created = await client.post(SANDBOXES, json=template_body, headers=owner.bearer)
        assert created.status_code == 201, created.text
        boxes.append(created.json())
    expected = {boxes[0]["id"]: ("deleted", "ttl"), boxes[1]["id"]: ("paused", "idle")}
    for sid, (state, cause) in expected.items():

        async def settled(sid: str = sid, state: str = state) -> dict[str, Any] | None:
            body: dict[str, Any] = (await client.get(f"{SANDBOXES}/{sid}", headers=owner.bearer)).json()
            return body if body["state"] == state else None

        body = await eventually(settled, within=6)
        assert isinstance(body, dict)
        assert body["events"][-1]["cause"] == cause
        acted = datetime.fromisoformat(body["events"][-2]["at"])  # the transient state: when the reaper acted
        if cause == "ttl":
            deadline = datetime.fromisoformat(body["expires_at"])
        else:
            deadline = datetime.fromisoformat(body["last_activity_at"]) + timedelta(seconds=1)
        assert 0 <= (acted - deadline).total_seconds() < 2.0
    await client.delete(f"{SANDBOXES}/{boxes[1]['id']}", headers=owner.bearer)
