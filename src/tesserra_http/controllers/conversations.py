"""/api/conversas and their /mensagens: the caller's own conversations with agents."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, Router, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from tesserra_core.domain.conversations import ConversationStatus
from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.chat_approvals import DecideApproval, Decision
from tesserra_core.usecases.conversations import (
    ApprovalView,
    ConversationChanges,
    ConversationFilter,
    ConversationView,
    Exchange,
    GetConversation,
    ListConversations,
    ListMessages,
    MessageView,
    NewConversation,
    NewMessage,
    StartConversation,
    UpdateConversation,
)
from tesserra_core.usecases.conversations_answers import (
    CancelAnswer,
    DeleteConversation,
    FollowAnswer,
    SendMessage,
    StreamMessage,
)
from tesserra_driver_support.event_stream import EVENT_STREAM, event_stream
from tesserra_http.conventions import IdempotencyKey, declare
from tesserra_http.dependencies import Caller, Paging
from tesserra_http.event_stream import EVENTS_TEXT, event_stream_spec


def routes(uc: UseCases) -> Router:
    @get("/", **declare(uses=ListConversations, errors=(400, 403)))
    async def list_conversations(
        request: Caller,
        page: Paging,
        status: Annotated[ConversationStatus | None, QueryParameter(description="Only those in this status.")] = None,
    ) -> Page[ConversationView]:
        return await uc.conversations.list(request.user, page, ConversationFilter(status=status))

    @post("/", status_code=201, **declare(uses=StartConversation, idempotent=True, errors=(400, 403, 404)))
    async def start_conversation(data: JSONBody[NewConversation], request: Caller) -> ConversationView:
        return await uc.conversations.start(request.user, data)

    @get("/{conversation_id:str}", **declare(uses=GetConversation, errors=(403, 404)))
    async def get_conversation(conversation_id: FromPath[str], request: Caller) -> ConversationView:
        return await uc.conversations.get(request.user, conversation_id)

    @patch("/{conversation_id:str}", **declare(uses=UpdateConversation, errors=(400, 403, 404)))
    async def update_conversation(
        conversation_id: FromPath[str], data: JSONBody[ConversationChanges], request: Caller
    ) -> ConversationView:
        return await uc.conversations.update(request.user, conversation_id, data)

    @delete("/{conversation_id:str}", status_code=204, **declare(uses=DeleteConversation, errors=(403, 404)))
    async def delete_conversation(conversation_id: FromPath[str], request: Caller) -> None:
        await uc.conversations.delete(request.user, conversation_id)

    @get("/{conversation_id:str}/mensagens", **declare(uses=ListMessages, errors=(400, 403, 404)))
    async def list_messages(conversation_id: FromPath[str], request: Caller, page: Paging) -> Page[MessageView]:
        return await uc.conversations.messages(request.user, conversation_id, page)

    send = declare(
        uses=SendMessage,
        negotiates=(StreamMessage,),
        idempotent=True,
        errors=(400, 403, 404, 409, 502, 503),
        description=f"With `Accept: {EVENT_STREAM}` the answer streams (201, {EVENT_STREAM}):\n\n{EVENTS_TEXT}",
    )
    send["responses"][201] = ResponseSpec(
        data_container=Exchange, description="The message and the whole answer (or, streamed, its events)."
    )

    @post("/{conversation_id:str}/mensagens", status_code=201, **send)
    async def send_message(
        conversation_id: FromPath[str], data: JSONBody[NewMessage], request: Caller, idempotency_key: IdempotencyKey
    ) -> Response[Any]:
        if EVENT_STREAM in request.headers.get("accept", ""):
            events = await uc.conversations.stream(request.user, conversation_id, data, idempotency_key)
            return event_stream(events, status_code=201)
        exchange = await uc.conversations.send(request.user, conversation_id, data, idempotency_key)
        return Response(exchange, status_code=201)

    follow = declare(uses=FollowAnswer, errors=(400, 403, 404))
    follow["responses"][200] = event_stream_spec(EVENTS_TEXT)

    @get("/{conversation_id:str}/mensagens/{message_id:str}/eventos", **follow)
    async def follow_answer(
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        request: Caller,
        last_event_id: Annotated[
            int | None,
            HeaderParameter(name="Last-Event-ID", required=False, ge=0, description="The last event seen."),
        ] = None,
    ) -> Response[Any]:
        events = await uc.conversations.follow(request.user, conversation_id, message_id, last_event_id or 0)
        return event_stream(events)

    @post(
        "/{conversation_id:str}/mensagens/{message_id:str}/cancel",
        status_code=200,
        **declare(uses=CancelAnswer, errors=(403, 404, 409)),
    )
    async def cancel_answer(conversation_id: FromPath[str], message_id: FromPath[str], request: Caller) -> MessageView:
        return await uc.conversations.cancel(request.user, conversation_id, message_id)

    @post(
        "/{conversation_id:str}/mensagens/{message_id:str}/aprovacoes/{approval_id:str}",
        status_code=200,
        **declare(uses=DecideApproval, errors=(400, 403, 404, 409)),
    )
    async def decide_approval(
        conversation_id: FromPath[str],
        message_id: FromPath[str],
        approval_id: FromPath[str],
        data: JSONBody[Decision],
        request: Caller,
    ) -> ApprovalView:
        return await uc.conversations.decide(request.user, conversation_id, message_id, approval_id, data)

    handlers = [
        list_conversations,
        start_conversation,
        get_conversation,
        update_conversation,
        delete_conversation,
        list_messages,
        send_message,
        follow_answer,
        cancel_answer,
        decide_approval,
    ]
    return Router("/api/conversas", tags=["Chat"], route_handlers=handlers)
