"""The agent loop: call the model, run the tool calls it asks for, feed the results back, until it
answers or a limit (steps, tool calls, tokens) stops it.

Every tool call runs as the conversation's user (``actor``) through the same use case as the REST call,
with the same scope and tier checks. The model never names who acts: it only names a tool and its
arguments. A tool outside the agent's list, beyond the user's rights, or with arguments that do not
match its schema goes back to the model as a structured error and never runs. A destructive tool
runs only once the user approves the call (``approve``); denied, or not decided in time, the model is
told so and it never runs. Results are capped in size, with a marker saying how much was cut.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from tesserra_core.domain.agents import Agent
from tesserra_core.domain.chat_streams import EventName
from tesserra_core.domain.conversations import (
    ApprovalStatus,
    StopReason,
    ToolCallRecord,
    ToolOutcome,
    Usage,
    estimate_tokens,
)
from tesserra_core.domain.identity import Principal
from tesserra_core.domain.jsonschema import validate
from tesserra_core.errors import TesserraError
from tesserra_core.ports.models import (
    ChatMessage,
    ChatTurn,
    Finish,
    ModelProvider,
    ReportedUsage,
    TextDelta,
    ToolCall,
)
from tesserra_core.usecases.agent_tools import AgentTool, InstallationTools
from tesserra_core.usecases.guards import Throttle, rate_limited

MAX_TOOL_RESULT = 16_000
"""The most characters of one tool result the model is given (and of a call's arguments kept)."""
MAX_TOOL_NAME = 128

_STOPPED = {
    StopReason.STEP_LIMIT: "I stopped before finishing: this agent's limit of model steps was reached.",
    StopReason.TOOL_CALL_LIMIT: "I stopped before finishing: this agent's limit of tool calls was reached.",
    StopReason.TOKEN_LIMIT: "I stopped before finishing: this agent's limit of tokens per answer was reached.",
}


Emit = Callable[[EventName, dict[str, Any]], Awaitable[None]]
"""Where the loop tells what happens as it happens (a streamed answer's events)."""


Approve = Callable[[ToolCall], Awaitable[ApprovalStatus]]
"""Asks the user whether a destructive call may run, and waits for the answer."""

_REFUSED = {
    ApprovalStatus.DENIED: ("denied_by_user", "the user denied this tool call: it did not run"),
    ApprovalStatus.EXPIRED: ("approval_timeout", "nobody approved this tool call in time: it did not run"),
}


async def _silent(name: EventName, data: dict[str, Any]) -> None:
    return None


async def _nobody(call: ToolCall) -> ApprovalStatus:
    return ApprovalStatus.DENIED


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    content: str
    stop_reason: StopReason
    tool_calls: tuple[ToolCallRecord, ...]
    usage: Usage
    steps: int


def cap(text: str, limit: int = MAX_TOOL_RESULT) -> str:
    """``text``, or its first ``limit`` characters and a marker naming how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[truncated: {len(text) - limit} more characters]"


def clean(text: str) -> str:
    """What a model wrote, storable everywhere: without NUL characters (PostgreSQL refuses them in text)
    or lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _error(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


class _Step(msgspec.Struct, kw_only=True):
    text: str
    calls: tuple[ToolCall, ...]
    usage: Usage


@dataclass(frozen=True, slots=True)
class AgentLoop:
    models: ModelProvider
    tools: Mapping[str, AgentTool]
    """The registry of Tesserra's own tools (an agent is offered those it names)."""
    installations: InstallationTools
    throttle: Throttle
    max_result: int = MAX_TOOL_RESULT

    async def answer(
        self,
        actor: Principal,
        agent: Agent,
        history: Sequence[ChatMessage],
        emit: Emit = _silent,
        approve: Approve = _nobody,
    ) -> Answer:
        """The agent's answer to the conversation so far (``history`` ends with the user's message); ``emit``
        hears each text delta, tool call, tool result and step's usage as it happens; ``approve`` decides
        each destructive call (by default nobody approves: it is denied)."""
        messages = [ChatMessage(role="system", content=agent.instructions), *history]
        own = {name: self.tools[name] for name in agent.tools if name in self.tools}
        available = {**await self.installations.offered(actor, agent), **own}  # a registry name wins a clash
        specs = tuple(tool.spec for tool in available.values())
        limits = agent.limits
        records: list[ToolCallRecord] = []
        usage = Usage()
        text = ""
        for step in range(1, limits.max_steps + 1):
            room = limits.max_tokens_per_turn - usage.completion_tokens
            if room <= 0:
                return self._stop(StopReason.TOKEN_LIMIT, text, records, usage, step - 1)
            turn = ChatTurn(
                messages=tuple(messages),
                tools=specs,
                model=agent.model,
                temperature=agent.sampling.temperature,
                top_p=agent.sampling.top_p,
                max_tokens=room,
            )
            result = await self._call(turn, emit)
            usage += result.usage
            await emit(EventName.USAGE, msgspec.to_builtins(result.usage))
            text = result.text
            if not result.calls:
                return Answer(
                    content=text, stop_reason=StopReason.ANSWER, tool_calls=tuple(records), usage=usage, steps=step
                )
            messages.append(ChatMessage(role="assistant", content=text, tool_calls=result.calls))
            for call in result.calls:
                if len(records) >= limits.max_tool_calls:
                    return self._stop(StopReason.TOOL_CALL_LIMIT, text, records, usage, step)
                await emit(EventName.TOOL_CALL, {"id": call.id, "name": call.name, "arguments": call.arguments})
                record = await self._run(actor, available, call, approve)
                await emit(EventName.TOOL_RESULT, {"id": record.id, "outcome": record.outcome, "result": record.result})
                records.append(record)
                messages.append(ChatMessage(role="tool", content=record.result, tool_call_id=call.id))
        return self._stop(StopReason.STEP_LIMIT, text, records, usage, limits.max_steps)

    @staticmethod
    def _stop(reason: StopReason, text: str, records: list[ToolCallRecord], usage: Usage, steps: int) -> Answer:
        return Answer(
            content=text or _STOPPED[reason], stop_reason=reason, tool_calls=tuple(records), usage=usage, steps=steps
        )

    async def _call(self, turn: ChatTurn, emit: Emit) -> _Step:
        parts: list[str] = []
        calls: list[ToolCall] = []
        reported: ReportedUsage | None = None
        async for event in self.models.stream(turn):
            if isinstance(event, TextDelta):
                piece = clean(event.text)
                parts.append(piece)
                if piece:
                    await emit(EventName.TEXT_DELTA, {"text": piece})
            elif isinstance(event, ToolCall):
                calls.append(ToolCall(id=clean(event.id), name=clean(event.name), arguments=clean(event.arguments)))
            elif isinstance(event, ReportedUsage):
                reported = event
            elif isinstance(event, Finish):
                break
        text = "".join(parts)
        if reported is not None:
            usage = Usage(prompt_tokens=reported.prompt_tokens, completion_tokens=reported.completion_tokens)
        else:
            sent = sum(
                estimate_tokens(m.content) + sum(estimate_tokens(c.arguments) for c in m.tool_calls)
                for m in turn.messages
            )
            made = estimate_tokens(text) + sum(estimate_tokens(c.name + c.arguments) for c in calls)
            usage = Usage(prompt_tokens=sent, completion_tokens=made, estimated=True)
        return _Step(text=text, calls=tuple(calls), usage=usage)

    async def _run(
        self, actor: Principal, available: Mapping[str, AgentTool], call: ToolCall, approve: Approve
    ) -> ToolCallRecord:
        def record(outcome: ToolOutcome, result: str) -> ToolCallRecord:
            return ToolCallRecord(
                id=call.id[:MAX_TOOL_NAME],
                name=call.name[:MAX_TOOL_NAME],
                arguments=cap(call.arguments, self.max_result),
                outcome=outcome,
                result=cap(result, self.max_result),
            )

        tool = available.get(call.name)
        if tool is None:
            refused = f"{call.name!r} is not one of this agent's tools"
            return record(ToolOutcome.DENIED, _error("tool_not_allowed", refused))
        refusal = tool.refusal(actor)
        if refusal is not None:
            return record(ToolOutcome.DENIED, _error(refusal.code, refusal.message))
        if tool.rate_limit is not None:
            decision = await self.throttle(tool.rate_limit, actor.subject)
            if not decision.allowed:
                limited = rate_limited(decision)
                return record(ToolOutcome.DENIED, _error(limited.code, limited.message))
        try:
            arguments: Any = json.loads(call.arguments or "{}")
        except ValueError:
            return record(ToolOutcome.INVALID, _error("invalid_arguments", "the arguments are not valid JSON"))
        try:
            validate(arguments, tool.parameters, "arguments")
        except TesserraError as exc:
            return record(ToolOutcome.INVALID, _error("invalid_arguments", exc.message))
        if tool.destructive:
            verdict = await approve(call)
            if verdict is not ApprovalStatus.APPROVED:
                code, message = _REFUSED.get(verdict, _REFUSED[ApprovalStatus.DENIED])
                return record(ToolOutcome.DENIED, _error(code, message))
        try:
            result = await tool.run(actor, arguments)
        except TesserraError as exc:
            return record(ToolOutcome.FAILED, _error(exc.code, exc.message))
        return record(ToolOutcome.OK, msgspec.json.encode(result).decode())
