"""Installing and running real MCP servers through the use cases (process runtime)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tesserra_adapters.memory.unit_of_work import MemoryUnitOfWorkFactory
from tesserra_adapters.plans import FixedEntitlements
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.paging import PageRequest
from tesserra_core.domain.tools import InstallScope
from tesserra_core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PaymentRequired,
    Unavailable,
    Unprocessable,
    ValidationFailed,
)
from tesserra_core.facade import UseCases, use_cases
from tesserra_core.runners.tool_servers import SharedToolAccounts
from tesserra_core.usecases.installations import InstallationChanges, InstallRequest, ToolCall, Upload
from tests.servers.launchers import time_server  # noqa: F401 (a fixture)
from tests.tools.helpers import BROKEN, DRIVE, PROBE, SECRET, TIME, settled
from tests.unit.helpers import Team

pytestmark = pytest.mark.usefixtures("time_server")

PROBE_CONFIG = {"PROBE_TOKEN": SECRET}


async def install(uc: UseCases, actor: Principal, tool: str, config: dict[str, Any] | None = None):
    view = await uc.installations.install(actor, tool, InstallRequest(config=config or {}))
    assert view.status == "installing"
    return await settled(uc, actor, view.id)


async def test_mcp_server_time_installs_and_answers_real_calls(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, TIME, {"TZ": "Europe/Lisbon"})
    assert ready.status == "ready", ready.status_reason
    assert ready.config == {"TZ": "Europe/Lisbon"}
    tools = await uc.installations.list_tools(team.owner, ready.id)
    assert {t.name for t in tools.tools} == {"get_current_time", "convert_time"}
    assert "timezone" in json.dumps(tools.tools[0].input_schema)
    result = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="get_current_time", arguments={"timezone": "Asia/Tokyo"})
    )
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["timezone"] == "Asia/Tokyo"
    converted = await uc.installations.call_tool(
        team.owner,
        ready.id,
        ToolCall(
            name="convert_time",
            arguments={"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        ),
    )
    assert converted.structured_content is not None
    assert "21:00" in json.dumps(converted.structured_content)


async def test_config_is_validated_naming_the_field(uc: UseCases, team: Team) -> None:
    cases: list[tuple[dict[str, object], str]] = [
        ({}, "config.PROBE_TOKEN: required"),
        ({**PROBE_CONFIG, "NOPE": "x"}, "config.NOPE"),
        ({**PROBE_CONFIG, "PROBE_MODE": "reckless"}, "config.PROBE_MODE: must be one of fast, careful"),
        ({**PROBE_CONFIG, "PROBE_LIMIT": "ten"}, "config.PROBE_LIMIT: must be a number"),
        ({**PROBE_CONFIG, "PROBE_VERBOSE": "maybe"}, "config.PROBE_VERBOSE: must be a boolean"),
        ({"PROBE_TOKEN": 12}, "config.PROBE_TOKEN: must be a string"),
    ]
    for config, message in cases:
        with pytest.raises(ValidationFailed) as caught:
            await uc.installations.install(team.owner, PROBE, InstallRequest(config=config))
        assert message in caught.value.message
    page = await uc.installations.list(team.owner, PageRequest())
    assert page.total == 0  # nothing half-created


async def test_secrets_are_sealed_reach_the_server_and_are_never_shown(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, PROBE, {**PROBE_CONFIG, "PROBE_LIMIT": 5, "PROBE_VERBOSE": True})
    assert ready.status == "ready", ready.status_reason
    assert ready.secret_fields == ["PROBE_TOKEN"]
    assert ready.config == {"PROBE_MODE": "fast", "PROBE_LIMIT": "5", "PROBE_VERBOSE": "true"}
    store = uc.ports.uow
    assert isinstance(store, MemoryUnitOfWorkFactory)
    stored = store.store.installations[ready.id]
    assert stored.sealed_secrets is not None
    assert SECRET not in repr(stored)
    digest = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="env_digest", arguments={"name": "PROBE_TOKEN"})
    )
    assert digest.content[0]["text"] == hashlib.sha256(SECRET.encode()).hexdigest()
    # A PATCH that leaves the secret out keeps it; one that names it replaces it.
    patched = await uc.installations.update(team.owner, ready.id, InstallationChanges(config={"PROBE_MODE": "careful"}))
    assert patched.status == "installing"
    again = await settled(uc, team.owner, ready.id)
    assert again.status == "ready"
    assert again.config["PROBE_MODE"] == "careful"
    digest = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="env_digest", arguments={"name": "PROBE_TOKEN"})
    )
    assert digest.content[0]["text"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert SECRET not in repr(await uc.installations.list(team.owner, PageRequest()))
    assert SECRET not in repr(await uc.installations.get(team.owner, ready.id))
    # Nowhere at rest either: not in the workload's record, the workspace or any other file.
    data_dir = Path(uc.ports.workspaces.path(ready.id)).parents[1]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.name == "workload.json" for p in files)
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]


class LinkedTokens:
    """A stateful stand-in for shared-tools OAuth: the tokens users have linked, per tool."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str, str], str] = {}

    async def for_user(self, tenant_id: str, user_id: str, tool_id: str) -> str:
        token = self.links.get((tenant_id, user_id, tool_id))
        if token is None:
            raise Conflict("link your account for this tool first", code="oauth_not_linked")
        return token


async def test_entries_needing_oauth_wait_in_needs_auth_and_run_with_each_users_token(uc: UseCases, team: Team) -> None:
    tokens = LinkedTokens()
    uc.tool_servers.linked = SharedToolAccounts(tokens)
    with pytest.raises(ValidationFailed) as refused:
        await uc.installations.install(team.owner, DRIVE, InstallRequest(scope=InstallScope.TENANT))
    assert refused.value.code == "per_user_tool"
    mine = await install(uc, team.owner, DRIVE)
    assert mine.status == "needs_auth"
    with pytest.raises(Unprocessable) as caught:
        await uc.installations.call_tool(team.owner, mine.id, ToolCall(name="echo", arguments={"text": "x"}))
    assert caught.value.code == "needs_auth"
    # Once the owner links the account, the next call starts the server with the owner's token.
    tokens.links[(team.tenant_id, team.owner.user_id, "google")] = "owner-token"
    tokens.links[(team.tenant_id, team.member.user_id, "google")] = "member-token"
    digest = await uc.installations.call_tool(
        team.owner, mine.id, ToolCall(name="env_digest", arguments={"name": "OAUTH_ACCESS_TOKEN"})
    )
    assert digest.content[0]["text"] == hashlib.sha256(b"owner-token").hexdigest()
    assert (await uc.installations.get(team.owner, mine.id)).status == "ready"
    # The member's own installation runs with the member's token, never the owner's.
    theirs = await install(uc, team.member, DRIVE)
    digest = await uc.installations.call_tool(
        team.member, theirs.id, ToolCall(name="env_digest", arguments={"name": "OAUTH_ACCESS_TOKEN"})
    )
    assert digest.content[0]["text"] == hashlib.sha256(b"member-token").hexdigest()
    with pytest.raises(NotFound):
        await uc.installations.call_tool(team.member, mine.id, ToolCall(name="env_digest", arguments={"name": "X"}))


async def test_a_server_that_exits_fails_with_the_reason(uc: UseCases, team: Team) -> None:
    view = await install(uc, team.owner, BROKEN)
    assert view.status == "failed"
    assert view.status_reason is not None
    assert "handshake" in view.status_reason or "exited" in view.status_reason
    assert await uc.ports.runtime.list(f"installation:{view.id}") == []


async def test_timeouts_and_crashes_answer_clear_errors_and_the_server_restarts(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, PROBE, PROBE_CONFIG)
    first = await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="pid"))
    with pytest.raises(Unavailable) as caught:
        await uc.installations.call_tool(
            team.owner, ready.id, ToolCall(name="slow", arguments={"seconds": 5}, timeout=0.3)
        )
    assert caught.value.code == "tool_call_timeout"
    # The session survives a timeout: the same server answers the next call.
    same = await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="pid"))
    assert same.content == first.content
    with pytest.raises(Unavailable) as caught:
        await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="crash"))
    assert caught.value.code == "tool_server_crashed"
    stopped = await uc.installations.get(team.owner, ready.id)
    assert stopped.status == "stopped"
    again = await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="pid"))
    assert again.content != first.content  # a new process
    assert (await uc.installations.get(team.owner, ready.id)).status == "ready"
    assert len(await uc.ports.runtime.list(f"installation:{ready.id}")) == 1


async def test_unknown_tool_and_unknown_installation(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, PROBE, PROBE_CONFIG)
    with pytest.raises(NotFound):
        await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="nope"))
    with pytest.raises(NotFound):
        await uc.installations.call_tool(team.owner, "01nonexistent", ToolCall(name="echo"))
    with pytest.raises(NotFound):
        await uc.installations.install(team.owner, "no-such-tool", InstallRequest())


async def test_visibility_by_scope_and_tenant(uc: UseCases, team: Team, admin: Principal) -> None:
    from tests.unit.conftest import make_team

    mine = await uc.installations.install(team.member, PROBE, InstallRequest(config=PROBE_CONFIG))
    assert mine.scope == "user"
    with pytest.raises(Forbidden):
        await uc.installations.install(
            team.member, PROBE, InstallRequest(config=PROBE_CONFIG, scope=InstallScope.TENANT)
        )
    shared = await uc.installations.install(
        team.owner, PROBE, InstallRequest(config=PROBE_CONFIG, scope=InstallScope.TENANT)
    )
    # The owner sees the tenant's, not the member's private one; the member sees both.
    assert {i.id for i in (await uc.installations.list(team.owner, PageRequest())).items} == {shared.id}
    assert {i.id for i in (await uc.installations.list(team.member, PageRequest())).items} == {shared.id, mine.id}
    with pytest.raises(NotFound):
        await uc.installations.get(team.owner, mine.id)
    with pytest.raises(NotFound):
        await uc.installations.call_tool(team.owner, mine.id, ToolCall(name="echo", arguments={"text": "hi"}))
    # The member may use the tenant's installation but not change it.
    await settled(uc, team.member, shared.id)
    echoed = await uc.installations.call_tool(team.member, shared.id, ToolCall(name="echo", arguments={"text": "hi"}))
    assert echoed.content[0]["text"] == "hi"
    with pytest.raises(Forbidden):
        await uc.installations.remove(team.member, shared.id)
    # Another tenant sees none of it.
    other = await make_team(uc, admin)
    for installation_id in (mine.id, shared.id):
        with pytest.raises(NotFound):
            await uc.installations.get(other.owner, installation_id)
        with pytest.raises(NotFound):
            await uc.installations.remove(other.owner, installation_id)
    await settled(uc, team.member, mine.id)


async def test_lists_show_every_change_at_once_here_and_after_a_poll_on_another_worker(
    uc: UseCases, team: Team
) -> None:
    worker2 = use_cases(uc.ports)  # same store, its own caches
    await worker2.revocations.poll()  # the first poll only takes the feed's cursor

    async def listed(workers: UseCases) -> dict[str, str]:
        return {i.id: i.status for i in (await workers.installations.list(team.member, PageRequest())).items}

    assert await listed(uc) == await listed(worker2) == {}  # both cached, empty
    view = await uc.installations.install(team.member, PROBE, InstallRequest(config=PROBE_CONFIG))
    assert view.id in await listed(uc)
    assert await listed(worker2) == {}  # the other worker's cache until its poll
    await worker2.revocations.poll()
    assert view.id in await listed(worker2)
    ready = await settled(uc, team.member, view.id)
    assert ready.status == "ready", ready.status_reason
    assert await listed(uc) == {view.id: "ready"}  # the status the server recorded, at once
    await worker2.revocations.poll()
    assert await listed(worker2) == {view.id: "ready"}
    await uc.installations.remove(team.member, view.id)
    assert await listed(uc) == {}
    await worker2.revocations.poll()
    assert await listed(worker2) == {}


async def test_quota_of_installations(uc: UseCases, team: Team) -> None:
    limited = dataclasses.replace(uc.installations.install, entitlements=FixedEntitlements())
    for _ in range(3):
        await limited(team.owner, DRIVE, InstallRequest())
    with pytest.raises(PaymentRequired) as caught:
        await limited(team.owner, DRIVE, InstallRequest())
    assert "installations" in caught.value.message


async def test_concurrent_installs_never_pass_the_quota(uc: UseCases, team: Team) -> None:
    limited = dataclasses.replace(uc.installations.install, entitlements=FixedEntitlements())  # the free plan: 3
    outcomes = await asyncio.gather(
        *(limited(team.owner, DRIVE, InstallRequest()) for _ in range(8)), return_exceptions=True
    )
    installed = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, PaymentRequired)]
    assert (len(installed), len(refused)) == (3, 5), outcomes
    assert (await uc.installations.list(team.owner, PageRequest())).total == 3
    for view in installed:
        await settled(uc, team.owner, view.id)


async def test_delete_removes_workload_secrets_and_workspace(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, PROBE, PROBE_CONFIG)
    workspace = uc.ports.workspaces.path(ready.id)
    await uc.installations.upload_files(team.owner, ready.id, [Upload("notes.txt", b"hello")])
    assert await uc.ports.runtime.list(f"installation:{ready.id}")
    await uc.installations.remove(team.owner, ready.id)
    assert await uc.ports.runtime.list(f"installation:{ready.id}") == []
    store = uc.ports.uow
    assert isinstance(store, MemoryUnitOfWorkFactory)
    assert ready.id not in store.store.installations
    assert not Path(workspace).exists()  # noqa: ASYNC240
    with pytest.raises(NotFound):
        await uc.installations.get(team.owner, ready.id)


async def test_uploads_land_in_the_workspace_with_safe_names_and_limits(uc: UseCases, team: Team) -> None:
    ready = await install(uc, team.owner, PROBE, PROBE_CONFIG)
    stored = await uc.installations.upload_files(
        team.owner, ready.id, [Upload("../../etc/passwd", b"x"), Upload("my report (1).csv", b"a,b\n")]
    )
    assert [f["name"] for f in stored.files] == ["passwd", "my_report_1_.csv"]
    listed = await uc.installations.call_tool(team.owner, ready.id, ToolCall(name="workspace"))
    assert listed.structured_content == {"result": ["my_report_1_.csv", "passwd"]}
    for bad in ("..", ".env", "/", ""):
        with pytest.raises(ValidationFailed):
            await uc.installations.upload_files(team.owner, ready.id, [Upload(bad, b"x")])
    big = dataclasses.replace(uc.installations.upload_files, max_file=10, max_total=24)
    with pytest.raises(ValidationFailed) as caught:
        await big(team.owner, ready.id, [Upload("big.bin", b"x" * 11)])
    assert caught.value.code == "file_too_large"
    with pytest.raises(ValidationFailed) as caught:
        await big(team.owner, ready.id, [Upload("a.bin", b"x" * 10), Upload("b.bin", b"x" * 10)])
    assert caught.value.code == "workspace_full"


async def test_an_upload_never_writes_through_a_link_the_server_left(uc: UseCases, team: Team, tmp_path: Path) -> None:
    ready = await install(uc, team.owner, PROBE, PROBE_CONFIG)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    workspace = Path(uc.ports.workspaces.path(ready.id))
    (workspace / "notes.txt").symlink_to(outside)
    (workspace / "big").symlink_to("/dev/zero")
    await uc.installations.upload_files(team.owner, ready.id, [Upload("notes.txt", b"uploaded")])
    assert outside.read_text() == "keep me"
    assert not (workspace / "notes.txt").is_symlink()
    read = await uc.installations.call_tool(
        team.owner, ready.id, ToolCall(name="read_file", arguments={"name": "notes.txt"})
    )
    assert read.structured_content == {"result": "uploaded"}
