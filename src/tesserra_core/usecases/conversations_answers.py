"""Posting a message and following, cancelling and waiting for the agent's answer
(``/api/conversas/{id}/mensagens``).

Posting stores the user's message and a ``streaming`` answer, then generates the answer in the server
(``AnswerBoard``), detached from the request: a client that goes away does not stop it. The answer's
events can be followed as they come (server-sent events) or the whole answer awaited. A post with an
``Idempotency-Key`` already used in the conversation makes no second message and no second model call:
it gets the first post's answer (waiting for it, following it, or the same error again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from tesserra_core.domain.chat_streams import EventName, StreamEvent
from tesserra_core.domain.conversations import (
    GENERATING,
    ApprovalStatus,
    Conversation,
    ConversationStatus,
    Message,
    MessageStatus,
    Role,
    StopReason,
)
from tesserra_core.domain.identity import Principal, Scope
from tesserra_core.errors import (
    Conflict,
    NotFound,
    PaymentRequired,
    TesserraError,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    ValidationFailed,
)
from tesserra_core.ports import Ports
from tesserra_core.ports.models import ChatMessage, ToolCall
from tesserra_core.ports.persistence import UnitOfWorkFactory
from tesserra_core.ports.system import Clock, IdFactory
from tesserra_core.usecases.agent_loop import AgentLoop, cap
from tesserra_core.usecases.agents import AgentDirectory
from tesserra_core.usecases.chat_approvals import APPROVAL_TIMEOUT, ApprovalGate, DecideApproval
from tesserra_core.usecases.chat_budgets import ChatBudgets, Reservation
from tesserra_core.usecases.chat_streams import AnswerBoard, LiveAnswer, Recorder, RepairAnswers
from tesserra_core.usecases.conversations import (
    HISTORY,
    Exchange,
    GetConversation,
    ListConversations,
    ListMessages,
    MessageView,
    NewMessage,
    StartConversation,
    UpdateConversation,
    answer_of,
    conversation_of,
    view_of,
)

MAX_KEY = 255

log = logging.getLogger(__name__)


class Posted(msgspec.Struct, frozen=True, kw_only=True):
    message: Message
    reply: Message


HISTORY_TOOL_CALLS = 8
"""The most tool calls of one earlier answer the model is given again (its last ones)."""
HISTORY_TOOL_RESULT = 2_000
"""The most characters of an earlier tool result (or call's arguments) the model is given again."""


def _as_chat(message: Message) -> list[ChatMessage]:
    """An earlier message as the model is given it again: an answer that called tools is its calls
    (an assistant message with empty content and the ``tool_calls``), their results (``tool``
    messages), then its text; each capped."""
    if message.role is Role.USER or not message.tool_calls:
        return [ChatMessage(role=message.role.value, content=message.content)]
    records = message.tool_calls[-HISTORY_TOOL_CALLS:]
    calls = tuple(ToolCall(id=r.id, name=r.name, arguments=cap(r.arguments, HISTORY_TOOL_RESULT)) for r in records)
    results = [ChatMessage(role="tool", content=cap(r.result, HISTORY_TOOL_RESULT), tool_call_id=r.id) for r in records]
    return [
        ChatMessage(role="assistant", content="", tool_calls=calls),
        *results,
        ChatMessage(role="assistant", content=message.content),
    ]


def _error_of(reply: MessageView) -> TesserraError:
    """A failed answer's error, as it was raised (for a retry of the same post)."""
    message = reply.error or "the model provider failed"
    kind = _FAILURES.get(reply.error_code or "", UpstreamFailed)
    return kind(message, code=reply.error_code or "model_failed")


_FAILURES: dict[str, type[TesserraError]] = {"model_unavailable": Unavailable, "chat_budget_spent": PaymentRequired}


class Spending:
    """What an answer has spent so far: its streamed text (estimated) and tool calls, then what the loop
    counted. Text past the reservation stops the answer (402 ``chat_budget_spent``)."""

    def __init__(self, reservation: Reservation) -> None:
        self.reservation = reservation
        self.tokens = 0
        self.tool_calls = 0
        self._text = 0

    def count(self, name: EventName, data: dict[str, Any]) -> None:
        if name is EventName.TEXT_DELTA:
            self._text += len(data["text"])
            self.tokens = max(self.tokens, (self._text + 3) // 4)
            if self.tokens > self.reservation.tokens:
                raise PaymentRequired("this answer went past the tokens reserved for it", code="chat_budget_spent")
        elif name is EventName.TOOL_CALL:
            self.tool_calls += 1

    def settled(self, tokens: int, tool_calls: int) -> None:
        self.tokens, self.tool_calls = tokens, tool_calls


@dataclass(frozen=True, slots=True)
class PostMessage:
    """Store the user's message and a streaming answer, and start generating it (or find the first post
    made with the same ``Idempotency-Key``)."""

    uow: UnitOfWorkFactory
    loop: AgentLoop
    board: AnswerBoard
    budgets: ChatBudgets
    ids: IdFactory
    clock: Clock
    gate: ApprovalGate

    async def __call__(self, actor: Principal, conversation_id: str, cmd: NewMessage, key: str | None) -> Posted:
        actor.require(Scope.CHAT_WRITE)
        if not cmd.content.strip():
            raise ValidationFailed("content must not be only white space", code="empty_message")
        if key is not None and not 0 < len(key) <= MAX_KEY:
            raise ValidationFailed(f"Idempotency-Key must be 1-{MAX_KEY} characters", code="invalid_idempotency_key")
        async with self.uow(read_only=True) as uow:
            conversation = await conversation_of(uow, actor, conversation_id)
            if key is not None:
                first = await uow.messages.by_key(actor.tenant_id, conversation_id, key)
                if first is not None:
                    return await self._again(uow, first, cmd)
        if conversation.status is ConversationStatus.ARCHIVED:
            raise Conflict("the conversation is archived: make it active to post", code="conversation_archived")
        reservation = await self.budgets.reserve(actor, conversation.agent)  # 402 / 429 before any model call
        message = self._message(conversation, Role.USER, cmd.content, MessageStatus.COMPLETE, key=key)
        reply = self._message(conversation, Role.ASSISTANT, "", MessageStatus.STREAMING, reply_to=message.id)
        try:
            async with self.uow() as uow:
                current = await conversation_of(uow, actor, conversation_id)  # renamed or archived meanwhile?
                if current.status is ConversationStatus.ARCHIVED:
                    raise Conflict("the conversation is archived: make it active to post", code="conversation_archived")
                await uow.messages.add(message)
                await uow.messages.add(reply)
                await uow.conversations.update(msgspec.structs.replace(current, updated_at=message.created_at))
                history = await uow.messages.recent(actor.tenant_id, conversation_id, HISTORY)
                await uow.commit()
        except BaseException:
            await self.budgets.settle(reservation, 0, 0)
            raise
        said = [c for m in history if m.status is MessageStatus.COMPLETE and m.id != reply.id for c in _as_chat(m)]

        async def generate(live: LiveAnswer) -> None:
            await self._generate(actor, conversation, message, reply, said, live, Spending(reservation))

        self.board.start(actor.tenant_id, conversation_id, reply.id, generate)
        return Posted(message=message, reply=reply)

    @staticmethod
    async def _again(uow: Any, first: Message, cmd: NewMessage) -> Posted:
        if first.content != cmd.content:
            raise Unprocessable(
                "this Idempotency-Key was already used with a different request", code="idempotency_key_reused"
            )
        reply = await uow.messages.reply_to(first.tenant_id, first.id)
        if reply is None:  # pragma: no cover - a user message is stored with its answer
            raise NotFound("the answer to that message is gone", code="message_not_found")
        return Posted(message=first, reply=reply)

    async def _generate(
        self,
        actor: Principal,
        conversation: Conversation,
        message: Message,
        reply: Message,
        said: list[ChatMessage],
        live: LiveAnswer,
        spending: Spending,
    ) -> None:
        started = self.clock.monotonic()
        recorder = Recorder(self.uow, live)

        async def emit(name: EventName, data: dict[str, Any]) -> None:
            spending.count(name, data)
            await recorder.emit(name, data)
            if name is EventName.APPROVAL_REQUIRED:
                live.awaiting.set()

        final = reply
        extra: tuple[tuple[EventName, Any], ...] = ()
        try:
            await recorder.emit(
                EventName.MESSAGE_START,
                {"message_id": reply.id, "conversation_id": conversation.id, "reply_to": message.id},
            )

            async def approve(call: ToolCall) -> ApprovalStatus:
                try:
                    return await self.gate.ask(reply, call, emit)
                finally:
                    live.awaiting.clear()

            answer = await self.loop.answer(actor, conversation.agent, said, emit, approve)
            spending.settled(answer.usage.completion_tokens, len(answer.tool_calls))
            final = msgspec.structs.replace(
                reply,
                content=answer.content,
                status=MessageStatus.COMPLETE,
                stop_reason=answer.stop_reason,
                tool_calls=answer.tool_calls,
                usage=answer.usage,
            )
        except TesserraError as exc:
            live.error = exc
            final = msgspec.structs.replace(
                reply,
                content="".join(recorder.text),
                status=MessageStatus.FAILED,
                stop_reason=StopReason.ERROR,
                error=exc.message,
                error_code=exc.code,
            )
            extra = ((EventName.ERROR, {"code": exc.code, "message": exc.message}),)
        except asyncio.CancelledError:  # by the user, or by a stopping server
            await recorder.settle()
            status = live.stopping or MessageStatus.INTERRUPTED
            failure = "the answer was cancelled" if status is MessageStatus.CANCELLED else "the server stopped"
            final = msgspec.structs.replace(
                reply, content="".join(recorder.text), status=status, error=failure, error_code=status.value
            )
            extra = ((EventName.ERROR, {"code": status.value, "message": failure}),)
            if live.stopping is None:
                raise
        except Exception:
            log.exception("answer %s failed", reply.id)
            failure = "the answer failed unexpectedly"
            final = msgspec.structs.replace(
                reply,
                content="".join(recorder.text),
                status=MessageStatus.FAILED,
                stop_reason=StopReason.ERROR,
                error=failure,
                error_code="internal_error",
            )
            extra = ((EventName.ERROR, {"code": "internal_error", "message": failure}),)
        finally:
            final = msgspec.structs.replace(final, latency_ms=int((self.clock.monotonic() - started) * 1000))
            try:
                # What it did not spend goes back before anyone sees it end.
                await self.budgets.settle(spending.reservation, spending.tokens, spending.tool_calls)
                await recorder.finish(final, extra)
            finally:
                if not live.ended.done():
                    live.ended.set_result(final)

    def _message(
        self,
        conversation: Conversation,
        role: Role,
        content: str,
        status: MessageStatus,
        *,
        key: str | None = None,
        reply_to: str | None = None,
    ) -> Message:
        return Message(
            id=self.ids.new(),
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.id,
            role=role,
            content=content,
            status=status,
            created_at=self.clock.now(),
            idempotency_key=key,
            reply_to=reply_to,
        )


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Post a message to one of the caller's conversations and get the agent's whole answer. The agent's
    tool calls run as the caller, with the caller's scopes and tier, exactly as the REST calls would. An
    answer that waits for the caller to approve a destructive tool call comes back as it stands, status
    ``pending_approval`` with its ``approval``: decide it, then list the messages or follow the answer.
    Without a model provider: 503 model_unavailable, and the message stays stored (with a failed answer).
    A retry with the same ``Idempotency-Key`` gets the same answer (or the same error) again."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    post: PostMessage
    answers: AwaitAnswer

    async def __call__(
        self, actor: Principal, conversation_id: str, cmd: NewMessage, idempotency_key: str | None = None
    ) -> Exchange:
        posted = await self.post(actor, conversation_id, cmd, idempotency_key)
        reply = await self.answers(posted.reply)
        if reply.status is MessageStatus.FAILED:
            raise _error_of(reply)
        return Exchange(message=MessageView.of(posted.message), reply=reply)


@dataclass(frozen=True, slots=True)
class AwaitAnswer:
    board: AnswerBoard
    uow: UnitOfWorkFactory

    async def __call__(self, reply: Message) -> MessageView:
        """The answer once it has ended, or while it waits for the user's approval of a tool call (the
        stored one if it is not generated here)."""
        live = self.board.running(reply.tenant_id, reply.id)
        while live is not None:
            ended = asyncio.shield(live.ended)  # the caller going away does not stop the answer
            waits: asyncio.Future[Any] = asyncio.ensure_future(live.awaiting.wait())
            try:
                await asyncio.wait([ended, waits], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waits.cancel()
            if ended.done():
                return MessageView.of(ended.result())
            async with self.uow(read_only=True) as uow:
                stored = await uow.messages.get(reply.tenant_id, reply.conversation_id, reply.id)
                if stored is not None and stored.status is MessageStatus.PENDING_APPROVAL:
                    return await view_of(uow, stored)
            await asyncio.sleep(0.01)  # decided meanwhile: the answer goes on
        async with self.uow(read_only=True) as uow:
            stored = await uow.messages.get(reply.tenant_id, reply.conversation_id, reply.id)
            return await view_of(uow, stored or reply)


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """Post a message and follow the answer's events as they come (server-sent events: ``message_start``,
    ``text_delta``, ``tool_call``, ``approval_required``, ``tool_result``, ``usage``, ``error``, ``done``).
    The answer is generated in the server: reconnect with ``GET .../mensagens/{id}/eventos`` and ``Last-Event-ID``."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    post: PostMessage
    board: AnswerBoard

    async def __call__(
        self, actor: Principal, conversation_id: str, cmd: NewMessage, idempotency_key: str | None = None
    ) -> AsyncIterator[StreamEvent]:
        posted = await self.post(actor, conversation_id, cmd, idempotency_key)
        return self.board.follow(actor.tenant_id, conversation_id, posted.reply.id, 0)


@dataclass(frozen=True, slots=True)
class FollowAnswer:
    """An answer's events after ``Last-Event-ID`` (all of them without it): the stored ones exactly as
    they were sent, then the live ones until ``done``."""

    scope: ClassVar[Scope] = Scope.CHAT_READ

    uow: UnitOfWorkFactory
    board: AnswerBoard

    async def __call__(
        self, actor: Principal, conversation_id: str, message_id: str, after: int = 0
    ) -> AsyncIterator[StreamEvent]:
        actor.require(self.scope)
        if after < 0:
            raise ValidationFailed("Last-Event-ID must be a whole number >= 0", code="invalid_last_event_id")
        async with self.uow(read_only=True) as uow:
            await answer_of(uow, actor, conversation_id, message_id)
        return self.board.follow(actor.tenant_id, conversation_id, message_id, after)


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """Stop an answer being generated: the provider's stream is closed and the answer ends ``cancelled``
    with the text streamed so far. An answer that has already ended is returned as it is."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    board: AnswerBoard

    async def __call__(self, actor: Principal, conversation_id: str, message_id: str) -> MessageView:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            message = await answer_of(uow, actor, conversation_id, message_id)
        live = self.board.running(actor.tenant_id, message_id)
        if live is not None:
            message = await self.board.stop(live, MessageStatus.CANCELLED)
        elif message.status in GENERATING:
            raise Conflict("this answer is being generated by another server process", code="answer_elsewhere")
        return MessageView.of(message)


@dataclass(frozen=True, slots=True)
class DeleteConversation:
    """Delete a conversation and its messages; an answer it is generating is cancelled first."""

    scope: ClassVar[Scope] = Scope.CHAT_WRITE

    uow: UnitOfWorkFactory
    board: AnswerBoard

    async def __call__(self, actor: Principal, conversation_id: str) -> None:
        actor.require(self.scope)
        async with self.uow(read_only=True) as uow:
            await conversation_of(uow, actor, conversation_id)
        for live in self.board.of_conversation(actor.tenant_id, conversation_id):
            await self.board.stop(live, MessageStatus.CANCELLED)
        async with self.uow() as uow:
            await conversation_of(uow, actor, conversation_id)
            await uow.conversations.delete(actor.tenant_id, actor.user_id, conversation_id)
            await uow.commit()


@dataclass(frozen=True, slots=True)
class Conversations:
    """/api/conversas and /api/conversas/{id}/mensagens."""

    list: ListConversations
    start: StartConversation
    get: GetConversation
    update: UpdateConversation
    delete: DeleteConversation
    messages: ListMessages
    send: SendMessage
    stream: StreamMessage
    follow: FollowAnswer
    cancel: CancelAnswer
    decide: DecideApproval
    repair: RepairAnswers
    board: AnswerBoard


def conversations(
    p: Ports, *, directory: AgentDirectory, loop: AgentLoop, approval_timeout: float = APPROVAL_TIMEOUT
) -> Conversations:
    board = AnswerBoard(p.uow)
    gate = ApprovalGate(p.uow, p.clock, p.ids, approval_timeout)
    post = PostMessage(p.uow, loop, board, ChatBudgets(p.uow, p.entitlements, p.clock), p.ids, p.clock, gate)
    return Conversations(
        list=ListConversations(p.uow),
        start=StartConversation(p.uow, directory, p.ids, p.clock),
        get=GetConversation(p.uow),
        update=UpdateConversation(p.uow, p.clock),
        delete=DeleteConversation(p.uow, board),
        messages=ListMessages(p.uow),
        send=SendMessage(post, AwaitAnswer(board, p.uow)),
        stream=StreamMessage(post, board),
        follow=FollowAnswer(p.uow, board),
        cancel=CancelAnswer(p.uow, board),
        decide=DecideApproval(p.uow, gate, p.clock),
        repair=RepairAnswers(p.uow, board, p.clock),
        board=board,
    )
