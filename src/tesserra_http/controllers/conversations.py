"""/api/conversas and their /mensagens: the caller's own conversations with agents."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, patch, post
from litestar.params import FromPath, JSONBody, QueryParameter

from tesserra_core.domain.conversations import ConversationStatus
from tesserra_core.domain.paging import Page
from tesserra_core.facade import UseCases
from tesserra_core.usecases.conversations import (
    ConversationChanges,
    ConversationFilter,
    ConversationView,
    DeleteConversation,
    Exchange,
    GetConversation,
    ListConversations,
    ListMessages,
    MessageView,
    NewConversation,
    NewMessage,
    SendMessage,
    StartConversation,
    UpdateConversation,
)
from tesserra_http.conventions import declare
from tesserra_http.dependencies import Caller, Paging


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

    @post(
        "/{conversation_id:str}/mensagens",
        status_code=201,
        **declare(uses=SendMessage, idempotent=True, errors=(400, 403, 404, 409, 502, 503)),
    )
    async def send_message(conversation_id: FromPath[str], data: JSONBody[NewMessage], request: Caller) -> Exchange:
        return await uc.conversations.send(request.user, conversation_id, data)

    handlers = [
        list_conversations,
        start_conversation,
        get_conversation,
        update_conversation,
        delete_conversation,
        list_messages,
        send_message,
    ]
    return Router("/api/conversas", tags=["Chat"], route_handlers=handlers)
