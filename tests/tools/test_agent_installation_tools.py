"""An agent's tool call to a real installed tool server: mcp-server-time, run by the process runtime
(sandboxed), called by the agent loop as the conversation's user through CallInstallationTool."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import msgspec
import pytest

from tesserra_adapters.bootstrap import build, memory_ports, secret_box_from
from tesserra_adapters.memory.models import ScriptedModel, call, say
from tesserra_adapters.plans import FixedEntitlements
from tesserra_adapters.runtime.process import ProcessRuntime
from tesserra_adapters.runtime.sandbox import Sandbox
from tesserra_adapters.settings import Settings
from tesserra_core.domain.agents import InstallationToolRef, agent_catalog
from tesserra_core.domain.conversations import ApprovalStatus, ToolOutcome
from tesserra_core.domain.plans import PlanLimits
from tesserra_core.domain.tools import InstallScope
from tesserra_core.facade import UseCases
from tesserra_core.ports.models import ChatMessage, ToolCall
from tesserra_core.usecases.conversations import NewConversation, NewMessage
from tesserra_core.usecases.installations import InstallRequest
from tests.tools.conftest import Team
from tests.tools.helpers import PROBE, TIME, settled


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture
async def uc(settings: Settings, exit_stack: AsyncExitStack, model: ScriptedModel) -> AsyncIterator[UseCases]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    box = secret_box_from(settings)
    runtime = ProcessRuntime(settings.data_dir, box=box, sandbox=Sandbox())
    entitlements = FixedEntitlements(PlanLimits(installations=50))
    ports = memory_ports(settings, exit_stack, secret_box=box, runtime=runtime, entitlements=entitlements, models=model)
    facade = await build(ports, settings)
    try:
        yield facade
    finally:
        await facade.tool_servers.close()
        for workload in await runtime.list():
            await runtime.remove(workload.id)
        await runtime.aclose()


async def test_the_agent_calls_the_installed_time_server_as_the_user(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    view = await uc.installations.install(
        team.owner, TIME, InstallRequest(scope=InstallScope.TENANT, config={"TZ": "Europe/Lisbon"})
    )
    assert (await settled(uc, team.owner, view.id)).status == "ready"
    model.script(call("get_current_time", {"timezone": "Asia/Tokyo"}), say("Em Tóquio já é amanhã."))
    conversation = await uc.conversations.start(team.member, NewConversation(agent_id="ops-assistant"))

    exchange = await uc.conversations.send(team.member, conversation.id, NewMessage(content="Que horas são em Tóquio?"))

    assert "get_current_time" in {t.name for t in model.requests[0].tools}
    [record] = exchange.reply.tool_calls
    assert record.outcome is ToolOutcome.OK, record.result
    result = json.loads(record.result)
    assert result["installation_id"] == view.id
    assert result["is_error"] is False
    assert "Asia/Tokyo" in json.dumps(result["content"])
    assert model.requests[1].messages[-1].content == record.result
    assert exchange.reply.content == "Em Tóquio já é amanhã."


async def test_a_tool_its_server_annotates_destructive_waits_for_approval_and_others_do_not(
    uc: UseCases, team: Team, model: ScriptedModel
) -> None:
    """The probe server annotates ``forget`` destructiveHint and ``echo`` not at all: the installation keeps
    what the server said, and the loop asks before ``forget`` (denied here: it never runs) but not before
    ``echo``."""
    view = await uc.installations.install(
        team.owner, PROBE, InstallRequest(scope=InstallScope.TENANT, config={"PROBE_TOKEN": "s3cret"})
    )
    assert (await settled(uc, team.owner, view.id)).status == "ready"
    async with uc.ports.uow(read_only=True) as uow:
        installation = await uow.installations.get(team.tenant_id, view.id)
    assert installation is not None
    flags = {t.name: t.destructive for t in installation.tools}
    assert (flags["forget"], flags["echo"]) == (True, False)
    agent = msgspec.structs.replace(
        agent_catalog().agent("ops-assistant"),
        installation_tools=(
            InstallationToolRef(entry_id=PROBE, tool="forget"),
            InstallationToolRef(entry_id=PROBE, tool="echo"),
        ),
    )
    asked: list[ToolCall] = []

    async def deny(call_: ToolCall) -> ApprovalStatus:
        asked.append(call_)
        return ApprovalStatus.DENIED

    model.script(
        call("echo", {"text": "oi"}, call_id="c1"), call("forget", {"name": "notes.txt"}, call_id="c2"), say("ok")
    )
    answer = await uc.conversations.send.post.loop.answer(
        team.owner, agent, [ChatMessage(role="user", content="x")], approve=deny
    )

    echoed, forgotten = answer.tool_calls
    assert echoed.outcome is ToolOutcome.OK
    assert forgotten.outcome is ToolOutcome.DENIED
    assert json.loads(forgotten.result)["error"]["code"] == "denied_by_user"
    assert [c.id for c in asked] == ["c2"]
