"""The tool platform over real HTTP, continued: uploads, container actions, catalog refresh, idempotent
installs, and arguments too deep or too large for a tool server."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tesserra_core.domain.identity import Role
from tests.drivers.http.conftest import Accounts, assert_error
from tests.drivers.http.tools.conftest import PROBE, install

pytestmark = pytest.mark.usefixtures("time_server")  # conftest.py provides it


async def test_uploads(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": "t"}})
    url = f"/api/installations/{ready['id']}/files"
    files = [
        ("file", ("../../../etc/cron.d/evil", b"* * * * * root id", "text/plain")),
        ("other", ("data.csv", b"a,b", "text/csv")),
    ]
    uploaded = await http.post(url, files=files, headers=owner.bearer)
    assert uploaded.status_code == 201, uploaded.text
    assert sorted(f["name"] for f in uploaded.json()["files"]) == ["data.csv", "evil"]
    listed = await http.post(
        f"/api/installations/{ready['id']}/tools/call", json={"name": "workspace"}, headers=owner.bearer
    )
    assert listed.json()["structured_content"]["result"] == ["data.csv", "evil"]
    assert_error(await http.post(url, json={"not": "multipart"}, headers=owner.bearer), 400, "no_files")
    assert_error(await http.post(url, files=[("f", (".bashrc", b"x"))], headers=owner.bearer), 400, "invalid_file_name")
    big = b"x" * (10 * 1024 * 1024 + 1)
    assert_error(await http.post(url, files=[("f", ("big.bin", big))], headers=owner.bearer), 400, "file_too_large")
    huge = b"x" * (33 * 1024 * 1024)
    response = await http.post(url, files=[("f", ("huge.bin", huge))], headers=owner.bearer)
    assert response.status_code == 413
    stranger = await team_accounts.tenant_owner("Other")
    assert_error(await http.post(url, files=[("f", ("x.txt", b"x"))], headers=stranger.bearer), 404)
    await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)


async def test_only_the_installer_or_a_manager_uploads_into_a_tenant_installation(
    http: httpx.AsyncClient, team_accounts: Accounts
) -> None:
    """A tenant-wide installation is every member's to use, but its workspace (its server's working
    directory) is changed only by whoever may change the installation: its installer or an owner/admin."""
    owner = await team_accounts.tenant_owner()
    installer = await team_accounts.member(owner.tenant_id, Role.ADMIN)
    member = await team_accounts.member(owner.tenant_id, Role.MEMBER)
    ready = await install(http, installer, PROBE, {"config": {"PROBE_TOKEN": "t"}, "scope": "tenant"})
    url = f"/api/installations/{ready['id']}/files"
    call = f"/api/installations/{ready['id']}/tools/call"
    refused = await http.post(url, files=[("f", ("planted.py", b"import os"))], headers=member.bearer)
    assert_error(refused, 403, "not_yours")
    listed = await http.post(call, json={"name": "workspace"}, headers=member.bearer)
    assert listed.status_code == 200, listed.text  # the member still uses the installation
    assert listed.json()["structured_content"]["result"] == []
    for account, name in ((installer, "by-installer.txt"), (owner, "by-owner.txt")):
        uploaded = await http.post(url, files=[("f", (name, b"x"))], headers=account.bearer)
        assert uploaded.status_code == 201, uploaded.text
    listed = await http.post(call, json={"name": "workspace"}, headers=owner.bearer)
    assert listed.json()["structured_content"]["result"] == ["by-installer.txt", "by-owner.txt"]
    await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)


async def test_container_actions_over_http(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    member = await team_accounts.member(owner.tenant_id, Role.MEMBER)
    stranger = await team_accounts.tenant_owner("Other")
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": "t"}, "scope": "tenant"})
    container_id = ready["container_id"]
    assert_error(await http.post(f"/api/containers/{container_id}/stop", headers=stranger.bearer), 404)
    assert_error(await http.get(f"/api/containers/{container_id}", headers=stranger.bearer), 404)
    assert_error(await http.post(f"/api/containers/{container_id}/stop", headers=member.bearer), 403, "not_a_manager")
    assert_error(
        await http.post(f"/api/containers/{container_id}/pause", headers=owner.bearer), 400, "validation_failed"
    )
    restarted = await http.post(f"/api/containers/{container_id}/restart", headers=owner.bearer)
    assert restarted.status_code == 200, restarted.text
    assert restarted.json()["container"]["state"] == "running"
    echoed = await http.post(
        f"/api/installations/{ready['id']}/tools/call",
        json={"name": "echo", "arguments": {"text": "hi"}},
        headers=member.bearer,
    )
    assert echoed.status_code == 200, echoed.text
    container_id = (await http.get(f"/api/installations/{ready['id']}", headers=owner.bearer)).json()["container_id"]
    removed = await http.post(f"/api/containers/{container_id}/remove", headers=owner.bearer)
    assert removed.json() == {"id": container_id, "action": "remove", "container": None}
    assert_error(await http.get(f"/api/containers/{container_id}", headers=owner.bearer), 404)
    await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)


async def test_refresh_by_a_platform_admin(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    admin = await team_accounts.admin()
    response = await http.post("/api/marketplace/refresh", headers=admin.bearer)
    assert response.status_code == 200, response.text
    assert response.json()["loaded"] == 5
    assert response.json()["skipped"] == []


async def test_install_is_idempotent_with_a_key(http: httpx.AsyncClient, team_accounts: Accounts) -> None:
    owner = await team_accounts.tenant_owner()
    headers = {**owner.bearer, "Idempotency-Key": "install-drive-1"}
    url = "/api/marketplace/tools/test.tesserra-drive/install"
    first = await http.post(url, json={}, headers=headers)
    again = await http.post(url, json={}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()
    assert (await http.get("/api/installations", headers=owner.bearer)).json()["total"] == 1
    other = await http.post(url, json={"scope": "tenant"}, headers=headers)
    assert other.status_code in (409, 422)


def nested_arguments(depth: int, marker: str) -> bytes:
    """A tool call's JSON whose ``arguments`` nest ``depth`` containers (the object counting as 1)
    around ``marker``: written as text, so any depth is cheap to build."""
    inner = "[" * (depth - 1) + json.dumps(marker) + "]" * (depth - 1)
    return f'{{"name": "keep", "arguments": {{"value": {inner}}}}}'.encode()


async def test_arguments_too_deep_or_large_are_400_and_never_reach_the_tool_server(
    http: httpx.AsyncClient, team_accounts: Accounts
) -> None:
    owner = await team_accounts.tenant_owner()
    ready = await install(http, owner, PROBE, {"config": {"PROBE_TOKEN": "t"}})
    call = f"/api/installations/{ready['id']}/tools/call"
    headers = {**owner.bearer, "Content-Type": "application/json"}
    pid = (await http.post(call, json={"name": "pid"}, headers=owner.bearer)).json()["structured_content"]
    marker = f"poison-{uuid.uuid4().hex}"

    deepest_allowed = await http.post(call, content=nested_arguments(32, "fine"), headers=headers)
    assert deepest_allowed.status_code == 200, deepest_allowed.text
    assert deepest_allowed.json()["content"][0]["text"] == "list"
    for depth in (33, 200, 255, 256, 300, 999, 5000):
        started = time.perf_counter()
        refused = await http.post(call, content=nested_arguments(depth, marker), headers=headers)
        assert time.perf_counter() - started < 1.0, depth
        body = assert_error(refused, 400)
        # Past ~1000 levels the body's JSON decoder refuses it first (its own 400, validation_failed).
        assert body["code"] == "arguments_too_deep" or (depth >= 999 and body["code"] == "validation_failed"), body
    huge = {
        "array": {"value": [0] * 10_001},
        "string": {"value": marker + "x" * (256 * 1024)},
        "members": {f"k{i}": marker for i in range(10_001)},
    }
    for what, arguments in huge.items():
        refused = await http.post(call, json={"name": "keep", "arguments": arguments}, headers=owner.bearer)
        assert refused.status_code == 400, (what, refused.text)
        assert_error(refused, 400, "arguments_too_large")

    # The same server (same process) answers, and no line holding the marker ever reached it.
    seen = await http.post(call, json={"name": "received", "arguments": {"marker": marker}}, headers=owner.bearer)
    assert seen.status_code == 200, seen.text
    assert seen.json()["structured_content"] == {"result": 1}  # this very question
    again = await http.post(call, json={"name": "pid"}, headers=owner.bearer)
    assert again.json()["structured_content"] == pid
    await http.delete(f"/api/installations/{ready['id']}", headers=owner.bearer)
