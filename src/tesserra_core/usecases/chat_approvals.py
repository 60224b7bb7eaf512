"""Approving an agent's destructive tool calls.

A tool whose MCP annotations say destructive (``destructiveHint``; Tesserra's own tools declare theirs)
does not run when the model asks for it. The answer stores an ``Approval``, turns ``pending_approval``,
sends ``approval_required`` (tool, arguments, approval id) and waits; the conversation's user approves
or denies it (``DecideApproval``), and the same answer goes on streaming: the tool runs as that user, or
the model is told the user denied it. Only one outcome ever happens: a decision is a conditional update
of a pending approval, so of two racing decisions (approve and deny, or two of either) one wins and the
other is 409 ``approval_decided``. An approval nobody decides in time is denied (``expired``); one whose
answer ends first (cancelled, deleted, the server stopped) is ``cancelled`` and never runs: a server
that restarts marks its answer interrupted, it does not resume it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, ClassVar, Literal

import msgspec

from tesserra_core.domain.chat_streams import EventName
from tesserra_core.domain.conversations import Approval, ApprovalStatus, Message, MessageStatus
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.domain.text import Input
from tesserra_core.errors import Conflict, NotFound
from tesserra_core.ports.models import ToolCall
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.agent_loop import MAX_TOOL_NAME, Emit, cap
from tesserra_core.usecases.conversations import ApprovalView, answer_of

APPROVAL_TIMEOUT = 600.0
"""Seconds an approval waits for the user's decision by default; then it is denied (``expired``)."""


class Decision(Input, frozen=True, forbid_unknown_fields=True):
    decision: Annotated[Literal["approve", "deny"], msgspec.Meta(description="Run the tool call, or refuse it.")]


@dataclass(eq=False)
class ApprovalGate:
    """Where answers of this process wait for decisions: stored, and woken at once by a decision made in
    this process (one made in another is seen within ``poll`` seconds)."""

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdFactory
    timeout: float = APPROVAL_TIMEOUT
    poll: float = 1.0
    waiting: dict[str, asyncio.Event] = field(default_factory=dict)

    async def ask(self, reply: Message, call: ToolCall, emit: Emit) -> ApprovalStatus:
        """Store an approval of ``call`` for the answer ``reply``, tell the stream, and wait for how it
        ends (approved, denied or expired). Cancelled meanwhile, it ends ``cancelled``."""
        now = self.clock.now()
        approval = Approval(
            id=self.ids.new(),
            tenant_id=reply.tenant_id,
            conversation_id=reply.conversation_id,
            message_id=reply.id,
            tool_call_id=call.id[:MAX_TOOL_NAME],
            tool=call.name[:MAX_TOOL_NAME],
            arguments=cap(call.arguments),
            status=ApprovalStatus.PENDING,
            created_at=now,
            expires_at=now + timedelta(seconds=self.timeout),
        )
        woken = self.waiting[approval.id] = asyncio.Event()
        try:
            async with self.uow() as uow:
                await uow.approvals.add(approval)
                await uow.messages.update(msgspec.structs.replace(reply, status=MessageStatus.PENDING_APPROVAL))
                await uow.commit()
            await emit(
                EventName.APPROVAL_REQUIRED,
                {
                    "approval_id": approval.id,
                    "tool_call_id": approval.tool_call_id,
                    "name": approval.tool,
                    "arguments": approval.arguments,
                    "expires_at": approval.expires_at.isoformat(),
                },
            )
            outcome = await self._outcome(approval, woken)
            async with self.uow() as uow:
                await uow.messages.update(msgspec.structs.replace(reply, status=MessageStatus.STREAMING))
                await uow.commit()
            return outcome
        except BaseException:
            await asyncio.shield(self._end(approval, ApprovalStatus.CANCELLED))
            raise
        finally:
            self.waiting.pop(approval.id, None)

    async def _outcome(self, approval: Approval, woken: asyncio.Event) -> ApprovalStatus:
        while True:
            async with self.uow(read_only=True) as uow:
                current = await uow.approvals.get(approval.tenant_id, approval.message_id, approval.id)
            if current is None:  # its conversation is gone
                return ApprovalStatus.CANCELLED
            if current.status is not ApprovalStatus.PENDING:
                return current.status
            left = (approval.expires_at - self.clock.now()).total_seconds()
            if left <= 0:
                await self._end(approval, ApprovalStatus.EXPIRED)
                continue  # expired now, or decided just before: read which
            woken.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(left, self.poll))

    async def _end(self, approval: Approval, status: ApprovalStatus) -> bool:
        async with self.uow() as uow:
            ended = await uow.approvals.decide(approval.tenant_id, approval.id, status, self.clock.now())
            await uow.commit()
        return ended

    def wake(self, approval_id: str) -> None:
        woken = self.waiting.get(approval_id)
        if woken is not None:
            woken.set()


@dataclass(frozen=True, slots=True)
class DecideApproval:
    """Approve or deny a destructive tool call an answer waits on (``approval_required``): approved, the
    tool runs as you and the same answer goes on; denied, the model is told so. Only the conversation's
    user decides; a call decided already (or expired, or whose answer ended) is 409 ``approval_decided``."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    gate: ApprovalGate
    clock: Clock

    async def __call__(
        self, actor: Principal, conversation_id: str, message_id: str, approval_id: str, cmd: Decision
    ) -> ApprovalView:
        actor.require(self.scope)
        status = ApprovalStatus.APPROVED if cmd.decision == "approve" else ApprovalStatus.DENIED
        now = self.clock.now()
        async with self.uow() as uow:
            await answer_of(uow, actor, conversation_id, message_id)
            approval = await uow.approvals.get(actor.tenant_id, message_id, approval_id)
            if approval is None:
                raise NotFound("no such approval for this answer", code="approval_not_found")
            if approval.status is ApprovalStatus.PENDING and now >= approval.expires_at:
                status = ApprovalStatus.EXPIRED  # too late: it ends as the timeout would end it
            decided = await uow.approvals.decide(actor.tenant_id, approval_id, status, now)
            await uow.commit()
        self.gate.wake(approval_id)
        if not decided or status is ApprovalStatus.EXPIRED:
            async with self.uow(read_only=True) as uow:
                current = await uow.approvals.get(actor.tenant_id, message_id, approval_id)
            state = current.status.value if current is not None else "gone"
            raise Conflict(f"this approval is {state} already", code="approval_decided")
        return ApprovalView.of(msgspec.structs.replace(approval, status=status, decided_at=now))
