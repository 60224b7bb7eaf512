"""ModelProvider contract, on the scripted in-memory provider and on the OpenAI-compatible adapter
against the suite's scripted server: text deltas, whole tool calls, usage or none, finish, failures as
core errors. Then what the adapter sends (messages, tools, tool_choice, stream) and how it copes with
real servers' ways: a dropped stream, an unreachable server, refusals."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tesserra_adapters.bootstrap import model_provider
from tesserra_adapters.memory.models import ScriptedModel, Step, call, say
from tesserra_adapters.models import OpenAiCompatible
from tesserra_adapters.outbound import on_demand_client
from tesserra_adapters.settings import Settings
from tesserra_core.errors import TesserraError, Unavailable, UpstreamFailed
from tesserra_core.ports.models import (
    ChatMessage,
    ChatTurn,
    Finish,
    ModelEvent,
    ModelProvider,
    ReportedUsage,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from tesserra_core.ports.tracing import NoTracer
from tests.servers.otlp import collecting
from tests.servers.scripted_model import DROP, ScriptedModelServer, scripted_model
from tests.support import free_port


@dataclass
class Subject:
    provider: ModelProvider
    script: Callable[..., None]


@pytest.fixture(params=["scripted", "http"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "scripted":
        model = ScriptedModel()
        yield Subject(model, model.script)
        return
    async with scripted_model() as server, on_demand_client(timeout=20.0) as client:
        yield Subject(OpenAiCompatible(client, server.url, api_key="k", model="m"), server.script)


@pytest.fixture
async def server() -> AsyncIterator[ScriptedModelServer]:
    async with scripted_model() as srv:
        yield srv


TURN = ChatTurn(messages=(ChatMessage(role="user", content="oi"),))


async def _events(provider: ModelProvider, turn: ChatTurn = TURN) -> list[ModelEvent]:
    return [event async for event in provider.stream(turn)]


async def test_text_deltas_then_finish_and_no_usage_when_none_is_reported(subject: Subject) -> None:
    subject.script(say("Olá, mundo!", pieces=4))
    events = await _events(subject.provider)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Olá, mundo!"
    assert len([e for e in events if isinstance(e, TextDelta)]) == 4
    assert not [e for e in events if isinstance(e, ReportedUsage)]
    assert events[-1] == Finish("stop")


async def test_reported_usage_comes_through(subject: Subject) -> None:
    subject.script(say("ok", usage=(31, 2)))
    events = await _events(subject.provider)
    assert ReportedUsage(31, 2) in events
    assert events[-1] == Finish("stop")


async def test_a_tool_call_arrives_whole(subject: Subject) -> None:
    arguments = json.dumps({"status": "active", "name": "loja"})
    subject.script(call("list_projects", arguments, call_id="call_abc"))
    events = await _events(subject.provider)
    assert [e for e in events if isinstance(e, ToolCall)] == [
        ToolCall(id="call_abc", name="list_projects", arguments=arguments)
    ]
    assert events[-1] == Finish("tool_calls")


async def test_two_tool_calls_in_one_turn_keep_their_order(subject: Subject) -> None:
    first, second = (
        ToolCall(id="a", name="list_projects", arguments="{}"),
        ToolCall(id="b", name="list_domains", arguments='{"limite": 5}'),
    )
    subject.script([first, second, Finish("tool_calls")])
    events = await _events(subject.provider)
    assert [e for e in events if isinstance(e, ToolCall)] == [first, second]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (Unavailable("down", code="model_unavailable"), Unavailable),
        (UpstreamFailed("no", code="model_failed"), UpstreamFailed),
    ],
)
async def test_failures_are_core_errors(subject: Subject, failure: TesserraError, kind: type[TesserraError]) -> None:
    subject.script([failure])
    with pytest.raises(kind):
        await _events(subject.provider)


# -- the adapter over HTTP ---------------------------------------------------------------------------


async def _adapter_events(
    server: ScriptedModelServer, turn: ChatTurn, *steps: Sequence[Step], **options: object
) -> list[ModelEvent]:
    server.script(*steps)
    async with on_demand_client(timeout=20.0) as client:
        adapter = OpenAiCompatible(client, server.url, api_key="sk-test", model="tiny", **options)  # type: ignore[arg-type]
        return await _events(adapter, turn)


async def test_the_request_is_a_streamed_chat_completion_with_the_tools_offered(server: ScriptedModelServer) -> None:
    spec = ToolSpec(name="list_projects", description="The tenant's projects.", parameters={"type": "object"})
    history = (
        ChatMessage(role="system", content="be brief"),
        ChatMessage(role="user", content="oi"),
        ChatMessage(role="assistant", tool_calls=(ToolCall(id="c1", name="list_projects", arguments="{}"),)),
        ChatMessage(role="tool", content='{"items":[]}', tool_call_id="c1"),
    )
    turn = ChatTurn(messages=history, tools=(spec,), temperature=0.2, max_tokens=100)
    await _adapter_events(server, turn, say("nada"))

    [sent] = server.requests
    assert sent["model"] == "tiny"
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["tool_choice"] == "auto"
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "list_projects",
                "description": "The tenant's projects.",
                "parameters": {"type": "object"},
            },
        }
    ]
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 100
    assert "top_p" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "oi"},
        {
            "role": "assistant",
            "content": "",  # never null: some servers refuse an assistant message whose content is null
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "list_projects", "arguments": "{}"}}],
        },
        {"role": "tool", "content": '{"items":[]}', "tool_call_id": "c1"},
    ]
    assert server.headers[0]["authorization"] == "Bearer sk-test"


async def test_without_tools_no_tools_nor_tool_choice_are_sent(server: ScriptedModelServer) -> None:
    await _adapter_events(server, TURN, say("x"), ask_usage=False)
    [sent] = server.requests
    assert "tools" not in sent
    assert "tool_choice" not in sent
    assert "stream_options" not in sent


async def test_a_per_turn_model_wins_over_the_configured_one(server: ScriptedModelServer) -> None:
    await _adapter_events(server, ChatTurn(messages=TURN.messages, model="other"), say("x"))
    assert server.requests[0]["model"] == "other"


async def test_a_dropped_stream_is_a_broken_stream(server: ScriptedModelServer) -> None:
    with pytest.raises(UpstreamFailed) as raised:
        await _adapter_events(server, TURN, [TextDelta("partial"), DROP])
    assert raised.value.code == "model_stream_broken"


async def test_an_unreachable_server_is_unavailable() -> None:
    async with on_demand_client(timeout=5.0) as client:
        adapter = OpenAiCompatible(client, f"http://127.0.0.1:{free_port()}/v1", model="m")
        with pytest.raises(Unavailable) as raised:
            await _events(adapter)
    assert raised.value.code == "model_unavailable"


async def test_a_slow_server_is_unavailable_after_the_timeout(server: ScriptedModelServer) -> None:
    server.script([5.0, *say("late")])
    async with on_demand_client(timeout=0.5) as client:
        adapter = OpenAiCompatible(client, server.url, model="m")
        with pytest.raises(Unavailable):
            await _events(adapter)


async def test_no_model_anywhere_is_unavailable(server: ScriptedModelServer) -> None:
    async with on_demand_client(timeout=5.0) as client:
        adapter = OpenAiCompatible(client, server.url)
        with pytest.raises(Unavailable, match="TESSERRA_MODEL"):
            await _events(adapter)
    assert server.requests == []


async def test_without_streamed_tools_a_turn_offering_tools_is_one_whole_completion(
    server: ScriptedModelServer,
) -> None:
    async with on_demand_client(timeout=20.0) as client:
        provider = OpenAiCompatible(client, server.url, model="m", stream_tools=False)
        tools = (ToolSpec(name="list_projects", description="d", parameters={"type": "object"}),)
        server.script(
            [
                TextDelta("vou "),
                TextDelta("ver"),
                ToolCall(id="c1", name="list_projects", arguments="{}"),
                ToolCall(id="c2", name="list_projects", arguments='{"a": 1}'),
                ReportedUsage(7, 3),
                Finish("tool_calls"),
            ],
            [TextDelta("sem "), TextDelta("ferramentas"), Finish("stop")],
        )

        whole = await _events(provider, ChatTurn(messages=TURN.messages, tools=tools))
        plain = await _events(provider)

    assert whole == [
        TextDelta("vou ver"),
        ToolCall(id="c1", name="list_projects", arguments="{}"),
        ToolCall(id="c2", name="list_projects", arguments='{"a": 1}'),
        ReportedUsage(7, 3),
        Finish("tool_calls"),
    ]
    assert plain == [TextDelta("sem "), TextDelta("ferramentas"), Finish("stop")]  # no tools: still streamed
    first, second = server.requests
    assert first["stream"] is False
    assert "stream_options" not in first
    assert first["tool_choice"] == "auto"
    assert server.headers[0]["accept"] == "application/json"
    assert second["stream"] is True


async def test_a_refused_whole_completion_is_a_core_error(server: ScriptedModelServer) -> None:
    async with on_demand_client(timeout=20.0) as client:
        provider = OpenAiCompatible(client, server.url, model="m", stream_tools=False)
        tools = (ToolSpec(name="t", description="d", parameters={"type": "object"}),)
        server.script([UpstreamFailed("no")])
        with pytest.raises(UpstreamFailed):
            await _events(provider, ChatTurn(messages=TURN.messages, tools=tools))


async def test_with_tracing_on_a_call_carries_the_current_spans_trace_context(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    """The model server is called with the W3C ``traceparent`` of the span the call runs under (the
    composition root's client, with a real OTLP receiver); a call outside any span carries none, nor
    does any call with tracing off."""
    from tesserra_adapters.tracing import OtelTracer

    settings = Settings(data_dir=tmp_path, model_base_url=server.url, model="m")
    trace_id, caller = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    async with collecting() as collector:
        tracer = OtelTracer(collector.url)
        try:
            server.script(say("one"), say("two"))
            async with model_provider(settings, tracer) as provider:
                with tracer.span("turn", server=True, remote={"traceparent": f"00-{trace_id}-{caller}-01"}):
                    await _events(provider)
                await _events(provider)  # no span: a background call
        finally:
            await asyncio.to_thread(tracer.shutdown)  # flushes the span to the collector
        [turn] = [s for s in collector.spans if s["name"] == "turn"]
    under_span, outside = server.headers
    assert under_span["traceparent"] == f"00-{trace_id}-{turn['id']}-01"
    assert (turn["trace"], turn["parent"]) == (trace_id, caller)
    assert "traceparent" not in outside

    server.script(say("three"))
    async with model_provider(settings, NoTracer()) as provider:
        with NoTracer().span("turn", server=True, remote={"traceparent": f"00-{trace_id}-{caller}-01"}):
            await _events(provider)
    assert "traceparent" not in server.headers[-1]
