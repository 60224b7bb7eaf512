"""Chat: the caller's conversations (uc.conversations, as /api/conversas), a new one with an agent, and a
conversation's page: its messages (model output is only ever text: Jinja escapes it here, chat.js inserts
streamed text with textContent), a composer, a stop button and the destructive tool calls waiting for the
user's decision.

A post asking for ``text/event-stream`` (chat.js) streams the answer's events exactly as the REST API sends
them (with the same ``event_stream``, tesserra_driver_support's); a plain form post waits for the whole
answer and comes back to the page (without scripts the chat works too, unstreamed). Stop and the decisions
are the REST API's use cases (cancel, decide)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from tesserra_core.domain.conversations import ConversationStatus
from tesserra_core.domain.paging import PageRequest
from tesserra_core.errors import (
    Conflict,
    PaymentRequired,
    RateLimited,
    Unavailable,
    Unprocessable,
    UpstreamFailed,
    ValidationFailed,
)
from tesserra_core.usecases.agents import AgentFilter
from tesserra_core.usecases.chat_approvals import Decision
from tesserra_core.usecases.conversations import ConversationChanges, ConversationFilter, NewConversation, NewMessage
from tesserra_driver_support.event_stream import EVENT_STREAM, event_stream
from tesserra_web.web import Console, Pager, back_to, href, render

AnyRequest = Request[Any, Any, Any]
MESSAGES_PER_PAGE = 50
AGENTS_OFFERED = 200
"""The most agents the new-conversation form lists (the agents page lists them all, page by page)."""
_SEND_FAILED = (Conflict, PaymentRequired, RateLimited, Unavailable, Unprocessable, UpstreamFailed, ValidationFailed)
"""What a post can answer besides an answer: shown on the conversation's page (its 404 excepted)."""
_DECIDE_FAILED = (Conflict, ValidationFailed)


def _status(request: AnyRequest) -> ConversationStatus | None:
    raw = request.query_params.get("status", "")
    if not raw:
        return None
    try:
        return ConversationStatus(raw)
    except ValueError:
        raise ValidationFailed("status is active or archived", code="invalid_status") from None


def _last_event(request: AnyRequest) -> int:
    raw = request.headers.get("last-event-id", "0") or "0"
    if not raw.isdigit() or len(raw) > 18:
        raise ValidationFailed("Last-Event-ID must be a whole number >= 0", code="invalid_last_event_id")
    return int(raw)


def routes(console: Console) -> list[HTTPRouteHandler]:
    return [*_conversation_list(console), *_conversation(console), *_answers(console)]


def _conversation_list(console: Console) -> list[HTTPRouteHandler]:
    async def _list(request: AnyRequest, status: int = 200, error: str | None = None) -> Template:
        session, actor = await console.signed_in(request)
        pager = Pager.of(request)
        shown = _status(request)
        page = await console.uc.conversations.list(actor, pager.request, ConversationFilter(status=shown))
        agents = await console.uc.agents.list(PageRequest(limit=AGENTS_OFFERED), AgentFilter(), actor)
        return render(
            request,
            "chats.html",
            status=status,
            error=error,
            session=session,
            actor=actor,
            page=page,
            pager=pager,
            agents=agents.items,
            chosen=request.query_params.get("agent", ""),
            filters={"status": shown.value if shown else ""},
        )

    @get("/chat")
    async def chats_page(request: AnyRequest) -> Template:
        return await _list(request)

    @post("/chat")
    async def start_conversation(request: AnyRequest) -> Template | Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        body = {"agent_id": str(form.get("agent_id", "")), "title": str(form.get("title", "")).strip() or None}
        try:
            started = await console.uc.conversations.start(actor, msgspec.convert(body, NewConversation))
        except msgspec.ValidationError as exc:
            return await _list(request, 400, f"this conversation cannot be started: {exc}")
        except ValidationFailed as exc:
            return await _list(request, exc.status, exc.message)
        return back_to(href(f"/chat/{started.id}"))

    return [chats_page, start_conversation]


def _conversation(console: Console) -> list[HTTPRouteHandler]:
    @get("/chat/{conversation_id:str}")
    async def conversation_page(request: AnyRequest, conversation_id: FromPath[str]) -> Template:
        return await conversation_view(console, request, conversation_id)

    @post("/chat/{conversation_id:str}/archive")
    async def archive(request: AnyRequest, conversation_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        form = await request.form()
        wanted = ConversationStatus.ARCHIVED if form.get("archived") == "1" else ConversationStatus.ACTIVE
        await console.uc.conversations.update(actor, conversation_id, ConversationChanges(status=wanted))
        return back_to(href(f"/chat/{conversation_id}"))

    @post("/chat/{conversation_id:str}/delete")
    async def delete_conversation(request: AnyRequest, conversation_id: FromPath[str]) -> Redirect:
        _, actor = await console.signed_in(request)
        await console.uc.conversations.delete(actor, conversation_id)
        return back_to(href("/chat"))

    return [conversation_page, archive, delete_conversation]


async def conversation_view(
    console: Console,
    request: AnyRequest,
    conversation_id: str,
    status: int = 200,
    error: str | None = None,
    typed: str = "",
) -> Template:
    """The conversation's page: by default its last page of messages (the newest), ``?page=N`` another."""
    session, actor = await console.signed_in(request)
    conversation = await console.uc.conversations.get(actor, conversation_id)
    asked = "page" in request.query_params
    pager = Pager(Pager.of(request).number if asked else 1, MESSAGES_PER_PAGE)
    page = await console.uc.conversations.messages(actor, conversation_id, pager.request)
    if not asked and pager.pages(page) > 1:
        pager = Pager(pager.pages(page), MESSAGES_PER_PAGE)
        page = await console.uc.conversations.messages(actor, conversation_id, pager.request)
    return render(
        request,
        "conversation.html",
        status=status,
        error=error,
        session=session,
        actor=actor,
        conversation=conversation,
        page=page,
        pager=pager,
        typed=typed,
        filters={},
    )


def _answers(console: Console) -> list[HTTPRouteHandler]:
    @post("/chat/{conversation_id:str}/messages", status_code=201)
    async def send_message(request: AnyRequest, conversation_id: FromPath[str]) -> Response[Any]:
        _, actor = await console.signed_in(request)
        form = await request.form()
        typed = str(form.get("content", ""))
        try:
            cmd = msgspec.convert({"content": typed}, NewMessage)
            if EVENT_STREAM in request.headers.get("accept", ""):
                events = await console.uc.conversations.stream(actor, conversation_id, cmd)
                return event_stream(events, status_code=201)
            await console.uc.conversations.send(actor, conversation_id, cmd)
        except msgspec.ValidationError as exc:
            return await conversation_view(console, request, conversation_id, 400, f"not sent: {exc}", typed)
        except _SEND_FAILED as exc:
            return await conversation_view(console, request, conversation_id, exc.status, exc.message, typed)
        return back_to(href(f"/chat/{conversation_id}"))

    @get("/chat/{conversation_id:str}/messages/{message_id:str}/events")
    async def follow_answer(request: AnyRequest, conversation_id: FromPath[str], message_id: FromPath[str]) -> Stream:
        _, actor = await console.signed_in(request)
        after = _last_event(request)
        return event_stream(await console.uc.conversations.follow(actor, conversation_id, message_id, after))

    @post("/chat/{conversation_id:str}/messages/{message_id:str}/cancel")
    async def cancel_answer(
        request: AnyRequest, conversation_id: FromPath[str], message_id: FromPath[str]
    ) -> Response[Any]:
        _, actor = await console.signed_in(request)
        try:
            await console.uc.conversations.cancel(actor, conversation_id, message_id)
        except Conflict as exc:
            return await conversation_view(console, request, conversation_id, exc.status, exc.message)
        return back_to(href(f"/chat/{conversation_id}"))

    @post("/chat/{conversation_id:str}/messages/{message_id:str}/approvals/{approval_id:str}")
    async def decide_approval(
        request: AnyRequest, conversation_id: FromPath[str], message_id: FromPath[str], approval_id: FromPath[str]
    ) -> Response[Any]:
        _, actor = await console.signed_in(request)
        form = await request.form()
        try:
            decision = msgspec.convert({"decision": str(form.get("decision", ""))}, Decision)
            await console.uc.conversations.decide(actor, conversation_id, message_id, approval_id, decision)
        except msgspec.ValidationError:
            return await conversation_view(console, request, conversation_id, 400, "choose approve or deny")
        except _DECIDE_FAILED as exc:
            return await conversation_view(console, request, conversation_id, exc.status, exc.message)
        return back_to(href(f"/chat/{conversation_id}"))

    return [send_message, follow_answer, cancel_answer, decide_approval]
